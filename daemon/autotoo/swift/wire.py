"""Wire encodings of a :class:`TooRequest`, field for field as the official clients send them.

v2 (swifttools 4.x): form fields in the client's order, ``None`` omitted, booleans
``true``/``false``, ``xrt_mode`` as its integer code, integer UVOT modes as ``0x%04X``,
``exp_time_per_visit`` as a float, ``exposure`` as an int, times ISO-8601 naive UTC.

v1 (swifttools 3.0.24): the JSON ``api_data`` of the JWT, keys in the client's order,
``source_name``/``source_type``, ``xrt_mode`` by name, UVOT modes as ``0x%04x``, ``exposure`` as a
float, ``obs_n`` derived, times ``YYYY-MM-DD HH:MM:SS``. Values keep their Python types, so the
signed token is byte-identical to the one swifttools produces for the same TOO.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from autotoo.swift.model import TooRequest
from autotoo.swift.modes import XRT_MODES

MARKER_PREFIX = "[autotoo:"


def marker_text(marker: str) -> str:
    return f"{MARKER_PREFIX}{marker}]"


def _science(req: TooRequest) -> str | None:
    if req.marker is None:
        return req.science_just
    # rstrip: a folded YAML scalar (``science_just: >``) ends in a newline of its own.
    return f"{(req.science_just or '').rstrip()}\n\n{marker_text(req.marker)}"


def _str(value: object) -> str | None:
    return None if value is None else str(value)


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _iso_utc(value: datetime) -> str:
    return value.astimezone(UTC).replace(tzinfo=None).isoformat()


def v2_form(req: TooRequest, *, username: str) -> list[tuple[str, str]]:
    """The ``POST /swift/too`` form, in swifttools 4.0.5's field order."""
    uvot = f"0x{req.uvot_mode:04X}" if isinstance(req.uvot_mode, int) else req.uvot_mode
    per_visit = None if req.exp_time_per_visit is None else float(req.exp_time_per_visit)
    fields: list[tuple[str, str | None]] = [
        ("target_name", req.target_name),
        ("target_type", req.target_type),
        ("ra", _str(req.ra)),
        ("dec", _str(req.dec)),
        ("poserr", _str(req.poserr)),
        ("instrument", req.instrument),
        ("obs_type", req.obs_type),
        ("urgency", str(req.urgency)),
        ("opt_mag", _str(req.opt_mag)),
        ("opt_filt", req.opt_filt),
        ("xrt_countrate", _str(req.xrt_countrate)),
        ("bat_countrate", _str(req.bat_countrate)),
        ("other_brightness", req.other_brightness),
        ("grb_detector", req.grb_detector),
        ("grb_triggertime", None if req.grb_triggertime is None else _iso_utc(req.grb_triggertime)),
        ("uvot_mode", uvot),
        ("science_just", _science(req)),
        ("immediate_objective", req.immediate_objective),
        ("exposure", None if req.exposure is None else str(int(req.exposure))),
        ("proposal", _bool(req.proposal)),
        ("proposal_id", req.proposal_id),
        ("proposal_trigger_just", req.proposal_trigger_just),
        ("proposal_pi", req.proposal_pi),
        ("uvot_just", req.uvot_just or ""),
        ("xrt_mode", str(req.xrt_mode)),
        ("tiling", _bool(req.tiling)),
        ("number_of_tiles", _str(req.number_of_tiles)),
        (
            "exposure_time_per_tile",
            None if req.exposure_time_per_tile is None else str(float(req.exposure_time_per_tile)),
        ),
        ("tiling_justification", req.tiling_justification),
        ("exp_time_just", req.exp_time_just),
        ("exp_time_per_visit", _str(per_visit)),
        ("num_of_visits", str(req.num_of_visits)),
        ("monitoring_freq", req.monitoring_freq),
        ("username", username),
        ("debug", _bool(req.debug)),
        ("quiet", _bool(True if req.quiet is None else req.quiet)),
        ("validate_only", _bool(req.validate_only)),
    ]
    return [(k, v) for k, v in fields if v is not None]


def v1_api_data(req: TooRequest, *, username: str) -> dict[str, Any]:
    """The ``Swift_TOO_Request`` ``api_data``, in swifttools 3.0.24's key order."""
    uvot = f"0x{req.uvot_mode:04x}" if isinstance(req.uvot_mode, int) else req.uvot_mode
    trigger = None
    if req.grb_triggertime is not None:
        trigger = str(req.grb_triggertime.astimezone(UTC).replace(tzinfo=None))
    data: dict[str, Any] = {
        "username": username,
        "source_name": req.target_name,
        "source_type": req.target_type,
        "ra": req.ra,
        "dec": req.dec,
        "poserr": 0.0 if req.poserr is None else req.poserr,
        "instrument": req.instrument,
        "urgency": req.urgency,
        "opt_mag": req.opt_mag,
        "opt_filt": req.opt_filt,
        "xrt_countrate": req.xrt_countrate,
        "bat_countrate": req.bat_countrate,
        "other_brightness": req.other_brightness,
        "grb_detector": req.grb_detector,
        "immediate_objective": req.immediate_objective,
        "science_just": _science(req),
        "exposure": None if req.exposure is None else float(req.exposure),
        "exp_time_just": req.exp_time_just,
        "exp_time_per_visit": req.exp_time_per_visit,
        "num_of_visits": req.num_of_visits,
        "monitoring_freq": req.monitoring_freq,
        "proposal": req.proposal or None,
        "proposal_id": req.proposal_id,
        "proposal_trigger_just": req.proposal_trigger_just,
        "proposal_pi": req.proposal_pi,
        "xrt_mode": XRT_MODES[req.xrt_mode],
        "uvot_mode": uvot,
        "uvot_just": req.uvot_just,
        "slew_in_place": req.slew_in_place,
        "tiling": req.tiling or None,
        "number_of_tiles": req.number_of_tiles,
        "exposure_time_per_tile": req.exposure_time_per_tile,
        "tiling_justification": req.tiling_justification,
        "obs_n": "multiple" if req.num_of_visits > 1 else "single",
        "obs_type": req.obs_type,
        "grb_triggertime": trigger,
        "debug": req.debug,
        "validate_only": req.validate_only,
        "quiet": False if req.quiet is None else req.quiet,
    }
    return {k: v for k, v in data.items() if v is not None}
