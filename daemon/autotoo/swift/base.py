"""What the pipeline needs from a Swift TOO API client, whichever protocol the config selects.

Every method is one attempt: nothing here retries a submission. After a rejection the caller
builds the changed request and calls :meth:`SwiftClient.submit` again (an explicit new attempt);
after :class:`~autotoo.swift.errors.SwiftAmbiguousError` it calls :meth:`find_submission` before
anything is resent.
"""

from __future__ import annotations

import abc
import math
from datetime import datetime, timedelta
from types import TracebackType
from typing import ClassVar, Self, TypedDict

import aiohttp
from pydantic import SecretStr

from autotoo.swift.errors import SwiftValidationError
from autotoo.swift.model import TooRequest
from autotoo.swift.results import (
    CalendarEntry,
    ResolveResult,
    SubmitResult,
    TooRecord,
    UvotModeResult,
)
from autotoo.swift.validation import Protocol, Validated, validate_request
from autotoo.swift.wire import marker_text

DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=120, connect=15)  # the official clients' 120 s
ANONYMOUS = "anonymous"


class ClientOptions(TypedDict, total=False):
    """Keyword options every client takes (see :class:`SwiftClient`)."""

    username: str
    shared_secret: str | SecretStr
    session: aiohttp.ClientSession | None
    timeout: aiohttp.ClientTimeout


class SwiftClient(abc.ABC):
    """Async client of one Swift TOO API service. Use as ``async with``.

    ``session`` may be injected (it is then not closed here); otherwise one is created per
    client. ``timeout`` bounds each HTTP exchange.
    """

    protocol: ClassVar[Protocol]

    def __init__(
        self,
        url: str,
        *,
        username: str = ANONYMOUS,
        shared_secret: str | SecretStr = ANONYMOUS,
        session: aiohttp.ClientSession | None = None,
        timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT,
    ) -> None:
        self.url = url.rstrip("/")
        self.username = username
        # SecretStr: never in reprs, logs or exceptions, not even via vars().
        self._shared_secret = SecretStr(
            shared_secret if isinstance(shared_secret, str) else shared_secret.get_secret_value()
        )
        self._session = session
        self._own_session = session is None
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={self.url!r}, username={self.username!r})"

    def _secret(self) -> str:
        return self._shared_secret.get_secret_value()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            # No cookie jar: the v2 session cookie is kept on the client and sent explicitly,
            # so it never leaks between clients and works for IP-address hosts too.
            self._session = aiohttp.ClientSession(
                timeout=self.timeout, cookie_jar=aiohttp.DummyCookieJar()
            )
        return self._session

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # ---- local validation -----------------------------------------------------------------
    def check(self, request: TooRequest) -> Validated:
        """Local validation as this protocol's client does it (no network)."""
        result = validate_request(request, self.protocol)
        if self.username in ("", None):
            result.errors.insert(0, "Missing key: username")
        return result

    def _checked(self, request: TooRequest) -> Validated:
        result = self.check(request)
        if self.username == ANONYMOUS:
            result.errors.append("Anonymous users cannot submit TOO requests.")
        if not result.ok:
            raise SwiftValidationError(result.errors, result.warnings)
        return result

    # ---- the operations -------------------------------------------------------------------
    async def submit(self, request: TooRequest) -> SubmitResult:
        """Validate locally, then submit once. Returns the accepted result or raises."""
        checked = self._checked(request)
        sent = checked.request.model_copy(update={"validate_only": False})
        result = await self._submit(sent)
        return _with_warnings(result, checked.warnings)

    async def validate(self, request: TooRequest) -> SubmitResult:
        """Server-side validation (``validate_only``): creates nothing; status ``Validated``."""
        checked = self._checked(request)
        sent = checked.request.model_copy(update={"validate_only": True})
        result = await self._submit(sent)
        return _with_warnings(result, checked.warnings)

    @abc.abstractmethod
    async def _submit(self, request: TooRequest) -> SubmitResult: ...

    @abc.abstractmethod
    async def resolve(self, name: str) -> ResolveResult: ...

    @abc.abstractmethod
    async def uvot_mode(
        self, mode: int | str, *, ra: float | None = None, dec: float | None = None
    ) -> UvotModeResult: ...

    @abc.abstractmethod
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
    ) -> list[TooRecord]: ...

    @abc.abstractmethod
    async def calendar(self, *, too_id: int) -> list[CalendarEntry]: ...

    async def get_too(self, too_id: int) -> TooRecord | None:
        found = [r for r in await self.list_toos(too_id=too_id) if r.too_id == too_id]
        return found[0] if found else None

    async def find_submission(
        self,
        marker: str,
        *,
        target_name: str | None = None,
        ra: float | None = None,
        dec: float | None = None,
        since: datetime | None = None,
        radius_deg: float = 1.0 / 60.0,
        window: timedelta = timedelta(days=2),
    ) -> TooRecord | None:
        """Our own submission in the listing, after an ambiguous outcome.

        First by the idempotency marker in the justification texts (only one's own TOOs carry
        them, with ``detail``). If the listing shows no texts at all, fall back to name and
        position within ``window`` of ``since`` — and only when exactly one TOO matches.
        """
        begin = since - timedelta(hours=1) if since is not None else None
        listed = await self.list_toos(detail=True, begin=begin, length_days=window.days or 1)
        tag = marker_text(marker)
        for record in listed:
            if any(tag in text for text in record.texts()):
                return record
        if any(record.texts() for record in listed):
            return None  # texts are shown, and none carries our marker: not ours
        candidates = [r for r in listed if _same_target(r, target_name, ra, dec, radius_deg)]
        return candidates[0] if len(candidates) == 1 else None


def _same_target(
    record: TooRecord, name: str | None, ra: float | None, dec: float | None, radius: float
) -> bool:
    if (
        name is not None
        and record.target_name is not None
        and "".join(name.lower().split()) != "".join(record.target_name.lower().split())
    ):
        return False
    if ra is not None and dec is not None and record.ra is not None and record.dec is not None:
        return separation_deg(ra, dec, record.ra, record.dec) <= radius
    return name is not None


def separation_deg(ra1: float, dec1: float, ra2: float, dec2: float) -> float:
    """Great-circle distance in degrees (haversine)."""
    r1, d1, r2, d2 = map(math.radians, (ra1, dec1, ra2, dec2))
    h = math.sin((d2 - d1) / 2) ** 2 + math.cos(d1) * math.cos(d2) * math.sin((r2 - r1) / 2) ** 2
    return math.degrees(2 * math.asin(min(1.0, math.sqrt(h))))


def _with_warnings(result: SubmitResult, local: list[str]) -> SubmitResult:
    if not local:
        return result
    return SubmitResult(
        status=result.status,
        too_id=result.too_id,
        jobnumber=result.jobnumber,
        warnings=(*local, *result.warnings),
        debug=result.debug,
        request=result.request,
    )
