"""The one list of TOO request fields and XRT product parameters a rule may set.

Rule values are literals or Jinja2 templates; after rendering, each value is coerced to the
field's :class:`FieldType` (a template that renders ``"2"`` for ``urgency`` becomes ``2``).
Literal values are checked against the same table at load, so ``check-config`` reports a bad
``obs_type`` before any alert arrives. The Swift client's request model stays the final
validator of the rendered dict; this table only has to agree with it on names and kinds.

TOO field names follow swifttools' v1/``api_data`` spelling (``source_name``, ``source_type``),
which is also what the interface documents; the Swift client maps them to v2 wire names.
XRT parameter names are the swifttools Python names (``binMeth``, ``posErr``), taken from the
UKSSDC client's parameter table so that there is one list.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

from autotoo.xrtrequest.params import GLOBALS, PRODUCTS, Par, Product


class FieldType(Enum):
    STR = "string"
    INT = "integer"
    FLOAT = "number"
    BOOL = "boolean"
    MODE = "mode"  # an int or a string code, e.g. uvot_mode 0x9999 or "0x30ed"


@dataclass(frozen=True, slots=True)
class FieldSpec:
    kind: FieldType
    help: str
    choices: tuple[object, ...] = ()
    fold_case: bool = False  # text is lower-cased before the choices check


S, N, F, B, M = FieldType.STR, FieldType.INT, FieldType.FLOAT, FieldType.BOOL, FieldType.MODE

#: Every TOO field a rule may set (``ra``/``dec``/``poserr`` come from ``position``).
TOO_FIELDS: dict[str, FieldSpec] = {
    "source_name": FieldSpec(S, "object name (v2 wire name: target_name)"),
    "source_type": FieldSpec(S, 'object class, e.g. "GRB", "X-ray transient"'),
    "instrument": FieldSpec(S, "most critical instrument", ("XRT", "UVOT", "BAT")),
    "urgency": FieldSpec(
        N, "0 urgent, 1 within 4 h, 2 within 24 h, 3 days, 4 weeks", (0, 1, 2, 3, 4)
    ),
    "obs_type": FieldSpec(
        S, "what drives the exposure", ("Spectroscopy", "Light Curve", "Position", "Timing")
    ),
    "exp_time_per_visit": FieldSpec(N, "exposure per visit, seconds"),
    "num_of_visits": FieldSpec(N, "number of visits"),
    "monitoring_freq": FieldSpec(S, 'cadence, e.g. "1 day", "3 orbits"'),
    "exposure": FieldSpec(N, "total exposure, seconds (default: per visit x visits)"),
    "exp_time_just": FieldSpec(S, "exposure time justification"),
    "xrt_countrate": FieldSpec(F, "expected XRT count rate, counts/s"),
    "bat_countrate": FieldSpec(F, "expected BAT count rate, counts/s"),
    "opt_mag": FieldSpec(F, "optical magnitude (needs opt_filt)"),
    "opt_filt": FieldSpec(S, "filter of opt_mag"),
    "other_brightness": FieldSpec(S, "brightness in free text"),
    "grb_detector": FieldSpec(S, 'mission/detector, e.g. "Swift/BAT", "Fermi/GBM" (GRB only)'),
    "grb_triggertime": FieldSpec(S, "GRB trigger time, UTC ISO (GRB only)"),
    "immediate_objective": FieldSpec(S, "one-sentence objective"),
    "science_just": FieldSpec(S, "science justification"),
    "xrt_mode": FieldSpec(
        M, "XRT mode: PC, WT, Auto (or their codes 7, 6, 0)", ("PC", "WT", "Auto", 7, 6, 0)
    ),
    "uvot_mode": FieldSpec(M, "UVOT mode code; 0x9999 is filter of the day"),
    "uvot_just": FieldSpec(S, "UVOT mode justification (needed unless 0x9999)"),
    "slew_in_place": FieldSpec(B, "slew in place (grism); v1 only"),
    "tiling": FieldSpec(B, "request a tiled observation"),
    "number_of_tiles": FieldSpec(S, "number of tiles", ("4", "7", "19", "37", "Other")),
    "exposure_time_per_tile": FieldSpec(N, "exposure per tile, seconds"),
    "tiling_justification": FieldSpec(S, "why tiling is needed"),
    "proposal": FieldSpec(B, "this TOO belongs to a GI program"),
    "proposal_id": FieldSpec(S, "GI program ID"),
    "proposal_pi": FieldSpec(S, "GI program PI"),
    "proposal_trigger_just": FieldSpec(S, "why the GI trigger criteria are met"),
}

#: Fields without which no Swift TOO can be accepted (both API generations); the Swift
#: client's model checks the conditional ones (GRB, tiling, proposal, UVOT justification).
TOO_REQUIRED = (
    "source_name",
    "source_type",
    "obs_type",
    "immediate_objective",
    "science_just",
    "exp_time_just",
)
TOO_ONE_OF = (
    ("exp_time_per_visit", "exposure"),
    ("xrt_countrate", "bat_countrate", "other_brightness", "opt_mag"),
)


def _xrt_spec(par: Par, *, fold_case: bool) -> FieldSpec:
    types = set(par.types)
    if types == {bool}:
        kind = FieldType.BOOL
    elif types == {int}:
        kind = FieldType.INT
    elif float in types:
        kind = FieldType.FLOAT
    else:
        kind = FieldType.STR
    return FieldSpec(kind, f"JSON name {par.json}", par.allowed, fold_case=fold_case)


def _xrt_product_params(prod: Product) -> dict[str, FieldSpec]:
    """A product's own parameters (list-valued ones such as ``models`` cannot be written in a
    rule), plus the names it routes to shared globals (``whichData`` of the positions)."""
    own = {
        p.name: _xrt_spec(p, fold_case=True) for p in prod.pars if not {list, tuple} & set(p.types)
    }
    routed = {alias: XRT_GLOBALS[name] for alias, name in prod.use_globals.items()}
    return {**routed, **own}


#: XRT globals and product parameters come from the UKSSDC client's own table
#: (``autotoo.xrtrequest.params``), so rules, request builder and emulator agree on names.
#: Product strings with allowed values are compared case-insensitively, as that client does.
XRT_GLOBALS: dict[str, FieldSpec] = {p.name: _xrt_spec(p, fold_case=False) for p in GLOBALS}
XRT_PRODUCTS: dict[str, str] = {prod.long: prod.short for prod in PRODUCTS}
XRT_PRODUCT_PARAMS: dict[str, dict[str, FieldSpec]] = {
    prod.long: _xrt_product_params(prod) for prod in PRODUCTS
}


class CoercionError(ValueError):
    """A value cannot be read as its field's type (a ValueError so pydantic reports it)."""


def _to_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "yes", "1", "false", "no", "0"}:
        return value.strip().lower() in {"true", "yes", "1"}
    if isinstance(value, int) and value in {0, 1}:
        return bool(value)
    raise CoercionError(f"expected true or false, got {value!r}")


def _to_int(value: object) -> int:
    if isinstance(value, bool):
        raise CoercionError(f"expected a whole number, got {value!r}")
    if isinstance(value, int):
        return value
    try:
        number = float(value) if isinstance(value, float | str) else None
    except ValueError:
        number = None
    if number is None or not number.is_integer():
        raise CoercionError(f"expected a whole number, got {value!r}")
    return int(number)


def _to_float(value: object) -> float:
    if isinstance(value, bool):
        raise CoercionError(f"expected a number, got {value!r}")
    try:
        number = float(value) if isinstance(value, int | float | str) else None
    except ValueError:
        number = None
    if number is None or not math.isfinite(number):
        raise CoercionError(f"expected a number, got {value!r}")
    return number


def _to_mode(value: object) -> int | str:
    if isinstance(value, bool):
        raise CoercionError(f"expected a mode name or code, got {value!r}")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    if not text:
        raise CoercionError("expected a mode name or code, got an empty string")
    return text


def coerce(spec: FieldSpec, value: object) -> object:
    """Read ``value`` (a YAML literal or a rendered template) as the field's type."""
    if spec.kind is FieldType.STR:
        if isinstance(value, bool) or value is None:
            raise CoercionError(f"expected text, got {value!r}")
        out: object = str(value)
    elif spec.kind is FieldType.INT:
        out = _to_int(value)
    elif spec.kind is FieldType.FLOAT:
        out = _to_float(value)
    elif spec.kind is FieldType.BOOL:
        out = _to_bool(value)
    else:
        out = _to_mode(value)
    if spec.fold_case and isinstance(out, str):
        out = out.lower()
    if spec.choices and out not in spec.choices:
        allowed = ", ".join(str(c) for c in spec.choices)
        raise CoercionError(f"{out!r} is not one of: {allowed}")
    return out


def format_uvot_mode(mode: int | str) -> str:
    """UVOT modes are hex codes: an int (YAML reads ``0x9999`` as 39321) becomes ``0x9999``."""
    return f"0x{mode:04X}" if isinstance(mode, int) else mode
