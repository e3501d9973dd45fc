"""The UKSSDC XRT product client as a :class:`~autotoo.pipeline.ports.XrtPort`."""

from __future__ import annotations

from typing import Any

from autotoo.logs import get_logger
from autotoo.pipeline.ports import (
    RemoteAmbiguousError,
    RemoteError,
    RemoteNotSentError,
    RemoteRejectedError,
    XrtProgress,
)
from autotoo.ukssdc.client import UkssdcClient
from autotoo.xrtrequest.errors import AmbiguousError, NotSentError, RequestError, UkssdcError
from autotoo.xrtrequest.params import product
from autotoo.xrtrequest.request import XrtRequest

log = get_logger("autotoo.adapters.ukssdc")

_POSITIONS = {
    "psf": "position_standard",
    "enh": "position_enhanced",
    "xastrom": "position_astrometric",
}
# Rejections that mean "nothing observed there (yet)": retried while the rule allows.
_NO_DATA_WORDS = (
    "no data",
    "no observations",
    "no swift data",
    "could not find any",
    "no targetids could be found",
)


def _read_error(exc: UkssdcError, what: str) -> RemoteError:
    """Reads are always safe to repeat: any failure is just a failed poll."""
    return RemoteAmbiguousError(f"{what}: {exc}")


class UkssdcXrtAdapter:
    def __init__(self, client: UkssdcClient) -> None:
        self.client = client

    def build(self, request: dict[str, Any], *, name: str) -> XrtRequest:
        xrt = XrtRequest(self.client.user_id)
        xrt.set_globals(**{**request.get("globals", {}), "name": name})
        for what, pars in request.get("products", {}).items():
            xrt.add_product(what, **pars)
        return xrt

    async def submit(self, request: dict[str, Any], *, name: str) -> tuple[str, str | None]:
        try:
            xrt = self.build(request, name=name)
        except (RequestError, ValueError, TypeError) as exc:
            raise RemoteRejectedError(f"invalid XRT request: {exc}", kind="invalid") from exc
        try:
            # update_pars=False: the request object is dropped after this call, so copying the
            # server's jobPars back into it would be wasted work.
            result = await self.client.submit(xrt, update_pars=False)
        except NotSentError as exc:
            raise RemoteNotSentError(f"submit: {exc}") from exc
        except (AmbiguousError, UkssdcError) as exc:
            # The request it answered goes in the log (the user id is an e-mail, not a secret).
            log.warning(
                "ambiguous reply from the UKSSDC", error=str(exc), name=name, request=xrt.to_json()
            )
            raise RemoteAmbiguousError(f"submit: {exc}") from exc
        if not result.ok or result.job_id is None:
            text = result.submit_error or "rejected"
            kind = "no_data" if any(w in text.lower() for w in _NO_DATA_WORDS) else "invalid"
            raise RemoteRejectedError(text, kind=kind)
        return str(result.job_id), result.url

    async def find(self, name: str) -> str | None:
        try:
            jobs = await self.client.find_jobs(name)
        except UkssdcError as exc:
            raise _read_error(exc, "listOldJobs") from exc
        return str(jobs[0].job_id) if jobs else None

    async def progress(self, job_id: str, products: tuple[str, ...]) -> XrtProgress:
        try:
            status = await self.client.status(int(job_id), products)
        except UkssdcError as exc:
            raise _read_error(exc, f"status of job {job_id}") from exc
        return XrtProgress(
            codes={name: p.code for name, p in status.products.items()},
            terminal=status.complete,
            succeeded=tuple(name for name, p in status.products.items() if p.succeeded),
            no_data=status.no_data,
        )

    async def retrieve(self, job_id: str, products: tuple[str, ...]) -> dict[str, Any]:
        job = int(job_id)
        out: dict[str, Any] = {}
        try:
            for what in products:
                short = product(what).short
                if short in _POSITIONS:
                    reader = {
                        "psf": self.client.standard_position,
                        "enh": self.client.enhanced_position,
                        "xastrom": self.client.astrometric_position,
                    }[short]
                    pos = await reader(job)
                    out[_POSITIONS[short]] = (
                        {
                            "ra": pos.ra,
                            "dec": pos.dec,
                            "err90_arcsec": pos.err90_arcsec,
                            "from_sxps": pos.from_sxps,
                        }
                        if pos.got_pos
                        else {"got_pos": False, "reason": pos.reason}
                    )
                elif short == "lc":
                    lc = await self.client.light_curve(job)
                    out["lightcurve"] = {
                        "datasets": {
                            n: {"columns": d.columns, "rows": d.rows}
                            for n, d in lc.datasets.items()
                        },
                        "meta": lc.meta,
                    }
                elif short == "spec":
                    out["spectrum"] = (await self.client.spectral_fits(job)).raw
                elif short == "sourceDet":
                    out["sourcelist"] = await self.client.source_list(job)
        except UkssdcError as exc:
            raise _read_error(exc, f"results of job {job_id}") from exc
        return out

    async def cancel(self, job_id: str, products: tuple[str, ...]) -> None:
        try:
            await self.client.cancel(int(job_id), products)
        except UkssdcError as exc:
            raise _read_error(exc, f"cancel job {job_id}") from exc

    async def active_jobs(self) -> int:
        try:
            return await self.client.count_active_jobs()
        except UkssdcError as exc:
            raise _read_error(exc, "getNumJobs") from exc
