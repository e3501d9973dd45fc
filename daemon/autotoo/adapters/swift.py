"""The Swift TOO client as a :class:`~autotoo.pipeline.ports.TooPort`."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from autotoo.logs import get_logger
from autotoo.pipeline.ports import (
    ListedToo,
    Observed,
    Pointing,
    Refusal,
    RejectionKind,
    RemoteAmbiguousError,
    RemoteAuthError,
    RemoteError,
    RemoteNotSentError,
    RemoteRejectedError,
    TooProgress,
    TooReceipt,
)
from autotoo.swift import (
    SwiftAmbiguousError,
    SwiftAuthError,
    SwiftClient,
    SwiftNotSentError,
    SwiftRejectedError,
    SwiftV2Client,
    SwiftValidationError,
    TooRequest,
)
from autotoo.swift.errors import SwiftError
from autotoo.swift.queries import SwiftQueries
from autotoo.swift.wire import marker_text

log = get_logger("autotoo.adapters.swift")


Translate = Callable[[Any, str], RemoteError]


def _refused(exc: SwiftRejectedError, what: str) -> RemoteError:  # noqa: ARG001 the table's shape
    kind = (
        RejectionKind.CONSTRAINED
        if exc.constrained
        else RejectionKind.DUPLICATE
        if exc.duplicate
        else RejectionKind.OTHER
    )
    return RemoteRejectedError(
        str(exc), kind=kind, refusal=Refusal(tuple(exc.errors), tuple(exc.warnings))
    )


def _ambiguous(exc: SwiftAmbiguousError, what: str) -> RemoteError:
    # What it answered to goes in the log (the wire body, never the shared secret).
    log.warning(
        "ambiguous reply from the Swift TOO API", what=what, error=str(exc), request=exc.request
    )
    return RemoteAmbiguousError(f"{what}: {exc}")


# The client's errors as the port's, for a call that may create a TOO; the first class that
# matches decides (most specific first).
ERRORS: tuple[tuple[type[SwiftError], Translate], ...] = (
    (
        SwiftValidationError,
        lambda exc, _: RemoteRejectedError(
            f"invalid TOO request: {exc}", kind=RejectionKind.INVALID
        ),
    ),
    (SwiftNotSentError, lambda exc, what: RemoteNotSentError(f"{what}: {exc}")),
    (SwiftRejectedError, _refused),
    (SwiftAuthError, lambda exc, what: RemoteAuthError(f"{what}: {exc}")),
    (SwiftAmbiguousError, _ambiguous),
    (SwiftError, lambda exc, what: RemoteAmbiguousError(f"{what}: {exc}")),
)


@contextlib.contextmanager
def translated(
    what: str,
    *,
    only: tuple[type[SwiftError], ...] = (SwiftError,),
    otherwise: type[RemoteError] = RemoteAmbiguousError,
) -> Iterator[None]:
    """The client's errors raised inside as the port's (``from`` the original), by
    :data:`ERRORS`. ``only``: the errors the table translates; any other becomes
    ``otherwise(what: error)``. A call that creates nothing passes a refusal on and makes the
    rest "not sent" (a check: ask again later), or makes every failure a failed read."""
    try:
        yield
    except SwiftError as exc:
        if not isinstance(exc, only):
            raise otherwise(f"{what}: {exc}") from exc
        translate = next(fn for cls, fn in ERRORS if isinstance(exc, cls))
        raise translate(exc, what) from exc


class SwiftTooAdapter:
    def __init__(self, client: SwiftClient) -> None:
        self.client = client

    async def submit(self, body: dict[str, Any], *, marker: str, debug: bool) -> TooReceipt:
        request = self._request(body, marker=marker, debug=debug)
        with translated("submit"):
            result = await self.client.submit(request)
        if result.too_id is None and not result.debug:
            raise RemoteAmbiguousError(f"accepted without a TOO id: {result.status}")
        return TooReceipt(
            too_id=str(result.too_id)
            if result.too_id is not None
            else f"debug-{result.jobnumber or 0}",
            status=result.status,
            warnings=tuple(result.warnings),
            debug=result.debug,
            jobnumber=result.jobnumber,
        )

    def _request(self, body: dict[str, Any], **extra: Any) -> TooRequest:
        try:
            return TooRequest.model_validate({**body, **extra})
        except (ValidationError, ValueError) as exc:
            raise RemoteRejectedError(
                f"invalid TOO request: {exc}", kind=RejectionKind.INVALID
            ) from exc

    async def prepare(
        self,
        body: dict[str, Any],
        *,
        check_uvot_mode: bool,
        uvot_fallback: str | None,
        server_validate: bool,
    ) -> tuple[dict[str, Any], list[str]]:
        body, notes = dict(body), []
        mode = body.get("uvot_mode")
        if check_uvot_mode and mode is not None and mode != uvot_fallback:
            # a lookup creates nothing: any failure but a refusal is safe to ask again later
            with translated("UVOT mode check", only=(), otherwise=RemoteNotSentError):
                try:
                    await self.client.uvot_mode(mode, ra=body.get("ra"), dec=body.get("dec"))
                except SwiftRejectedError as exc:
                    notes.append(f"UVOT mode {mode} refused ({exc}); using {uvot_fallback}")
                    body["uvot_mode"] = uvot_fallback
        if server_validate:
            request = self._request(body)
            checks = (SwiftRejectedError, SwiftValidationError)  # validate_only creates nothing
            with translated("server validation", only=checks, otherwise=RemoteNotSentError):
                await self.client.validate(request)
            notes.append("validated by the service")
        return body, notes

    async def find(self, marker: str, body: dict[str, Any]) -> str | None:
        with translated("listing", only=()):
            record = await self.client.find_submission(
                marker,
                target_name=body.get("source_name") or body.get("target_name"),
                ra=body.get("ra"),
                dec=body.get("dec"),
            )
        return str(record.too_id) if record is not None else None

    async def progress(self, too_id: str) -> TooProgress:
        with translated(f"status of TOO {too_id}", only=()):
            record = await self.client.get_too(int(too_id))
            entries = await self.client.calendar(too_id=int(too_id))
        if record is None:
            raise RemoteAmbiguousError(f"TOO {too_id} is not in the listing")
        decision = (record.decision or "").lower()
        observed = tuple(
            Observed(
                target_id=f"{entry.target_id:08d}",
                obsid=entry.obsid,
                start=entry.begin.isoformat() if entry.begin else None,
                end=entry.end.isoformat() if entry.end else None,
                exposure_s=entry.asflown,
            )
            for entry in entries
            if entry.observed and entry.obsid and entry.target_id is not None
        )
        return TooProgress(
            status=record.decision or "Pending",
            decided=decision in {"approved", "rejected", "declined"},
            approved=decision == "approved",
            observations=observed,
            complete=record.done,
            target_id=record.target_id,
            urgency=record.urgency,
        )

    # ---- reads before a submission (pipeline.presend) -----------------------------------
    async def requests_near(
        self,
        ra: float,
        dec: float,
        *,
        radius_deg: float,
        since: datetime,
        until: datetime,
        marker: str,
    ) -> tuple[ListedToo, ...]:
        tag = marker_text(marker)
        length = max((until - since) / timedelta(days=1), 0.001)
        with translated("TOO listing", only=(), otherwise=RemoteNotSentError):
            records = await self.client.list_toos(
                detail=True,
                begin=_naive(since),
                length_days=round(length, 3),
                ra=ra,
                dec=dec,
                radius_deg=radius_deg,
                mine=False,
            )
        return tuple(
            ListedToo(
                too_id=str(r.too_id),
                target_name=r.target_name,
                requested_at=r.timestamp,
                target_id=r.target_id,
                ours=any(tag in text for text in r.texts()),
                ra=r.ra,
                dec=r.dec,
            )
            for r in records
        )

    def _queries(self, what: str) -> SwiftQueries:
        if not isinstance(self.client, SwiftV2Client):
            raise RemoteNotSentError(f"{what}: the v1 protocol has no such query")
        return SwiftQueries(self.client)

    async def pointings_near(
        self, ra: float, dec: float, *, radius_deg: float, begin: datetime, flown: bool
    ) -> tuple[Pointing, ...]:
        what = "ObsQuery" if flown else "PlanQuery"
        queries = self._queries(what)
        with translated(what, only=(), otherwise=RemoteNotSentError):
            ask = queries.flown if flown else queries.planned
            timeline = await ask(ra=ra, dec=dec, radius=radius_deg, begin=begin)
        utcf = timedelta(0)
        if timeline.entries:  # spacecraft time to UTC (some 26 s); without it, spacecraft time
            try:
                clock = await queries.clock(utc=[begin])
                utcf = timedelta(seconds=clock[0].utcf) if clock else utcf
            except SwiftError as exc:
                log.info("clock correction not read; timeline times left in Swift time", error=exc)

        def utc(value: datetime | None) -> datetime | None:
            return None if value is None else _aware(value) + utcf

        return tuple(
            Pointing(e.target_id, e.obs_id, e.target_name, utc(e.begin), utc(e.end), e.ra, e.dec)
            for e in timeline.entries
        )

    async def visibility(
        self, ra: float, dec: float, *, begin: datetime, end: datetime
    ) -> tuple[tuple[datetime, datetime], ...]:
        queries = self._queries("VisQuery")
        with translated("VisQuery", only=(), otherwise=RemoteNotSentError):
            windows = await queries.visibility(ra, dec, begin=begin, end=end)
        return tuple((_aware(w.begin), _aware(w.end)) for w in windows)


def _naive(value: datetime) -> datetime:
    """UTC without a zone, as both protocols' listing filters are written."""
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
