"""Client-side validation: the v1 client's rules and the v2 client's rules, every problem at once.

The messages are the clients' own, so a user who knows swifttools recognises them. The
one correction swifttools makes (total exposure recomputed from per-visit x visits) is applied to
the returned copy and reported as a warning with swifttools' wording.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from autotoo.swift.model import TooRequest
from autotoo.swift.modes import (
    INSTRUMENTS,
    MONITORING_UNITS,
    MONITORING_UNITS_V2,
    NUMBER_OF_TILES,
    OBS_TYPES,
)

Protocol = Literal["v1", "v2"]

EXPOSURE_CORRECTED = "INFO: Total exposure time does not match total of individuals. Correcting."
SINGLE_VISIT_CADENCE = "1 day"


@dataclass(slots=True)
class Validated:
    request: TooRequest  # corrected copy: what will be sent
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def _names(protocol: Protocol) -> tuple[str, str]:
    return ("source_name", "source_type") if protocol == "v1" else ("target_name", "target_type")


def _missing(req: TooRequest, protocol: Protocol) -> list[str]:
    name_key, type_key = _names(protocol)
    required = {
        "ra": req.ra,
        "dec": req.dec,
        "num_of_visits": req.num_of_visits,
        "exp_time_just": req.exp_time_just,
        type_key: req.target_type,
        name_key: req.target_name,
        "science_just": req.science_just,
        "obs_type": req.obs_type,
    }
    if protocol == "v2":
        required["immediate_objective"] = req.immediate_objective
    errors = [f"Missing key: {key}" for key, value in required.items() if value in (None, "")]
    if req.proposal:
        errors += [
            f"Missing key: {key}"
            for key in ("proposal_id", "proposal_pi", "proposal_trigger_just")
            if getattr(req, key) in (None, "")
        ]
    if req.target_type == "GRB":
        errors += [
            f"Missing key: {key}"
            for key in ("grb_triggertime", "grb_detector")
            if getattr(req, key) in (None, "")
        ]
    return errors


def _ranges(req: TooRequest, protocol: Protocol) -> list[str]:
    errors: list[str] = []
    if req.obs_type is not None and req.obs_type not in OBS_TYPES:
        errors.append(f"Observation Type needs to be one of the following: {list(OBS_TYPES)}")
    if req.instrument not in INSTRUMENTS:
        errors.append(f"Instrument name ({req.instrument}) not valid")
    lowest = 0 if protocol == "v2" else 1
    if not lowest <= req.urgency <= 4:
        allowed = "0, 1, 2, 3 or 4" if protocol == "v2" else "1, 2, 3 or 4"
        errors.append(f"urgency: Input should be {allowed}")
    if req.ra is not None and not 0.0 <= req.ra < 360.0:
        errors.append(f"ra: {req.ra} is outside 0 <= ra < 360")
    if req.dec is not None and not -90.0 <= req.dec <= 90.0:
        errors.append(f"dec: {req.dec} is outside -90 <= dec <= 90")
    if req.num_of_visits < 1:
        errors.append("num_of_visits: Input should be at least 1")
    if req.number_of_tiles is not None and str(req.number_of_tiles) not in NUMBER_OF_TILES:
        errors.append("number_of_tiles: Input should be '4', '7', '19', '37' or 'Other'")
    return errors


def _cadence_errors(cadence: str | None, protocol: Protocol) -> list[str]:
    if cadence is None:
        return []
    parts = cadence.split()
    if len(parts) != 2:
        return [f"Monitoring cadence ({cadence}) should be '<number> <unit>', e.g. '2 days'"]
    number, unit = parts
    unit = unit.removesuffix("s")
    errors: list[str] = []
    try:
        float(number)
    except ValueError:
        errors.append(f"Monitoring cadence ({cadence}) should start with a number")
    allowed = MONITORING_UNITS if protocol == "v1" else MONITORING_UNITS_V2
    if unit not in allowed:
        errors.append(f"Monitoring unit ({unit}) not valid")
    return errors


def _v2_rules(req: TooRequest) -> list[str]:
    """The v2 client's model rules (swifttools 4 ``SwiftTOOFormSchema``), verbatim."""
    errors: list[str] = []
    if req.tiling and not req.tiling_justification:
        errors.append("Must specify tiling justification if tiling is True.")
    optical = req.opt_mag is not None and req.opt_filt is not None
    if not (
        optical
        or any(v is not None for v in (req.xrt_countrate, req.bat_countrate, req.other_brightness))
    ):
        errors.append(
            "Must specify at least one brightness value. If specifying optical brightness, "
            "ensure filter is set."
        )
    if not req.uvot_just and "0x9999" not in _v2_uvot(req):
        errors.append(
            "Must specify UVOT justification if UVOT mode is not filter of the day (0x9999)."
        )
    return errors


def _v2_uvot(req: TooRequest) -> str:
    mode = req.uvot_mode
    return f"0x{mode:04X}" if isinstance(mode, int) else mode


def _exposure(req: TooRequest, warnings: list[str], errors: list[str]) -> dict[str, object]:
    """swifttools' exposure bookkeeping; returns the corrections to apply."""
    per, visits, total = req.exp_time_per_visit, req.num_of_visits, req.exposure
    if not per and not total:
        errors.append("Must specify exposure time per visit if number of visits is specified.")
        return {}
    if visits == 1:
        return {} if total else {"exposure": per}
    if not per:
        assert total is not None  # both unset returned above
        return {"exp_time_per_visit": int(total / visits)}
    if per * visits != total:
        warnings.append(EXPOSURE_CORRECTED)
        return {"exposure": per * visits}
    return {}


def validate_request(request: TooRequest, protocol: Protocol = "v2") -> Validated:
    """Check a request as the protocol's client would, and return the copy to send."""
    errors = _missing(request, protocol) + _ranges(request, protocol)
    warnings: list[str] = []
    update = _exposure(request, warnings, errors)
    if request.num_of_visits > 1 and not request.monitoring_freq:
        errors.append("Need monitoring cadence.")
    errors += _cadence_errors(request.monitoring_freq, protocol)
    if protocol == "v2":
        errors += _v2_rules(request)
        if request.monitoring_freq is None and request.num_of_visits == 1:
            # The v2 service's form demands a cadence even for one visit (we send 1 day).
            update["monitoring_freq"] = SINGLE_VISIT_CADENCE
    fixed = request.model_copy(update=update) if update else request
    return Validated(request=fixed, errors=errors, warnings=warnings)
