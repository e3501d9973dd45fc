"""The UKSSDC XRT product client as a :class:`~autotoo.pipeline.ports.XrtPort`."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from autotoo.logs import get_logger
from autotoo.pipeline.ports import (
    RejectionKind,
    RemoteAmbiguousError,
    RemoteError,
    RemoteNotSentError,
    RemoteRejectedError,
    XrtProgress,
)
from autotoo.ukssdc.client import UkssdcClient
from autotoo.xrtrequest.errors import NotSentError, RequestError, UkssdcError
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


Translate = Callable[[Any, str], RemoteError]


def _ambiguous(exc: UkssdcError, what: str) -> RemoteError:
    return RemoteAmbiguousError(f"{what}: {exc}")


# The client's errors as the port's; the first class that matches decides (most specific
# first). A request the builder refuses was never sent: the rule's request is invalid.
ERRORS: tuple[tuple[type[UkssdcError], Translate], ...] = (
    (
        RequestError,
        lambda exc, _: RemoteRejectedError(
            f"invalid XRT request: {exc}", kind=RejectionKind.INVALID
        ),
    ),
    (NotSentError, lambda exc, what: RemoteNotSentError(f"{what}: {exc}")),
    (UkssdcError, _ambiguous),
)


@contextlib.contextmanager
def translated(what: str, *, sending: Callable[[], dict[str, Any]] | None = None) -> Iterator[None]:
    """The client's errors raised inside as the port's (``from`` the original), by
    :data:`ERRORS`. ``sending``: the call may create a job, and this gives the request for
    the log when its outcome is unknown. Without it the call only reads, which is always
    safe to repeat: any failure is a failed read (ambiguous)."""
    try:
        yield
    except UkssdcError as exc:
        if sending is None:
            raise _ambiguous(exc, what) from exc
        error = next(fn for cls, fn in ERRORS if isinstance(exc, cls))(exc, what)
        if isinstance(error, RemoteAmbiguousError):
            # The request it answered goes in the log (the user id is an e-mail, not a secret).
            log.warning("ambiguous reply from the UKSSDC", error=str(exc), **sending())
        raise error from exc


class UkssdcXrtAdapter:
    def __init__(self, client: UkssdcClient) -> None:
        self.client = client

    def build(self, request: dict[str, Any], *, name: str) -> XrtRequest:
        """The client's request for a job; ``RequestError`` (nothing sent) if it is not one."""
        xrt = XrtRequest(self.client.user_id)
        try:
            xrt.set_globals(**{**request.get("globals", {}), "name": name})
            for what, pars in request.get("products", {}).items():
                xrt.add_product(what, **pars)
        except RequestError:
            raise
        except (ValueError, TypeError) as exc:  # e.g. a value the builder could not convert
            raise RequestError(str(exc)) from exc
        return xrt

    async def submit(self, request: dict[str, Any], *, name: str) -> tuple[str, str | None]:
        built: list[XrtRequest] = []
        with translated("submit", sending=lambda: {"name": name, "request": built[0].to_json()}):
            built.append(self.build(request, name=name))
            # update_pars=False: the request object is dropped after this call, so copying the
            # server's jobPars back into it would be wasted work.
            result = await self.client.submit(built[0], update_pars=False)
        if not result.ok or result.job_id is None:
            text = result.submit_error or "rejected"
            words = text.lower()
            no_data = any(w in words for w in _NO_DATA_WORDS)
            raise RemoteRejectedError(
                text, kind=RejectionKind.NO_DATA if no_data else RejectionKind.INVALID
            )
        return str(result.job_id), result.url

    async def find(self, name: str) -> str | None:
        with translated("listOldJobs"):
            jobs = await self.client.find_jobs(name)
        return str(jobs[0].job_id) if jobs else None

    async def progress(self, job_id: str, products: tuple[str, ...]) -> XrtProgress:
        with translated(f"status of job {job_id}"):
            status = await self.client.status(int(job_id), products)
        return XrtProgress(
            codes={name: p.code for name, p in status.products.items()},
            terminal=status.complete,
            succeeded=tuple(name for name, p in status.products.items() if p.succeeded),
            no_data=status.no_data,
        )

    async def retrieve(self, job_id: str, products: tuple[str, ...]) -> dict[str, Any]:
        job = int(job_id)
        out: dict[str, Any] = {}
        with translated(f"results of job {job_id}"):
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
        return out

    async def cancel(self, job_id: str, products: tuple[str, ...]) -> None:
        with translated(f"cancel job {job_id}"):
            await self.client.cancel(int(job_id), products)

    async def active_jobs(self) -> int:
        with translated("getNumJobs"):
            return await self.client.count_active_jobs()
