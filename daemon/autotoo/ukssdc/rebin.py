"""Rebinning a built light curve: the UKSSDC's newer API (``/API/main.php``).

swifttools' ``rebinLightCurve()`` does not go through the product generator's ``user_objects``
paths: it posts ``{"APIFunc": ..., "APIVersion": "1.0.5", ...}`` to one URL, with no user
(a rebin is addressed by the product job it rebins, then by its own rebin ID). Replies carry
``OK``; a refusal carries ``ERROR`` (a code) and ``ERRORTEXT`` instead.

:class:`RebinClient` is separate from :class:`~autotoo.ukssdc.client.UkssdcClient` because the
URL, the envelope and the version are different; it shares the caller's aiohttp session and
the error taxonomy (a refusal is a :class:`RejectedError` whose text is swifttools' message).
Asking for a rebin creates work on the server, so a timeout after sending it is ambiguous,
like a submission; every other call only reads (or cancels) and may be repeated.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from functools import partial
from typing import Any, Final
from urllib.parse import urlsplit

import aiohttp
from pydantic import ValidationError

from autotoo.ukssdc import wire
from autotoo.ukssdc.client import DEFAULT_BASE_URL, answered, light_curve_from
from autotoo.ukssdc.results import LightCurve
from autotoo.xrtrequest.errors import (
    AmbiguousError,
    BadReplyError,
    NotSentError,
    ParameterError,
    RejectedError,
    TransportError,
)
from autotoo.xrtrequest.params import LIGHT_CURVE

API_VERSION: Final = "1.0.5"  # swifttools 4.0.5's ukssdc API component
BIN_METHODS: Final = ("counts", "time", "snapshot", "obsid")


def default_api_url(base_url: str = DEFAULT_BASE_URL) -> str:
    """``/API/main.php`` on the product generator's host (``https://www.swift.ac.uk``)."""
    parts = urlsplit(base_url)
    return f"{parts.scheme}://{parts.netloc}/API/main.php"


@dataclass(frozen=True, slots=True)
class RebinStatus:
    """The product status codes: 1 requested, 2 queued, 3 running, 4 complete, < 0 failed
    (-4 cancelled)."""

    code: int
    text: str

    @property
    def complete(self) -> bool:
        return self.code == 4

    @property
    def finished(self) -> bool:
        return self.code == 4 or self.code < 0


class RebinClient:
    def __init__(
        self, session: aiohttp.ClientSession, *, api_url: str | None = None, timeout: float = 60.0
    ) -> None:
        self._session = session
        self.api_url = api_url or default_api_url()
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"RebinClient(api_url={self.api_url!r})"

    async def rebin_light_curve(self, job_id: int, *, bin_meth: str, **pars: Any) -> int:
        """Ask for the job's light curve binned anew; returns the rebin ID.

        ``pars`` are light-curve parameters under their Python names (``pcBinTime=2000``,
        ``minEnergy=0.5``), as for the product itself; unknown names are refused locally.
        """
        if bin_meth not in BIN_METHODS:
            raise ParameterError(
                f"'{bin_meth}' is not a valid value for binMeth. Options are: "
                f"{','.join(BIN_METHODS)}."
            )
        for name in pars:
            if LIGHT_CURVE.par(name) is None:
                raise ParameterError(f"{name} is not a recognised lc parameter")
        fields = {"type": "UOB_LC", "objectID": job_id, "binMeth": bin_meth, **pars}
        data = await self._call("rebinLightCurve", fields, idempotent=False)
        try:
            return int(data["JobID"])
        except (KeyError, TypeError, ValueError) as exc:
            raise BadReplyError("rebinLightCurve: reply has no JobID") from exc

    async def status(self, rebin_id: int) -> RebinStatus:
        data = await self._call("checkRebinStatus", {"JobID": rebin_id})
        try:
            return RebinStatus(int(data["status"]), str(data["text"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise BadReplyError("checkRebinStatus: reply has no status/text") from exc

    async def cancel(self, rebin_id: int) -> bool:
        """True if cancelled; False if the server would not (it has already finished)."""
        try:
            await self._call("cancelRebin", {"JobID": rebin_id})
        except RejectedError:
            return False
        return True

    async def light_curve(
        self, rebin_id: int, *, nosys: str = "no", incbad: str = "no"
    ) -> LightCurve:
        """The rebinned curve, in the same form as ``UkssdcClient.light_curve``."""
        fields = {"type": "REBIN_LC", "objectID": rebin_id, "nosys": nosys, "incbad": incbad}
        data = await self._call("downloadLightCurve", fields)
        try:
            reply = wire.LightCurveReply.model_validate(data)
        except ValidationError as exc:
            raise BadReplyError("downloadLightCurve: reply has no Datasets") from exc
        return light_curve_from(reply, data)

    async def _call(
        self, func: str, fields: dict[str, Any], *, idempotent: bool = True
    ) -> dict[str, Any]:
        body = {**fields, "APIFunc": func, "APIVersion": API_VERSION}
        text = await answered(
            partial(self._post_once, func, body, idempotent=idempotent),
            budget_s=self._timeout,
            idempotent=idempotent,
        )
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BadReplyError(f"{func}: reply is not JSON: {text[:80]!r}") from exc
        if not isinstance(data, dict):
            raise BadReplyError(f"{func}: reply is not a JSON object")
        if "ERROR" in data:
            code = str(data["ERROR"])
            message = f"An error occurred processing your request. Code {code}."
            if "ERRORTEXT" in data:
                message += f" Message: `{data['ERRORTEXT']}`"
            raise RejectedError(code, (), message)
        if "OK" not in data:
            raise BadReplyError(f"{func}: An unspecified error occured processing your request.")
        return data

    async def _post_once(
        self, func: str, body: dict[str, Any], *, idempotent: bool
    ) -> tuple[int, str | None, str, dict[str, str]]:
        try:
            async with (
                asyncio.timeout(self._timeout),
                self._session.post(self.api_url, json=body) as resp,
            ):
                value = resp.headers.get("Retry-After")
                retry = {} if value is None else {"Retry-After": value}
                return resp.status, resp.reason, await resp.text(), retry
        except aiohttp.ClientConnectorError as exc:
            raise NotSentError(f"Could not connect to {self.api_url}: {exc}") from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            message = f"{func}: no usable reply after the request was sent ({exc!r})"
            raise (TransportError if idempotent else AmbiguousError)(message) from exc
