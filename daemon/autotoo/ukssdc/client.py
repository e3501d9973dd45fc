"""Async client of the UKSSDC XRT product generator (the wire protocol of swifttools' xrt_prods).

Every call is a POST with a JSON body carrying ``UserID``, ``api_name`` and ``api_version``;
replies are JSON labelled ``text/html``, so they are decoded from the text. The client owns no
policy: polling cadence, the active-job cap and retries live in :mod:`autotoo.ukssdc.poller`
and the pipeline.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any, Final, TypeVar

import aiohttp
from pydantic import BaseModel, ValidationError

from autotoo import sendwindow
from autotoo.retry_after import wait_before_retry
from autotoo.ukssdc import wire
from autotoo.ukssdc.results import (
    NOT_REPORTED,
    CancelOutcome,
    CancelResult,
    Dataset,
    Download,
    JobStatus,
    LightCurve,
    OldJob,
    OldJobCopy,
    Position,
    ProductStatus,
    SpectralFits,
    SubmitResult,
)
from autotoo.xrtrequest.errors import (
    AmbiguousError,
    BadReplyError,
    ErrorList,
    NotSentError,
    ProductError,
    RejectedError,
    TransportError,
)
from autotoo.xrtrequest.params import API_NAME, API_VERSION, GLOBALS, product
from autotoo.xrtrequest.request import SubmittedJob, XrtRequest

DEFAULT_BASE_URL: Final = "https://www.swift.ac.uk/user_objects"
BAD_STRUCTURE: Final = (
    "The server return does not confirm to the expected JSON structure; "
    "do you need do update this module?"
)
_LONG_NAMES: Final = ("LightCurve", "Spectrum", "StandardPos", "EnhancedPos", "AstromPos", "Image")
ModelT = TypeVar("ModelT", bound=BaseModel)


def format_rejection(error: str, list_err: Iterable[ErrorList], products: Iterable[str]) -> str:
    """The reference client's error text: JSON names become Python names, word by word."""
    renames = {p.json: p.name for p in GLOBALS if p.json != p.name}
    prod_renames: dict[str, str] = {}
    for short in products:
        prod = product(short)
        for par in prod.pars:
            if par.json != par.name:
                prod_renames[par.json] = f"{prod.long}: {par.name}"

    def fix(text: str) -> str:
        out = ""
        for word in text.split(" "):
            match = re.search(r"([^\w]+)$", word)
            extra = match.group(1) if match else ""
            bare = word[: len(word) - len(extra)]
            bare = renames.get(bare, prod_renames.get(bare, bare))
            out += bare + extra + " "
        return out

    text = fix(error) + "\n"
    for entry in list_err:
        text += fix(entry.label) + "\n"
        text += "".join(fix(f"* {item}\n") for item in entry.items)
    return text


Reply = tuple[int, str | None, str, dict[str, str]]  # status, reason, body text, headers


async def answered(
    post_once: Callable[[], Awaitable[Reply]], *, budget_s: float, idempotent: bool
) -> str:
    """The body text of a 200 reply, sending again only after a 429/503 that names when to
    come back (retry_after.py); any other status raises by the taxonomy in errors.py: a 5xx
    to a request that is not idempotent may have acted (ambiguous), anything else was not
    acted on. Shared by the products API and the rebinning API, which differ only in the
    request they send."""
    sends = 0
    while True:
        status, reason, text, retry = await post_once()
        sends += 1
        wait = wait_before_retry(status, retry, attempt=sends, budget_s=budget_s)
        if wait is None:
            break
        await asyncio.sleep(wait)
    if status != 200:
        message = f"An HTTP error occured - HTTP return code {status}: {reason}"
        if status >= 500 and not idempotent:
            raise AmbiguousError(message)
        raise (TransportError if idempotent else NotSentError)(message)
    return text


class UkssdcClient:
    """One registered user's view of the service. Reuse one instance (and session) per daemon."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        user_id: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 60.0,
        download_timeout: float = 600.0,
    ) -> None:
        self._session = session
        self.user_id = user_id
        self.base_url = base_url.rstrip("/")
        self._timeout = timeout
        self._download_timeout = download_timeout

    def __repr__(self) -> str:  # the user id is personal data: keep it out of logs
        return f"UkssdcClient(base_url={self.base_url!r})"

    # ---- transport -------------------------------------------------------------------------
    async def _post(self, path: str, fields: dict[str, Any], *, idempotent: bool = True) -> Any:
        """POST and decode; raise by the taxonomy in errors.py. Returns the decoded dict."""
        body = {"UserID": self.user_id, **fields, "api_name": API_NAME, "api_version": API_VERSION}
        url = f"{self.base_url}/{path}"
        text = await answered(
            partial(self._post_once, url, body, idempotent=idempotent),
            budget_s=self._timeout,
            idempotent=idempotent,
        )
        return _decode(text)

    async def _post_once(
        self, url: str, body: dict[str, Any], *, idempotent: bool
    ) -> tuple[int, str | None, str, dict[str, str]]:
        if not idempotent and sendwindow.closed():
            raise NotSentError(f"POST {url}: {sendwindow.REASON}")
        try:
            async with asyncio.timeout(self._timeout):
                async with self._session.post(url, json=body) as resp:
                    status, reason = resp.status, resp.reason
                    text = await resp.text()
                    value = resp.headers.get("Retry-After")
        except aiohttp.ClientConnectorError as exc:
            # Refused/unresolvable: the request never left this host.
            raise NotSentError(f"Could not connect to {url}: {exc.strerror or exc}") from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            kind = "timed out" if isinstance(exc, TimeoutError) else f"failed ({exc})"
            message = f"POST {url} {kind} after the request was sent"
            raise (TransportError if idempotent else AmbiguousError)(message) from exc
        return status, reason, text, ({} if value is None else {"Retry-After": value})

    async def _call(
        self,
        path: str,
        fields: dict[str, Any],
        model: type[ModelT],
        *,
        idempotent: bool = True,
        products: Iterable[str] = (),
    ) -> tuple[ModelT, dict[str, Any]]:
        data = await self._post(path, fields, idempotent=idempotent)
        try:
            envelope = wire.Envelope.model_validate(data)
        except ValidationError as exc:
            raise BadReplyError(BAD_STRUCTURE) from exc
        if envelope.ok == 0:
            if envelope.error is None:
                raise BadReplyError(BAD_STRUCTURE)
            list_err = tuple(ErrorList(e.label, tuple(e.items)) for e in envelope.list_err)
            text = format_rejection(envelope.error, list_err, products)
            raise RejectedError(envelope.error, list_err, text)
        try:
            return model.model_validate(data), data
        except ValidationError as exc:
            missing = sorted({str(e["loc"][0]) for e in exc.errors() if e["type"] == "missing"})
            raise BadReplyError(
                f"{path}: reply is missing {', '.join(missing)}" if missing else f"{path}: {exc}"
            ) from exc

    # ---- submit ----------------------------------------------------------------------------
    async def submit(self, request: XrtRequest, *, update_pars: bool = True) -> SubmitResult:
        """Submit once. Definite outcomes are returned; unknown ones raise.

        Returns ``ok=False`` with ``submit_error`` when the request is not ready (nothing sent)
        or the server rejected it. Raises NotSentError (safe to retry), AmbiguousError (may
        have been accepted: reconcile with :meth:`find_jobs` before resubmitting) or
        BadReplyError.
        """
        if request.submitted:
            raise ProductError("Cannot submit a request that has already been submitted.")
        ok, report = request.is_valid()
        if not ok:
            return SubmitResult(
                ok=False, submit_error="The request is not ready to submit:\n\n" + report
            )
        if request.user_id != self.user_id:
            raise ProductError("The request was built for a different UserID than this client's")
        try:
            reply, _ = await self._call(
                "run_userobject.php",
                request.to_json(),
                wire.SubmitReply,
                idempotent=False,
                products=request.products,
            )
        except RejectedError as exc:
            return SubmitResult(ok=False, submit_error=exc.text)
        request.mark_submitted(
            SubmittedJob(reply.job_id, reply.url, reply.job_pars), update_pars=update_pars
        )
        return SubmitResult(
            ok=True,
            job_id=reply.job_id,
            url=reply.url,
            job_pars=reply.job_pars,
            update_warning=request.update_warning,
        )

    # ---- status and cancel -----------------------------------------------------------------
    async def status(self, job_id: int, products: Iterable[str]) -> JobStatus:
        shorts = [product(p).short for p in products]
        what = ",".join(shorts)
        _, data = await self._call(
            "checkProductStatus.php",
            {"JobID": job_id, "what": what, "whatProg": what},
            wire.Envelope,
        )
        out: dict[str, ProductStatus] = {}
        for short in shorts:
            if short not in data:
                out[short] = ProductStatus(NOT_REPORTED, "The server did not return the status")
                continue
            try:
                entry = wire.ProductStatusWire.model_validate(data[short])
            except ValidationError as exc:
                raise BadReplyError(f"status of {short}: {exc}") from exc
            code = NOT_REPORTED if entry.status_code is None else entry.status_code
            progress = (
                progress_text(entry.progress)
                if entry.progress.got_progress == 1
                else "No progress information available"
            )
            out[short] = ProductStatus(code, entry.status_text, progress)
        return JobStatus(int(job_id), out)

    async def cancel(self, job_id: int, products: Iterable[str]) -> CancelResult:
        """Cancel products; a lost reply is ambiguous (the job may already be cancelled)."""
        shorts = [product(p).short for p in products]
        reply, _ = await self._call(
            "canceljob.php",
            {"JobID": job_id, "what": ",".join(shorts)},
            wire.CancelReply,
            idempotent=False,
        )
        missing = [s for s in shorts if s not in reply.status or s not in reply.status_codes]
        if missing:
            raise BadReplyError(f"cancel reply lacks {', '.join(missing)}")
        return CancelResult(
            reply.ok,
            {s: CancelOutcome(reply.status_codes[s], reply.status[s]) for s in shorts},
        )

    # ---- products --------------------------------------------------------------------------
    async def _position(self, path: str, job_id: int) -> Position:
        reply, _ = await self._call(path, {"JobID": job_id}, wire.PositionReply)
        if not reply.got_pos:
            return Position(got_pos=False, reason="No position could be determined.")
        return Position(
            got_pos=True,
            ra=reply.ra,
            dec=reply.dec,
            err90_arcsec=reply.err90,
            from_sxps=bool(reply.from_sxps),
            which_sxps=reply.which_sxps,
        )

    async def position(self, job_id: int, what: str) -> Position:
        """Any of the three positions by product name (``psf``/``StandardPos``, ``enh``...)."""
        paths = {
            "psf": "tprods/getPSFPos.php",
            "enh": "tprods/getEnhPos.php",
            "xastrom": "tprods/getAstromPos.php",
        }
        short = product(what).short
        if short not in paths:
            raise ProductError(f"{what} is not a position product")
        return await self._position(paths[short], job_id)

    async def standard_position(self, job_id: int) -> Position:
        return await self._position("tprods/getPSFPos.php", job_id)

    async def enhanced_position(self, job_id: int) -> Position:
        return await self._position("tprods/getEnhPos.php", job_id)

    async def astrometric_position(self, job_id: int) -> Position:
        return await self._position("tprods/getAstromPos.php", job_id)

    async def light_curve(
        self, job_id: int, *, nosys: str = "no", incbad: str = "no"
    ) -> LightCurve:
        """``nosys``/``incbad``: "yes", "no" or "both" (both variants of every dataset)."""
        reply, data = await self._call(
            "tprods/getLCData.php",
            {"JobID": job_id, "nosys": nosys, "incbad": incbad},
            wire.LightCurveReply,
        )
        return light_curve_from(reply, data)

    async def spectral_fits(self, job_id: int) -> SpectralFits:
        _, data = await self._call("tprods/getSpecData.php", {"JobID": job_id}, wire.Envelope)
        return SpectralFits({k: v for k, v in data.items() if k not in ("OK", "APIVersion")})

    async def source_list(self, job_id: int) -> dict[str, list[dict[str, str | int | float]]]:
        """Band -> sources; numeric-looking strings become numbers, as in the reference client."""
        _, data = await self._call(
            "tprods/getSourceDetResults.php", {"JobID": job_id}, wire.Envelope
        )
        bands: dict[str, list[dict[str, str | int | float]]] = {}
        for band, sources in data.items():
            if band in ("OK", "APIVersion"):
                continue
            if not isinstance(sources, list):
                raise BadReplyError(f"source list band {band} is not a list")
            bands[band] = [{k: _number(str(v)) for k, v in src.items()} for src in sources]
        return bands

    async def download(
        self,
        url: str,
        what: str,
        dest_dir: Path,
        *,
        fmt: str = "tar.gz",
        prefix: str = "",
        clobber: bool = False,
    ) -> Download:
        """Fetch ``{url}/{stem}.{fmt}`` into ``dest_dir`` (written to a temp file, then renamed)."""
        if fmt not in ("zip", "tar", "tar.gz"):
            raise ProductError(f"{fmt} is not a valid format. Options are: zip, tar, tar.gz")
        stem = "all" if what == "all" else product(what).stem
        target = _prepare_target(dest_dir / f"{prefix}{stem}.{fmt}", clobber=clobber)
        get_url = f"{url.rstrip('/')}/{stem}.{fmt}"
        partial = target.with_name(target.name + ".part")
        try:
            async with asyncio.timeout(self._download_timeout):
                async with self._session.get(get_url, allow_redirects=True) as resp:
                    if resp.status != 200:
                        raise TransportError(
                            f"Unable to download the product from {get_url}, "
                            f"HTTP return code {resp.status}: {resp.reason}"
                        )
                    size = await _stream_to(resp, partial)
        except aiohttp.ClientConnectorError as exc:
            raise NotSentError(f"Could not connect to {get_url}: {exc}") from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            partial.unlink(missing_ok=True)
            raise TransportError(f"Download of {get_url} failed: {exc!r}") from exc
        partial.replace(target)
        return Download(product(what).short if what != "all" else "all", target, size)

    # ---- jobs of this user -----------------------------------------------------------------
    async def list_old_jobs(self) -> list[OldJob]:
        """All jobs of this user, most recent first."""
        reply, _ = await self._call("listOldJobs.php", {}, wire.OldJobsReply)
        return [
            OldJob(
                j.job_id,
                j.name,
                j.date_submitted,
                {
                    n: bool((j.model_extra or {}).get(n))
                    for n in (*_LONG_NAMES, "SourceDet")
                    if (j.model_extra or {}).get(n) is not None
                },
                j.has_prod,
            )
            for j in reply.jobs
        ]

    async def find_jobs(self, name: str) -> list[OldJob]:
        """Jobs with exactly this name: reconciliation after an ambiguous submit.

        A job found this way has no URL in the listing; :meth:`copy_old_job` gives it.
        """
        return [j for j in await self.list_old_jobs() if j.name == name]

    async def count_active_jobs(self) -> int:
        reply, _ = await self._call("getNumJobs.php", {}, wire.NumJobsReply)
        return reply.num_jobs

    async def copy_old_job(self, job_id: int) -> tuple[OldJobCopy, XrtRequest]:
        """An old job's parameters, and a new request built from them (ready to resubmit)."""
        reply, _ = await self._call(
            "getOldProduct.php", {"oldJob": int(job_id)}, wire.OldProductReply
        )
        request = XrtRequest.from_json(self.user_id, reply.job_pars, from_server=True)
        return OldJobCopy(int(job_id), reply.url, reply.job_pars), request


def _decode(text: str) -> Any:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadReplyError(f"reply is not JSON: {text[:80]!r}") from exc
    if not isinstance(data, dict) or "OK" not in data or "APIVersion" not in data:
        raise BadReplyError(BAD_STRUCTURE)
    return data


def _prepare_target(target: Path, *, clobber: bool) -> Path:
    """Local checks before a download (fast local disk calls, fine on the loop)."""
    if target.exists() and not clobber:
        raise ProductError(f"(Can't save {target} as it exists and clobber=False")
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


async def _stream_to(resp: aiohttp.ClientResponse, path: Path) -> int:
    size = 0
    with path.open("wb") as out:  # local disk writes are short; the network read is the wait
        async for chunk in resp.content.iter_chunked(1 << 16):
            out.write(chunk)
            size += len(chunk)
    return size


def _number(value: str) -> str | int | float:
    if not re.search(r"\d", value):
        return value
    try:
        return float(value) if "." in value or "e" in value.lower() else int(value)
    except ValueError:
        return value


def light_curve_from(reply: wire.LightCurveReply, data: dict[str, Any]) -> LightCurve:
    """A light-curve reply (``Datasets`` plus one ``<name>Data`` table each) as a result."""
    datasets: dict[str, Dataset] = {}
    for name in reply.datasets:
        try:
            ds = wire.DatasetWire.model_validate(data[f"{name}Data"])
        except (KeyError, ValidationError) as exc:
            raise BadReplyError(f"Expected to find `{name}` data, but it is not present.") from exc
        if any(len(row) != len(ds.columns) for row in ds.data):
            raise BadReplyError(f"Unable to handle the {name}Data light curve, corrupt data?")
        datasets[name] = Dataset(ds.columns, [_lc_row(ds.columns, r) for r in ds.data], ds.url)
    skip = {"OK", "APIVersion", "Datasets", *(f"{n}Data" for n in reply.datasets)}
    return LightCurve(datasets, {k: v for k, v in data.items() if k not in skip})


def _lc_row(columns: list[str], row: list[Any]) -> list[float | str]:
    out: list[float | str] = []
    for col, cell in zip(columns, row, strict=True):
        if col == "ObsID":
            out.append(f"{int(float(str(cell).replace('::ObsID=', ''))):011d}")
        elif col == "URL":
            out.append(str(cell))
        else:
            out.append(float(cell))
    return out


def progress_text(progress: wire.Progress) -> str:
    """The reference client's rendering of a progress tree."""

    def steps(items: list[dict[str, Any]], prefix: str) -> str:
        text = ""
        for step in items:
            active = step.get("StepStatus") == 1
            text += prefix + ("** " if active else "") + str(step.get("StepLabel", ""))
            if active:
                extra = f" -- {step['StepExtra']}" if "StepExtra" in step else ""
                text += f" - ACTIVE{extra}**"
            elif step.get("StepStatus") == 2:
                text += " - DONE"
            text += "\n" + steps(step.get("SubStep", []), "  " + prefix)
        return text

    text = f"{progress.pre_progress}\n" if progress.pre_progress is not None else ""
    text += steps(progress.steps, "  ")
    if progress.time_running is not None:
        text += f"\nThe job has been running for {progress.time_running}\n"
    return text
