"""Swift's v2 query endpoints for rules: visibility, the planned and flown timelines, SAA
passages and the spacecraft clock.

:class:`SwiftQueries` wraps a :class:`SwiftV2Client` (its session, login, error mapping and
``Retry-After`` handling); every call is a read, so any failure may simply be repeated. The
parameters go out as swifttools 4 sends them (naive UTC ``YYYY-MM-DD HH:MM:SS``, booleans as
``true``/``false``, lists as repeated keys), and replies are read without the re-requests
swifttools makes when a reply has no ``status``.

Times: visibility windows and SAA passages are UTC; timeline entries are Swift spacecraft
time, as the service sends them (about 26 s ahead of UTC; :meth:`SwiftQueries.clock` gives the
exact correction, ``utc = swift_time + utcf``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from autotoo.swift.errors import SwiftBadReplyError
from autotoo.swift.v2 import SwiftV2Client


@dataclass(slots=True, frozen=True)
class Window:
    begin: datetime  # naive UTC
    end: datetime

    @property
    def length(self) -> timedelta:
        return self.end - self.begin


@dataclass(slots=True, frozen=True)
class TimelineEntry:
    """One PPST (planned) or AFST (flown) segment; ``settle`` only for flown ones."""

    obs_id: str | None
    target_id: int | None
    segment: int | None
    target_name: str | None
    ra: float | None  # pointing
    dec: float | None
    begin: datetime | None  # Swift time
    end: datetime | None
    settle: datetime | None = None
    xrt_mode: int | None = None
    uvot_mode: int | None = None

    @property
    def exposure(self) -> timedelta | None:
        start = self.settle or self.begin
        return self.end - start if start is not None and self.end is not None else None


@dataclass(slots=True, frozen=True)
class Timeline:
    entries: tuple[TimelineEntry, ...]
    valid_until: datetime | None  # ppstmax / afstmax (Swift time)


@dataclass(slots=True, frozen=True)
class ClockEntry:
    met: float
    utcf: float  # seconds to add to Swift time to get UTC

    @property
    def swift_time(self) -> datetime:
        """Naive, like every time these results carry."""
        return datetime(2001, 1, 1, tzinfo=UTC).replace(tzinfo=None) + timedelta(seconds=self.met)

    @property
    def utc(self) -> datetime:
        return self.swift_time + timedelta(seconds=self.utcf)


def _wire_time(value: datetime) -> str:
    """swifttools' form: ``str()`` of a naive UTC datetime (aware values converted first)."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return str(value)


def _time(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace(" ", "T", 1))
    except ValueError as exc:
        raise SwiftBadReplyError(f"not a time: {value!r}", status=200, body=str(value)) from exc
    return parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo else parsed


def _span(begin: datetime | None, end: datetime | None) -> dict[str, str]:
    params = {}
    if begin is not None:
        params["begin"] = _wire_time(begin)
    if end is not None:
        params["end"] = _wire_time(end)
    return params


class SwiftQueries:
    def __init__(self, client: SwiftV2Client) -> None:
        self.client = client

    async def visibility(
        self,
        ra: float,
        dec: float,
        *,
        begin: datetime,
        end: datetime | None = None,
        hires: bool = False,
    ) -> list[Window]:
        """Windows free of the Sun, Moon and pole constraints (``hires``: and of Earth
        occultation and the SAA). ``end`` defaults to a week after ``begin``."""
        params = {"ra": str(ra), "dec": str(dec), **_span(begin, end)}
        if end is None:
            params["length"] = "7"
        params["hires"] = "true" if hires else "false"
        payload = await self.client.get("/swift/visquery", params)
        return [_window(w) for w in payload.get("windows") or []]

    async def planned(self, **filters: Any) -> Timeline:
        """The pre-planned science timeline (PPST); filters as :meth:`flown`."""
        return await self._timeline("/swift/planquery", "ppstmax", filters)

    async def flown(self, **filters: Any) -> Timeline:
        """The as-flown timeline (AFST). Filters: ``ra``, ``dec``, ``radius`` (deg),
        ``begin``, ``end`` (datetimes), ``target_id``, ``obs_id`` (one or several), ``limit``."""
        return await self._timeline("/swift/obsquery", "afstmax", filters)

    async def saa(
        self, *, begin: datetime, end: datetime | None = None, bat: bool = False
    ) -> list[Window]:
        """SAA passages (``bat``: the BAT estimate); ``end`` defaults to a day after ``begin``."""
        params = {**_span(begin, end or begin + timedelta(days=1)), "bat": str(bat).lower()}
        payload = await self.client.get("/swift/saa", params)
        return [_window(w) for w in payload.get("entries") or []]

    async def clock(
        self, *, met: Iterable[float] = (), utc: Iterable[datetime] = ()
    ) -> list[ClockEntry]:
        """Clock corrections for MET values or for UTC times (one of the two)."""
        mets, utcs = list(met), list(utc)
        if bool(mets) == bool(utcs):
            raise ValueError("Exactly one of 'met', 'utctime', or 'swifttime' must be provided")
        key, values = ("met", [str(m) for m in mets]) if mets else ("utctime", utcs)
        params = [(key, v if isinstance(v, str) else _wire_time(v)) for v in values]
        payload = await self.client.get("/swift/clock", params)
        try:
            return [ClockEntry(float(e["met"]), float(e["utcf"])) for e in payload["entries"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise SwiftBadReplyError(
                "clock reply without met/utcf", status=200, body=str(payload)
            ) from exc

    async def _timeline(self, path: str, until_key: str, filters: dict[str, Any]) -> Timeline:
        params: list[tuple[str, str]] = []
        for key, value in filters.items():
            if value is None:
                continue
            many = value if isinstance(value, list | tuple | set) else [value]
            params.extend(
                (key, _wire_time(item) if isinstance(item, datetime) else str(item))
                for item in many
            )
        if filters.get("ra") is not None and "radius" not in filters:
            params.append(("radius", "0.2"))
        payload = await self.client.get(path, params)
        entries = tuple(_entry(e) for e in payload.get("entries") or [])
        return Timeline(entries, _time(payload.get(until_key)))


def _window(data: dict[str, Any]) -> Window:
    begin, end = _time(data.get("begin")), _time(data.get("end"))
    if begin is None or end is None:
        raise SwiftBadReplyError("window without begin/end", status=200, body=str(data))
    return Window(begin, end)


def _int(value: Any) -> int | None:
    return int(value) if value is not None else None


def _float(value: Any) -> float | None:
    return float(value) if value is not None else None


def _entry(data: dict[str, Any]) -> TimelineEntry:
    return TimelineEntry(
        obs_id=str(data["obs_id"]) if data.get("obs_id") is not None else None,
        target_id=_int(data.get("target_id")),
        segment=_int(data.get("segment")),
        target_name=data.get("target_name"),
        ra=_float(data.get("ra")),
        dec=_float(data.get("dec")),
        begin=_time(data.get("begin")),
        end=_time(data.get("end")),
        settle=_time(data.get("settle")),
        xrt_mode=_int(data.get("xrt_mode")),
        uvot_mode=_int(data.get("uvot_mode")),
    )
