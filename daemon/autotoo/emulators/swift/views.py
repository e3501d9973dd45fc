"""TOO records and calendar entries as each protocol writes them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from autotoo.emulators.sky import within_deg
from autotoo.emulators.swift.forms import XRT_NAMES
from autotoo.emulators.swift.service import SwiftService, TooEntry

_TEXTS = (
    "science_just",
    "immediate_objective",
    "exp_time_just",
    "uvot_just",
    "proposal_trigger_just",
)


def v1_time(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S")


def v2_time(value: datetime) -> str:
    return value.replace(tzinfo=None).isoformat(timespec="seconds")


def calendar(service: SwiftService, entry: TooEntry, *, v1: bool) -> list[dict[str, Any]]:
    if not entry.approved(service.now):
        return []
    fmt = v1_time if v1 else v2_time
    out = []
    for obs in entry.observations:
        flown = service.flown(obs)
        item: dict[str, Any] = {
            ("start" if v1 else "begin"): fmt(obs.start),
            ("stop" if v1 else "end"): fmt(obs.end),
            "xrt_mode": entry.form.xrt_mode,
            "uvot_mode": entry.form.uvot_code if isinstance(entry.form.uvot_code, int) else 0x9999,
            "duration": obs.exposure_s,
            "asflown": obs.exposure_s if flown else 0.0,
            ("targetid" if v1 else "target_id"): obs.target_id,
            "ra": entry.form.ra,
            "dec": entry.form.dec,
            "obsid": obs.obsid if flown else None,
        }
        if v1:
            out.append({"api_name": "Swift_Calendar_Entry", "api_data": item})
        else:
            out.append(item)
    return out


def calendar_matching(
    service: SwiftService,
    *,
    v1: bool,
    too_id: int | None = None,
    target_id: int | None = None,
    ra: float | None = None,
    dec: float | None = None,
    radius: float | None = None,
    begin: datetime | None = None,
    end: datetime | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """The Calendar's windows of approved TOOs (both protocols): by ``too_id``, or by
    position (``ra``/``dec`` within ``radius``, default 0.2 deg), time span (windows that
    overlap ``begin``-``end``) and ``target_id``; ``limit`` caps the entries. Windows are
    public. v2 entries also carry their ``too_id`` (v1's entry class has no such field)."""
    entries: list[dict[str, Any]] = []
    for too in sorted(service.toos.values(), key=lambda e: e.too_id):
        if too_id is not None and too.too_id != too_id:
            continue
        if target_id is not None and too.target_id != target_id:
            continue
        within = radius if radius is not None else 0.2
        if (
            ra is not None
            and dec is not None
            and not within_deg(ra, dec, too.form.ra, too.form.dec, within)
        ):
            continue
        for item in calendar(service, too, v1=v1):
            data = item["api_data"] if v1 else item
            starts = _aware(datetime.fromisoformat(data["start" if v1 else "begin"]))
            ends = _aware(datetime.fromisoformat(data["stop" if v1 else "end"]))
            if (begin is not None and ends < begin) or (end is not None and starts > end):
                continue
            entries.append(item if v1 else item | {"too_id": too.too_id})
    return entries[:limit] if limit else entries


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def record(
    service: SwiftService, entry: TooEntry, *, viewer: str, detail: bool, v1: bool
) -> dict[str, Any]:
    """One listing entry; justification texts only for the owner asking with ``detail``."""
    now = service.now
    form = entry.form
    approved = entry.approved(now)
    flown = [o for o in entry.observations if service.flown(o)]
    data: dict[str, Any] = {
        "too_id": entry.too_id,
        "timestamp": (v1_time if v1 else v2_time)(entry.timestamp),
        ("source_name" if v1 else "target_name"): form.target_name,
        ("source_type" if v1 else "target_type"): form.target_type,
        "ra": form.ra,
        "dec": form.dec,
        "poserr": form.poserr,
        "instrument": form.instrument,
        "urgency": form.urgency,
        "opt_mag": form.opt_mag,
        "opt_filt": form.opt_filt,
        "xrt_countrate": form.xrt_countrate,
        "bat_countrate": form.bat_countrate,
        "other_brightness": form.other_brightness,
        "grb_detector": form.grb_detector,
        "exp_time_per_visit": form.per_visit,
        "num_of_visits": form.num_of_visits,
        "monitoring_freq": form.monitoring_freq,
        "obs_type": form.obs_type,
        "decision": "Approved" if approved else "Pending",
        "done": int(bool(flown) and len(flown) == len(entry.observations)),
        "target_id": entry.target_id if approved else None,
        "l_name": entry.username,
    }
    if approved:
        first, last = entry.observations[0], entry.observations[-1]
        data |= {
            "date_begin": first.start.date().isoformat(),
            "date_end": last.end.date().isoformat(),
            "xrt_mode_approved": form.xrt_mode,
            "uvot_mode_approved": form.uvot_code if isinstance(form.uvot_code, int) else 0x9999,
            "exp_time_per_visit_approved": int(form.per_visit),
            "num_of_visits_approved": form.num_of_visits,
            "total_exp_time_approved": int(form.total_exposure),
        }
        entries = calendar(service, entry, v1=v1)
        cal = {"too_id": entry.too_id, "entries": entries}
        data["calendar"] = {"api_name": "Swift_Calendar", "api_data": cal} if v1 else cal
    if v1:
        data["xrt_mode"] = XRT_NAMES[form.xrt_mode]
        data["uvot_mode"] = form.uvot_mode
    else:
        data["xrt_mode"] = form.xrt_mode
        data["uvot_mode"] = form.uvot_mode
    if detail and viewer == entry.username:
        data |= {k: getattr(form, k) for k in _TEXTS}
    data = {k: v for k, v in data.items() if v is not None}
    return {"api_name": "Swift_TOO_Request", "api_data": data} if v1 else data
