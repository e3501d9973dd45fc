"""Swift TOO API v2 (REST, swifttools 4.x): login -> ``session`` cookie, form POST, JSON replies.

The session cookie is kept on the client object (never a shared cookie file, so two users in one
process never share a session) and sent explicitly, which also works for an injected
``ClientSession`` and for IP-address hosts that aiohttp's cookie jar would refuse. On a 401 the
client logs in again once and repeats the request: a 401 means the service did not act on it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Unpack

import aiohttp
import structlog

from autotoo import sendwindow
from autotoo.retry_after import wait_before_retry
from autotoo.swift import replies
from autotoo.swift.base import ANONYMOUS, ClientOptions, SwiftClient
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
from autotoo.swift.wire import v2_form

# Query parameters: a mapping, or pairs when a key repeats (``target_id=1&target_id=2``).
Params = Mapping[str, str] | Sequence[tuple[str, str]]

log = structlog.get_logger(__name__)

SESSION_COOKIE = "session"
DEFAULT_URL = "https://www.swift.psu.edu/api/v2"


def parse_422(body: str) -> list[str]:
    """FastAPI ``detail`` as ``"<field>: <msg>"`` lines, as swifttools shows them."""
    try:
        detail = json.loads(body).get("detail")
    except (json.JSONDecodeError, AttributeError):
        return [body]
    if isinstance(detail, str):
        return [detail]
    if isinstance(detail, list):
        out = []
        for item in detail:
            if isinstance(item, dict):
                loc = item.get("loc") or ["unknown field"]
                out.append(f"{loc[-1]}: {item.get('msg', 'validation error')}")
            else:
                out.append(str(item))
        return out or ["Validation error"]
    return [body]


def _status_of(payload: Any) -> dict[str, Any] | None:
    """Flat (``{"status": "Accepted", "too_id": ...}``) or nested status, as one dict."""
    if not isinstance(payload, dict):
        return None
    status = payload.get("status")
    if isinstance(status, dict):
        return status
    if isinstance(status, str):
        flat = {
            k: payload[k] for k in ("errors", "warnings", "too_id", "jobnumber") if k in payload
        }
        return {"status": status, **flat}
    return None


class SwiftV2Client(SwiftClient):
    protocol = "v2"

    def __init__(self, url: str = DEFAULT_URL, **options: Unpack[ClientOptions]) -> None:
        super().__init__(url, **options)
        self._cookie: str | None = None
        self._login_lock = asyncio.Lock()

    # ---- transport ------------------------------------------------------------------------
    async def _login(self, *, replacing: str | None = None) -> None:
        """Log in, unless another task already replaced the session we found missing/expired."""
        async with self._login_lock:  # concurrent requests share one login
            if self._cookie is not None and self._cookie != replacing:
                return
            body = {"username": self.username, "password": self._secret()}
            try:
                async with (
                    asyncio.timeout(self.timeout.total),
                    self.session.post(f"{self.url}/login", json=body) as resp,
                ):
                    await resp.read()
                    if resp.status >= 500:
                        raise SwiftNotSentError(f"Login failed: server error {resp.status}")
                    if resp.status != 200:
                        raise SwiftAuthError(
                            f"Login failed with status code {resp.status}. "
                            "Please check your credentials."
                        )
                    cookie = resp.cookies.get(SESSION_COOKIE)
            except (aiohttp.ClientError, TimeoutError) as exc:
                # Logging in creates nothing remote: whatever happened, retrying is safe.
                raise SwiftNotSentError(f"Login failed: {exc!r}") from exc
            if cookie is None:
                raise SwiftAuthError("Login succeeded but no session cookie was set")
            self._cookie = cookie.value

    async def _exchange(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        form: list[tuple[str, str]] | None = None,
        idempotent: bool,
    ) -> tuple[int, str]:
        """One HTTP exchange, logging in first if needed and once more after a 401, and
        resending after a 429/503 that says when to come back (autotoo.retry_after)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout.total if self.timeout.total else None
        relogged = False
        sends = 0
        while True:
            if self.username != ANONYMOUS and self._cookie is None:
                await self._login()
            used = self._cookie
            headers = {"Cookie": f"{SESSION_COOKIE}={used}"} if used else {}
            status, body, reply_headers = await self._send(
                method, path, params, form, headers, idempotent
            )
            sends += 1
            if status == 401 and self.username != ANONYMOUS and not relogged:
                # Expired or foreign session; a 401 means the service did not act on the
                # request, so one fresh login and one repeat are safe.
                relogged = True
                await self._login(replacing=used)
                continue
            if status == 401:
                raise SwiftAuthError("Authentication failed: Invalid username or shared secret.")
            budget = deadline - loop.time() if deadline is not None else None
            wait = wait_before_retry(status, reply_headers, attempt=sends, budget_s=budget)
            if wait is None:
                return status, body
            log.info("swift.retry_after", path=path, status=status, wait_s=wait)
            await asyncio.sleep(wait)

    async def _send(
        self,
        method: str,
        path: str,
        params: Params | None,
        form: list[tuple[str, str]] | None,
        headers: dict[str, str],
        idempotent: bool,
    ) -> tuple[int, str, dict[str, str]]:
        url = f"{self.url}{path}"
        sent = dict(form or params or {})
        if not idempotent and sendwindow.closed():
            raise SwiftNotSentError(f"{method} {path}: {sendwindow.REASON}")
        try:
            async with (
                asyncio.timeout(self.timeout.total),
                self.session.request(
                    method, url, params=params, data=form, headers=headers, allow_redirects=True
                ) as resp,
            ):
                return resp.status, await resp.text(), _retry_headers(resp)
        except aiohttp.ClientConnectorError as exc:
            # No connection was established, so nothing was sent.
            raise SwiftNotSentError(f"cannot connect to {self.url}: {exc}") from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            if idempotent:
                raise SwiftNotSentError(f"{method} {path} failed: {exc!r}") from exc
            log.warning("swift.ambiguous", path=path, error=repr(exc), request=sent)
            raise SwiftAmbiguousError(
                f"{method} {path}: no reply ({exc!r}); the service may have acted on it",
                request=sent,
            ) from exc

    async def _json(
        self, path: str, params: dict[str, str], *, sent: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        status, body = await self._exchange("GET", path, params=params, idempotent=True)
        return self._reply(status, body, sent=sent or params, idempotent=True)

    async def get(self, path: str, params: Params) -> dict[str, Any]:
        """A read of any v2 path (``/swift/visquery``...): the reply's JSON object, or the
        error that says what to do (a read can always be repeated). ``params`` may repeat a
        key, as a list of pairs."""
        status, body = await self._exchange("GET", path, params=params, idempotent=True)
        return self._reply(status, body, sent=dict(params), idempotent=True)

    def _reply(
        self, status: int, body: str, *, sent: dict[str, Any], idempotent: bool
    ) -> dict[str, Any]:
        """Map a reply to a payload or to the error class that says what may be done next."""
        if status == 429:  # declined before acting, and not retried (autotoo.retry_after)
            raise SwiftNotSentError(f"Too many requests (HTTP 429): {body[:200]}")
        if status >= 500:
            if idempotent:
                raise SwiftNotSentError(f"Server error {status}: {body[:200]}")
            log.warning("swift.server_error", status=status, body=body[:500], request=sent)
            raise SwiftAmbiguousError(f"Server error {status}: {body[:200]}", request=sent)
        if status == 422:
            raise SwiftRejectedError(parse_422(body), http_status=422)
        try:
            payload = json.loads(body)
        except json.JSONDecodeError as exc:
            log.warning("swift.bad_reply", status=status, body=body[:500], request=sent)
            if 200 <= status < 300 and not idempotent:
                raise SwiftBadReplyError(
                    "Error validating response", status=status, body=body, request=sent
                ) from exc
            if 200 <= status < 300:
                raise SwiftNotSentError(f"unreadable reply (HTTP {status})") from exc
            raise SwiftRejectedError(
                [f"Client error {status}: {body}"], http_status=status
            ) from exc
        state = _status_of(payload)
        if 400 <= status < 500:
            if state is None:
                raise SwiftRejectedError([f"Client error {status}: {body}"], http_status=status)
            raise _rejected(state, status)
        if not isinstance(payload, dict):
            raise SwiftBadReplyError(
                "reply is not an object", status=status, body=body, request=sent
            )
        if state is not None and state.get("status") == "Rejected":
            raise _rejected(state, status)
        return payload

    # ---- operations -----------------------------------------------------------------------
    async def _submit(self, request: TooRequest) -> SubmitResult:
        form = v2_form(request, username=self.username)
        sent = dict(form)
        status, body = await self._exchange("POST", "/swift/too", form=form, idempotent=False)
        payload = self._reply(status, body, sent=sent, idempotent=False)
        state = _status_of(payload) or {}
        outcome = state.get("status")
        if outcome not in ("Accepted", "Validated"):
            log.warning("swift.bad_reply", status=status, body=body[:500], request=sent)
            raise SwiftBadReplyError(
                f"unexpected TOO status {outcome!r}", status=status, body=body, request=sent
            )
        too_id = state.get("too_id", payload.get("too_id"))
        if outcome == "Accepted" and too_id is None:
            raise SwiftBadReplyError(
                "accepted without a TOO ID", status=status, body=body, request=sent
            )
        return SubmitResult(
            status=outcome,
            too_id=None if too_id is None else int(too_id),
            jobnumber=state.get("jobnumber"),
            warnings=tuple(str(w) for w in state.get("warnings") or ()),
            debug=request.debug,
            request=sent,
        )

    async def resolve(self, name: str) -> ResolveResult:
        payload = await self._json("/resolve", {"name": name})
        if payload.get("ra") is None or payload.get("dec") is None:
            raise SwiftRejectedError([f"Could not resolve name {name!r}."])
        return ResolveResult(
            name=str(payload.get("name") or name),
            ra=float(payload["ra"]),
            dec=float(payload["dec"]),
            resolver=payload.get("resolver"),
        )

    async def uvot_mode(
        self, mode: int | str, *, ra: float | None = None, dec: float | None = None
    ) -> UvotModeResult:
        code = mode_code(mode)
        params = {"uvot_mode": str(code)}  # decimal on the wire (0x30ED -> 12525)
        if ra is not None and dec is not None:
            params |= {"ra": str(ra), "dec": str(dec)}
        payload = await self._json("/swift/uvot_mode", params)
        return replies.uvot_result(code, payload.get("entries") or [])

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
            "username": self.username if mine else None,
            "too_id": too_id,
            "limit": limit,
            "year": year,
            "begin": None if begin is None else begin.isoformat(),
            "length": length_days,
            "ra": ra,
            "dec": dec,
            "radius": radius_deg,
        }
        params = {k: str(v) for k, v in query.items() if v is not None}
        params["detail"] = "true" if detail else "false"
        payload = await self._json("/swift/too", params)
        return replies.records(payload.get("entries") or [])

    async def calendar(self, *, too_id: int) -> list[CalendarEntry]:
        payload = await self._json("/swift/calendar", {"too_id": str(too_id)})
        return replies.calendar_entries(payload.get("entries") or [])


def _retry_headers(resp: aiohttp.ClientResponse) -> dict[str, str]:
    value = resp.headers.get("Retry-After")
    return {} if value is None else {"Retry-After": value}


def _rejected(state: dict[str, Any], http_status: int) -> SwiftRejectedError:
    return SwiftRejectedError(
        [str(e) for e in state.get("errors") or ()] or [f"request {state.get('status')}"],
        warnings=[str(w) for w in state.get("warnings") or ()],
        status=str(state.get("status", "Rejected")),
        http_status=http_status,
        too_id=state.get("too_id"),
    )
