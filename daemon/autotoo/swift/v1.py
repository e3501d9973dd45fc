"""Swift TOO API v1 ("API version 1.2", swifttools <= 3.0.24): one URL, HS256 JWT per request.

Each request is ``{"api_name", "api_version": "1.2", "api_data"}`` signed with the user's shared
secret (no registered claims, so equal requests give equal tokens). The service queues TOO
requests: a ``Swift_TOO_Status`` reply ``Queued``/``Processing`` is polled by re-sending the
*identical* token, which the service answers with the state of the job it already has — that is
v1's idempotency, so polling can never create a second TOO. A token is never sent again after
its final status has been read: the service would then take it as a new submission.
"""

from __future__ import annotations

import asyncio
import json
import warnings
from datetime import datetime
from typing import Any, Unpack

import aiohttp
import structlog

from autotoo import sendwindow
from autotoo.retry_after import wait_before_retry
from autotoo.swift import replies
from autotoo.swift.base import ClientOptions, SwiftClient
from autotoo.swift.errors import (
    SwiftAmbiguousError,
    SwiftAuthError,
    SwiftBadReplyError,
    SwiftNotSentError,
    SwiftRejectedError,
)
from autotoo.swift.model import TooRequest
from autotoo.swift.modes import mode_code
from autotoo.swift.results import (
    CalendarEntry,
    ResolveResult,
    SubmitResult,
    TooRecord,
    UvotModeResult,
)
from autotoo.swift.wire import v1_api_data

log = structlog.get_logger(__name__)

API_VERSION = "1.2"
DEFAULT_URL = "https://www.swift.psu.edu/toop/submit_json.php"
PENDING = ("Queued", "Processing")


def sign(api_name: str, api_data: dict[str, Any], secret: str) -> str:
    """The token exactly as swifttools 3.0.24 makes it (PyJWT, compact JSON, HS256)."""
    # Imported here: PyJWT pulls in cryptography (~80 ms), and only the v1 protocol signs;
    # the daemon imports this module for every protocol (bench/startup.py).
    import jwt  # noqa: PLC0415

    payload = {"api_name": api_name, "api_version": API_VERSION, "api_data": api_data}
    with warnings.catch_warnings():
        # PyJWT warns about HMAC keys shorter than 32 bytes (e.g. "anonymous"); the key is the
        # service's choice, not ours.
        warnings.simplefilter("ignore")
        return jwt.encode(payload, secret, algorithm="HS256")


class SwiftV1Client(SwiftClient):
    protocol = "v1"

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        poll_interval: float = 1.0,
        **options: Unpack[ClientOptions],
    ) -> None:
        super().__init__(url, **options)
        self.poll_interval = poll_interval

    async def _post(self, token: str, *, idempotent: bool, sent: dict[str, Any]) -> tuple[int, str]:
        """One exchange, resent after a 429/503 that says when to come back (the service did
        not act on it; see autotoo.retry_after). Bounded by the job's own deadline."""
        sends = 0
        while True:
            status, text, retry = await self._post_once(token, idempotent=idempotent, sent=sent)
            sends += 1
            wait = wait_before_retry(status, retry, attempt=sends)
            if wait is None:
                return status, text
            log.info("swift.retry_after", status=status, wait_s=wait)
            await asyncio.sleep(wait)

    async def _post_once(
        self, token: str, *, idempotent: bool, sent: dict[str, Any]
    ) -> tuple[int, str, dict[str, str]]:
        if not idempotent and sendwindow.closed():
            raise SwiftNotSentError(sendwindow.REASON)
        try:
            async with (
                asyncio.timeout(self.timeout.total),
                self.session.post(self.url, data={"jwt": token}) as resp,
            ):
                value = resp.headers.get("Retry-After")
                retry = {} if value is None else {"Retry-After": value}
                return resp.status, await resp.text(), retry
        except aiohttp.ClientConnectorError as exc:
            raise SwiftNotSentError(f"cannot connect to {self.url}: {exc}") from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            if idempotent:
                raise SwiftNotSentError(f"request failed: {exc!r}") from exc
            log.warning("swift.ambiguous", error=repr(exc), request=sent)
            raise SwiftAmbiguousError(f"no reply ({exc!r})", request=sent) from exc

    def _envelope(
        self, status: int, body: str, *, idempotent: bool, sent: dict[str, Any]
    ) -> dict[str, Any]:
        if status != 200:
            if status == 429:  # declined before acting, and not retried (autotoo.retry_after)
                raise SwiftNotSentError(f"HTTP Submit failed with error code {status}")
            if status >= 500 and not idempotent:
                raise SwiftAmbiguousError(
                    f"HTTP Submit failed with error code {status}", request=sent
                )
            if status >= 500:
                raise SwiftNotSentError(f"HTTP Submit failed with error code {status}")
            raise SwiftRejectedError(
                [f"HTTP Submit failed with error code {status}"], http_status=status
            )
        try:
            envelope = json.loads(body)
        except json.JSONDecodeError as exc:
            # What the v1 service answers to a bad signature (observed behaviour); a bad
            # signature cannot have created anything.
            raise SwiftAuthError(
                "Failed to decode JSON. Please check that your shared secret is correct."
            ) from exc
        if not isinstance(envelope, dict) or "api_data" not in envelope:
            raise SwiftBadReplyError(
                "not a TOO API envelope", status=status, body=body, request=sent
            )
        if envelope.get("api_version") != API_VERSION:
            raise SwiftBadReplyError(
                f"API version mismatch. Remote version {envelope.get('api_version')}",
                status=status,
                body=body,
                request=sent,
            )
        return envelope

    async def _call(
        self, api_name: str, api_data: dict[str, Any], *, idempotent: bool = True
    ) -> dict[str, Any]:
        """Send one request and poll while it is queued; returns the final ``api_data``.

        The final reply is either ``api_name`` itself or a ``Swift_TOO_Status`` with a final
        status; both come back as ``(name, data)`` in the dict ``{"api_name", "api_data"}``.
        """
        token = sign(api_name, api_data, self._secret())
        try:
            # One deadline for the whole job, polls included (swifttools bounds only the polling
            # and lets each HTTP call hang forever).
            async with asyncio.timeout(self.timeout.total):
                while True:
                    status, body = await self._post(token, idempotent=idempotent, sent=api_data)
                    envelope = self._envelope(status, body, idempotent=idempotent, sent=api_data)
                    data = envelope["api_data"]
                    if envelope.get("api_name") == "Swift_TOO_Status":
                        if data.get("status") in PENDING:
                            # Re-sending the identical token is v1's way to ask for the job's state.
                            await asyncio.sleep(self.poll_interval)
                            continue
                        if data.get("status") == "Rejected":
                            raise _rejected(data)
                    elif isinstance(data.get("status"), dict):
                        inner = replies.unwrap(data["status"])
                        if isinstance(inner, dict) and inner.get("status") == "Rejected":
                            raise _rejected(inner)
                    return envelope
        except TimeoutError as exc:
            if idempotent:
                raise SwiftNotSentError("Queued job timed out.") from exc
            raise SwiftAmbiguousError("Queued job timed out.", request=api_data) from exc

    # ---- operations -----------------------------------------------------------------------
    async def _submit(self, request: TooRequest) -> SubmitResult:
        data = v1_api_data(request, username=self.username)
        envelope = await self._call("Swift_TOO_Request", data, idempotent=False)
        state = envelope["api_data"]
        if envelope.get("api_name") != "Swift_TOO_Status":
            state = replies.unwrap(state.get("status")) or {}
        outcome = state.get("status")
        if outcome not in ("Accepted", "Validated"):
            raise SwiftBadReplyError(
                f"unexpected TOO status {outcome!r}",
                status=200,
                body=json.dumps(state),
                request=data,
            )
        too_id = state.get("too_id")
        return SubmitResult(
            status=outcome,
            too_id=None if too_id is None else int(too_id),
            jobnumber=state.get("jobnumber"),
            warnings=tuple(str(w) for w in state.get("warnings") or ()),
            debug=request.debug,
            request=data,
        )

    async def job_status(self, jobnumber: int) -> dict[str, Any]:
        """``Swift_TOO_Status`` by job number (v1 only): the job's status, errors and TOO ID."""
        envelope = await self._call(
            "Swift_TOO_Status",
            {"username": self.username, "jobnumber": jobnumber, "fetchresult": True},
        )
        data: dict[str, Any] = envelope["api_data"]
        return data

    async def resolve(self, name: str) -> ResolveResult:
        data = (await self._call("Swift_Resolve", {"username": self.username, "name": name}))[
            "api_data"
        ]
        if data.get("ra") is None or data.get("dec") is None:
            raise SwiftRejectedError([f"Could not resolve name {name!r}."])
        return ResolveResult(
            name=str(data.get("name") or name),
            ra=float(data["ra"]),
            dec=float(data["dec"]),
            resolver=data.get("resolver"),
        )

    async def uvot_mode(
        self, mode: int | str, *, ra: float | None = None, dec: float | None = None
    ) -> UvotModeResult:
        code = mode_code(mode)
        api_data: dict[str, Any] = {"username": self.username, "uvotmode": f"0x{code:04x}"}
        if ra is not None and dec is not None:
            api_data |= {"ra": ra, "dec": dec}
        data = (await self._call("UVOT_mode", api_data))["api_data"]
        return replies.uvot_result(code, data.get("entries") or [])

    async def list_toos(
        self,
        *,
        too_id: int | None = None,
        detail: bool = True,
        limit: int | None = None,
        year: int | None = None,
        begin: datetime | None = None,
        length_days: float | None = None,
        ra: float | None = None,
        dec: float | None = None,
        radius_deg: float | None = None,
        mine: bool = True,
    ) -> list[TooRecord]:
        query = {
            "username": self.username,
            "limit": limit,
            "too_id": too_id,
            "year": year,
            "detail": detail,
            "ra": ra,
            "dec": dec,
            "radius": radius_deg,
            "begin": None if begin is None else begin.strftime("%Y-%m-%d %H:%M:%S"),
            "length": length_days,
        }
        if not mine and too_id is None and begin is None and year is None:
            query["limit"] = limit or 100
        api_data = {k: v for k, v in query.items() if v is not None}
        data = (await self._call("Swift_TOO_Requests", api_data))["api_data"]
        return replies.records(data.get("entries") or [])

    async def calendar(self, *, too_id: int) -> list[CalendarEntry]:
        api_data = {"username": self.username, "too_id": too_id}
        data = (await self._call("Swift_Calendar", api_data))["api_data"]
        return replies.calendar_entries(data.get("entries") or [])


def _rejected(state: dict[str, Any]) -> SwiftRejectedError:
    return SwiftRejectedError(
        [str(e) for e in state.get("errors") or ()] or ["Rejected"],
        warnings=[str(w) for w in state.get("warnings") or ()],
        status=str(state.get("status", "Rejected")),
        too_id=state.get("too_id"),
    )
