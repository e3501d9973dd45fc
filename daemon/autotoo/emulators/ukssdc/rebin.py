"""The UKSSDC's newer API at ``/API/main.php``, as far as light-curve rebinning needs it.

swifttools' ``XRTProductRequest.rebinLightCurve()`` and its ``data.GRB`` cousins post JSON
``{"APIFunc": <function>, "APIVersion": "1.0.5", ...}`` to one URL (no ``UserID``: a rebin is
addressed by the product job it rebins). Replies carry ``OK`` and ``APIVersion``; a failure
carries ``ERROR`` (a short code) and ``ERRORTEXT`` instead of ``OK``. Functions:

- ``rebinLightCurve``: ``type`` "UOB_LC", ``objectID`` the product job, ``binMeth`` plus any
  light-curve parameters under their Python names (``pcBinTime``, ``minEnergy``...). The job's
  light curve must be complete. Answers ``JobID``: the rebin's own ID (from 900001, so it is
  never mistaken for a product job).
- ``checkRebinStatus``: ``JobID`` -> ``status`` (the product codes: 1, 2, 3, 4, -4) and ``text``.
- ``cancelRebin``: ``JobID`` -> ``OK`` while the rebin is unfinished, else an error.
- ``downloadLightCurve``: ``type`` "REBIN_LC", ``objectID`` the rebin -> the light curve in
  the ``getLCData`` shape, rebuilt from the original job's data with the new binning; its
  files are served under ``/user_objects/tprods/REBIN_<id>/lc/``.

A rebin runs on the sim clock (requested 5 s, queued 10 s, running 30 s) like a product.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from aiohttp import web

from autotoo.emulators.ukssdc import archives, synth
from autotoo.emulators.ukssdc.jobs import CANCELLED, DONE, STATUS_TEXT, Job
from autotoo.emulators.ukssdc.service import ServiceError, XrtService
from autotoo.emulators.ukssdc.validation import check_submission
from autotoo.xrtrequest.params import LIGHT_CURVE

PATH: Final = "/API/main.php"
API_VERSION: Final = "1.0.5"  # what swifttools 4.0.5's ukssdc module sends and expects
FIRST_REBIN_ID: Final = 900001
PHASES: Final = ((5.0, 1), (15.0, 2), (45.0, 3))  # (until sim second, status code)
_IGNORED: Final = ("name", "type", "objectID", "APIFunc", "APIVersion")


class ApiError(Exception):
    def __init__(self, code: str, text: str) -> None:
        super().__init__(text)
        self.code, self.text = code, text


@dataclass(slots=True)
class Rebin:
    rebin_id: int
    job: Job  # the product job whose light curve is rebinned
    pars: dict[str, Any]  # the job's parameters with the new binning (JSON names)
    started: datetime
    cancelled: bool = False

    def as_job(self) -> Job:
        """The rebinned curve as the synthesiser sees it: the job, with the new parameters,
        its own seed and its own file URL."""
        url = self.job.url.rsplit("/", 1)[0] + f"/REBIN_{self.rebin_id}"
        return dataclasses.replace(self.job, job_id=self.rebin_id, pars=self.pars, url=url)


class RebinService:
    def __init__(self, products: XrtService) -> None:
        self.products = products
        self._ids = itertools.count(FIRST_REBIN_ID)
        self._rebins: dict[int, Rebin] = {}
        self._lock = threading.Lock()

    def call(self, body: Mapping[str, Any]) -> dict[str, Any]:
        func = str(body.get("APIFunc", ""))
        handler = {
            "rebinLightCurve": self.rebin,
            "checkRebinStatus": self.status,
            "cancelRebin": self.cancel,
            "downloadLightCurve": self.light_curve,
        }.get(func)
        if handler is None:
            raise ApiError("BADFUNC", f"`{func}` is not a supported API function.")
        return handler(body)

    # ---- functions -------------------------------------------------------------------------
    def rebin(self, body: Mapping[str, Any]) -> dict[str, Any]:
        if body.get("type") != "UOB_LC":
            raise ApiError("BADTYPE", f"Cannot rebin a light curve of type `{body.get('type')}`.")
        job = self._product_job(body.get("objectID"))
        if "lc" not in job.products or self.products.jobs.status(job, "lc") != DONE:
            raise ApiError("NOLC", f"Job {job.job_id} has no complete light curve to rebin.")
        if body.get("binMeth") in (None, ""):
            raise ApiError("BADPARS", "binMeth must be supplied.")
        pars = dict(job.pars)
        for name, value in body.items():
            if name in _IGNORED:
                continue
            par = LIGHT_CURVE.par(name)
            if par is None:
                raise ApiError("BADPARS", f"`{name}` is not a light curve parameter.")
            pars[par.json] = str(value).lower() if par.allowed else value
        problems = check_submission(pars, [LIGHT_CURVE])
        if problems.needed or problems.invalid:
            items = [*(f"{n} is needed" for n in problems.needed), *problems.invalid]
            raise ApiError("BADPARS", "; ".join(items))
        with self._lock:
            rebin_id = next(self._ids)
            now = self.products.sky.clock.now()
            self._rebins[rebin_id] = Rebin(rebin_id, job, pars, now)
        return {"JobID": rebin_id}

    def status(self, body: Mapping[str, Any]) -> dict[str, Any]:
        code = self._code(self._rebin(body.get("JobID")))
        return {"status": code, "text": STATUS_TEXT[code]}

    def cancel(self, body: Mapping[str, Any]) -> dict[str, Any]:
        rebin = self._rebin(body.get("JobID"))
        with self._lock:
            if self._code(rebin) not in (1, 2, 3):
                raise ApiError("NOCANCEL", f"Rebin job {rebin.rebin_id} has already finished.")
            rebin.cancelled = True
        return {}

    def light_curve(self, body: Mapping[str, Any]) -> dict[str, Any]:
        if body.get("type") != "REBIN_LC":
            raise ApiError("BADTYPE", f"Light curves of type `{body.get('type')}` are not kept.")
        nosys, incbad = str(body.get("nosys", "no")), str(body.get("incbad", "no"))
        if nosys not in ("yes", "no", "both") or incbad not in ("yes", "no", "both"):
            raise ApiError("BADPARS", "nosys and incbad must each be one of: yes, no, both")
        return self._curve(self._finished(body.get("objectID")), nosys=nosys, incbad=incbad)

    def files(self, rebin_id: int, name: str) -> bytes | None:
        rebin = self._rebins.get(rebin_id)
        if rebin is None or self._code(rebin) != DONE:
            return None
        # Every variant (swifttools asks for the _incbad curves by default).
        files = archives.light_curve_files(self._curve(rebin, nosys="both", incbad="both"))
        return files.get(name)

    # ---- helpers ---------------------------------------------------------------------------
    def _curve(self, rebin: Rebin, *, nosys: str, incbad: str) -> dict[str, Any]:
        target, observations = self.products.inputs(rebin.job, "lc")
        return synth.light_curve(rebin.as_job(), target, observations, nosys=nosys, incbad=incbad)

    def _code(self, rebin: Rebin) -> int:
        if rebin.cancelled:
            return CANCELLED
        elapsed = (self.products.sky.clock.now() - rebin.started).total_seconds()
        return next((code for until, code in PHASES if elapsed < until), DONE)

    def _product_job(self, raw: Any) -> Job:
        job = self.products.jobs.get(_int(raw, "objectID"))
        if job is None:
            raise ApiError("BADJOB", f"Job {raw} does not exist.")
        return job

    def _rebin(self, raw: Any) -> Rebin:
        rebin = self._rebins.get(_int(raw, "JobID"))
        if rebin is None:
            raise ApiError("BADJOB", f"Rebin job {raw} does not exist.")
        return rebin

    def _finished(self, raw: Any) -> Rebin:
        rebin = self._rebin(raw)
        if self._code(rebin) != DONE:
            raise ApiError("NOTDONE", f"Rebin job {rebin.rebin_id} is not complete.")
        return rebin


def _int(raw: Any, what: str) -> int:
    try:
        return int(str(raw))
    except ValueError:
        raise ApiError("BADJOB", f"`{raw}` is not a valid {what}.") from None


def _json_object(text: str) -> dict[str, Any]:
    body = json.loads(text)
    if not isinstance(body, dict):
        raise ApiError("BADJSON", "The data you supplied are not a JSON object.")
    return body


REBIN_KEY: Final = web.AppKey("ukssdc_rebin", RebinService)


def setup_routes(app: web.Application, products: XrtService, *, files_prefix: str) -> None:
    service = RebinService(products)
    app[REBIN_KEY] = service

    async def main(request: web.Request) -> web.Response:
        try:
            reply = {"OK": 1, **service.call(_json_object(await request.text()))}
        except json.JSONDecodeError:
            reply = {"ERROR": "BADJSON", "ERRORTEXT": "Could not parse the JSON you supplied."}
        except (ApiError, ServiceError) as exc:
            code, text = (exc.code, exc.text) if isinstance(exc, ApiError) else ("ERR", exc.error)
            reply = {"ERROR": code, "ERRORTEXT": text}
        reply["APIVersion"] = API_VERSION
        return web.json_response(reply)

    async def download(request: web.Request) -> web.Response:
        data = service.files(int(request.match_info["rebin"]), request.match_info["name"])
        if data is None:
            return web.Response(status=404, text="Not Found")
        return web.Response(body=data, content_type="application/octet-stream")

    app.router.add_post(PATH, main)
    app.router.add_get(files_prefix + r"/tprods/REBIN_{rebin:\d+}/{name:.+}", download)
