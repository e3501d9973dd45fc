"""API v2 query endpoints: VisQuery, PlanQuery (PPST), ObsQuery (AFST), SAA and Clock.

All read the same model as the TOO decisions (:mod:`orbit`, :class:`SwiftRules`) and the same
shared :class:`Sky`: the PPST lists every observation the sky holds that starts before
``ppstmax`` (three days ahead), the AFST those already flown, so a TOO the emulator accepted
shows up in the plan at once and in the as-flown timeline once its segment has ended.

Every 2xx body carries ``"status": "Accepted"``: swifttools re-requests a reply without one.
Bad input is a 422 FastAPI ``detail``. Timeline times are Swift spacecraft time (what the
client assumes for PPST/AFST); visibility windows and SAA passages are UTC.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from aiohttp import web
from multidict import MultiMapping

from autotoo.emulators.sky import Observation, Target
from autotoo.emulators.swift import orbit
from autotoo.emulators.swift.service import SwiftService
from autotoo.emulators.swift.v2 import SERVICE

ACCEPTED: Final = {"status": "Accepted", "errors": [], "warnings": []}
PPST_AHEAD: Final = timedelta(days=3)
MAX_HIRES: Final = timedelta(days=20)
MAX_LOWRES: Final = timedelta(days=366)
SLEW: Final = timedelta(seconds=90)
UVOT_DEFAULT: Final = 0x9999
XRT_CODE: Final = {"PC": 7, "WT": 6}


class BadQueryError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _unprocessable(exc: BadQueryError) -> web.Response:
    detail = [{"loc": ["query", exc.field], "msg": str(exc), "type": "value_error"}]
    return web.json_response({"detail": detail}, status=422)


def _time(q: MultiMapping[str], name: str) -> datetime | None:
    raw = q.get(name)
    if raw in (None, ""):
        return None
    try:
        value = datetime.fromisoformat(raw.strip().replace(" ", "T", 1))
    except ValueError:
        raise BadQueryError(name, f"Input should be a valid datetime, not {raw!r}") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _float(q: MultiMapping[str], name: str) -> float | None:
    raw = q.get(name)
    if raw in (None, ""):
        return None
    try:
        return float(raw)
    except ValueError:
        raise BadQueryError(name, f"Input should be a valid number, not {raw!r}") from None


def _span(
    q: MultiMapping[str], *, default_days: float | None
) -> tuple[datetime | None, datetime | None]:
    begin, end, length = _time(q, "begin"), _time(q, "end"), _float(q, "length")
    if begin is not None and end is None:
        days = length if length is not None else default_days
        end = begin + timedelta(days=days) if days is not None else None
    if begin is not None and end is not None and end <= begin:
        raise BadQueryError("end", "end must be after begin")
    return begin, end


def _iso(value: datetime) -> str:
    """Naive UTC ISO (swifttools breaks on mixed aware/naive times)."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds")


def _service(request: web.Request) -> SwiftService:
    return request.app[SERVICE]


async def visquery(request: web.Request) -> web.Response:
    try:
        body = visibility(_service(request), request.query)
    except BadQueryError as exc:
        return _unprocessable(exc)
    return web.json_response(body | {"status": ACCEPTED})


def visibility(service: SwiftService, q: MultiMapping[str]) -> dict[str, Any]:
    """VisQuery's answer (without its status): both protocols ask this (v1 through
    :mod:`v1_queries`, its parameters renamed to these)."""
    hires = q.get("hires", "false").lower() == "true"
    ra, dec, begin, end = _vis_request(q, now=service.now, hires=hires)
    times = orbit.minutes(begin, end)
    found = orbit.windows(times, orbit.observable(service.rules, ra, dec, times, hires=hires))
    return {
        "ra": ra,
        "dec": dec,
        "begin": _iso(begin),
        "end": _iso(end),
        "hires": hires,
        "windows": [{"begin": _iso(b), "end": _iso(e)} for b, e in found],
    }


def _vis_request(
    q: MultiMapping[str], *, now: datetime, hires: bool
) -> tuple[float, float, datetime, datetime]:
    ra, dec = _float(q, "ra"), _float(q, "dec")
    if ra is None or dec is None:
        raise BadQueryError("ra" if ra is None else "dec", "Field required")
    begin, end = _span(q, default_days=7.0)
    begin = begin or now
    end = end or begin + timedelta(days=7)
    if end - begin > (MAX_HIRES if hires else MAX_LOWRES):
        limit = "20 days with hires" if hires else "366 days"
        raise BadQueryError("end", f"The span may be at most {limit}.")
    return ra, dec, begin, end


def _selection(q: MultiMapping[str]) -> dict[str, Any]:
    """The PlanQuery/ObsQuery filters (at least one, as the client itself demands)."""
    ra, dec, radius = _float(q, "ra"), _float(q, "dec"), _float(q, "radius")
    begin, end = _span(q, default_days=None)
    try:
        target_ids = {int(v) for v in q.getall("target_id", [])}
    except ValueError:
        raise BadQueryError("target_id", "Input should be a valid integer") from None
    obs_ids = set(q.getall("obs_id", []))
    if all(v is None for v in (ra, dec, begin, end)) and not (target_ids or obs_ids):
        raise BadQueryError(
            "argument",
            "At least one of 'begin', 'end', 'length', 'ra', 'dec',  'target_id', or 'obs_id' "
            "must be provided",
        )
    return {
        "position": (ra, dec, radius if radius is not None else 0.2)
        if ra is not None and dec is not None
        else None,
        "begin": begin,
        "end": end,
        "target_ids": target_ids,
        "obs_ids": obs_ids,
    }


def _pick(
    service: SwiftService, sel: dict[str, Any], *, until: datetime, flown: bool
) -> Iterable[tuple[Target, Observation]]:
    position = sel["position"]
    targets = service.sky.targets() if position is None else service.sky.near(*position)
    for target in targets:
        if sel["target_ids"] and target.target_id not in sel["target_ids"]:
            continue
        for obs in service.sky.observations(target.target_id, completed_only=flown):
            if obs.start > until or (sel["obs_ids"] and obs.obsid not in sel["obs_ids"]):
                continue
            if sel["begin"] is not None and obs.end < sel["begin"]:
                continue
            if sel["end"] is not None and obs.start > sel["end"]:
                continue
            yield target, obs


def _entry(target: Target, obs: Observation, *, flown: bool) -> dict[str, Any]:
    common = {
        "begin": _iso(orbit.swift_time(obs.start)),
        "end": _iso(orbit.swift_time(obs.end)),
        "target_name": target.name,
        "ra": target.ra,
        "dec": target.dec,
        "roll": 0.0,
        "target_id": target.target_id,
        "segment": int(obs.obsid[-3:]),
        "obs_id": obs.obsid,
        "bat_mode": 0,
        "xrt_mode": XRT_CODE.get(obs.mode, 7),
        "uvot_mode": UVOT_DEFAULT,
    }
    if not flown:
        return common | {"fom": 50.0}
    settle = orbit.swift_time(obs.start + SLEW)
    return common | {
        "settle": _iso(settle),
        "obstype": "AT" if target.target_id >= 3_000_000 else "PPT",
        "ra_object": target.ra,
        "dec_object": target.dec,
        "fom": 50,
    }


def timeline(service: SwiftService, q: MultiMapping[str], *, flown: bool) -> dict[str, Any]:
    """PlanQuery's (``flown=False``) or ObsQuery's answer, without its status."""
    now = service.now
    sel = _selection(q)
    limit = q.get("limit")
    try:
        count = int(limit) if limit not in (None, "") else None
    except ValueError:
        raise BadQueryError("limit", "Input should be a valid integer") from None
    until = now if flown else now + PPST_AHEAD
    rows = sorted(_pick(service, sel, until=until, flown=flown), key=lambda r: r[1].start)
    if flown:
        rows = [r for r in rows if r[1].end <= now]
    if q.get("order", "").lower() == "desc":
        rows.reverse()
    entries = [_entry(t, o, flown=flown) for t, o in rows[:count]]
    key = "afstmax" if flown else "ppstmax"
    return {"entries": entries, key: _iso(orbit.swift_time(until))}


def _timeline(*, flown: bool) -> Callable[[web.Request], Any]:
    async def handler(request: web.Request) -> web.Response:
        try:
            body = timeline(_service(request), request.query, flown=flown)
        except BadQueryError as exc:
            return _unprocessable(exc)
        return web.json_response(body | {"status": ACCEPTED})

    return handler


async def saa(request: web.Request) -> web.Response:
    try:
        entries = saa_passages(_service(request), request.query)
    except BadQueryError as exc:
        return _unprocessable(exc)
    return web.json_response({"entries": entries, "status": ACCEPTED})


def saa_passages(service: SwiftService, q: MultiMapping[str]) -> list[dict[str, str]]:
    """The SAA passages of the span asked for (UTC), clipped to it."""
    begin, end = _span(q, default_days=1.0)
    begin = begin or service.now.replace(hour=0, minute=0, second=0, microsecond=0)
    end = end or begin + timedelta(days=1)
    if end - begin > MAX_HIRES:
        raise BadQueryError("end", "The span may be at most 20 days.")
    bat = q.get("bat", "false").lower() == "true"
    times = orbit.minutes(begin, end)
    passages = orbit.windows(times, orbit.in_saa(service.rules, times, bat=bat))
    # Passages are clipped to the span asked for (a passage under way at ``begin`` starts there).
    return [{"begin": _iso(max(b, begin)), "end": _iso(min(e, end))} for b, e in passages]


async def clock(request: web.Request) -> web.Response:
    try:
        entries = clock_entries(request.query)
    except BadQueryError as exc:
        return _unprocessable(exc)
    return web.json_response({"entries": entries, "status": ACCEPTED})


def clock_entries(q: MultiMapping[str]) -> list[dict[str, Any]]:
    """MET, UTCF and time base of each time asked for (one of met, utctime, swifttime)."""
    given = [name for name in ("met", "utctime", "swifttime") if name in q]
    if len(given) != 1:
        raise BadQueryError(
            "argument", "Exactly one of 'met', 'utctime', or 'swifttime' must be provided"
        )
    entries = []
    try:
        for raw in q.getall(given[0]):
            if given[0] == "met":
                met = float(raw)
                swift = orbit.MET_EPOCH + timedelta(seconds=met)
                utc_time = swift + timedelta(seconds=orbit.utcf(swift))
            else:
                parsed = datetime.fromisoformat(raw.strip().replace(" ", "T", 1))
                when = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed
                swift = orbit.swift_time(when) if given[0] == "utctime" else when
                utc_time = when if given[0] == "utctime" else swift
                met = orbit.met_of_swift_time(swift)
            correction = orbit.utcf(utc_time)
            entries.append({"met": met, "utcf": correction, "isutc": given[0] == "utctime"})
    except ValueError:
        raise BadQueryError(given[0], "Input should be a valid number or datetime") from None
    return entries


ROUTES: Final = (
    ("/swift/visquery", visquery),
    ("/swift/planquery", _timeline(flown=False)),
    ("/swift/obsquery", _timeline(flown=True)),
    ("/swift/saa", saa),
    ("/swift/clock", clock),
)


def add_routes(app: web.Application, prefix: str) -> None:
    for path, handler in ROUTES:
        app.router.add_get(prefix + path, handler)
        app.router.add_get(prefix + path + "/", handler)
