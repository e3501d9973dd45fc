"""The TOO request: every field either API generation accepts, protocol-neutral.

Field names follow API v2 (``target_name``/``target_type``); the v1 names
``source_name``/``source_type`` are accepted on input. The model is deliberately lenient about
*content* (a missing justification is not an exception) so that :func:`validate_request` can list
every problem at once, as swifttools' ``validate()`` reports them; only values that can never be
right (an unknown XRT mode, a malformed angle) raise at once, as swifttools' setters do.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

from autotoo.swift.modes import (
    MODES_XRT,
    OBS_TYPES,
    UVOT_FILTER_OF_THE_DAY,
    XRT_MODES,
    uvot_mode_text,
    uvot_mode_value,
    xrt_mode_code,
)

_SEXAGESIMAL = re.compile(r"[:hdms\s]")


def j2000_degrees(coord: Any) -> tuple[float, float]:
    """An astropy ``SkyCoord`` in any frame to J2000 (FK5) decimal degrees, as Swift stores them."""
    fk5 = coord.fk5
    return float(fk5.ra.deg), float(fk5.dec.deg)


def _angle_deg(value: Any, *, hours: bool) -> Any:
    """Decimal degrees from a number, an astropy Angle/Quantity or a sexagesimal string.

    RA strings with ``:`` or ``h`` are hours ("00:52:05.6", "0h52m05.6s"); Dec strings degrees.
    """
    if value is None or isinstance(value, int | float):
        return value
    from astropy import units as u  # noqa: PLC0415 -- astropy is slow to import; only when needed
    from astropy.coordinates import Angle  # noqa: PLC0415 -- as above

    if isinstance(value, str):
        text = value.strip()
        try:
            return float(text)
        except ValueError:
            pass
        if not _SEXAGESIMAL.search(text):
            raise ValueError(f"cannot read an angle from {value!r}")
        unit = u.hourangle if hours and ("h" in text or ":" in text or " " in text) else u.deg
        return float(Angle(text, unit=unit).deg)
    if isinstance(value, u.Quantity):
        return float(value.to(u.deg).value)
    raise ValueError(f"cannot read an angle from {value!r}")


def _utc(value: Any) -> Any:
    """Naive times are UTC (as swifttools >= 4.0.3 assumes); aware ones are converted."""
    if value is None:
        return None
    if hasattr(value, "to_datetime") and hasattr(value, "jd"):  # astropy Time
        value = value.to_datetime(timezone=UTC)
    if isinstance(value, str):
        value = datetime.fromisoformat(value.strip())
    if not isinstance(value, datetime):
        raise ValueError(f"cannot read a time from {value!r}")  # noqa: TRY004 -- pydantic reports ValueError only
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _cadence(value: Any) -> Any:
    """A cadence as "<number> <unit>"; quantities/timedeltas as swifttools spells them."""
    if value is None or isinstance(value, str):
        return value.strip() if isinstance(value, str) and value.strip() else None
    if isinstance(value, timedelta):
        days = value.total_seconds() / 86400.0
    else:
        from astropy import units as u  # noqa: PLC0415 -- lazy, see _angle_deg

        if not isinstance(value, u.Quantity):
            raise ValueError(f"cannot read a cadence from {value!r}")  # noqa: TRY004 -- as above
        days = float(value.to(u.day).value)
    return f"{days} days" if days >= 1.0 else f"{days * 24.0} hours"


class TooRequest(BaseModel):
    """One Swift TOO request. ``validate_assignment``: a bad mode is an error at once."""

    model_config = ConfigDict(
        validate_assignment=True,
        populate_by_name=True,
        extra="forbid",
        arbitrary_types_allowed=True,
    )

    target_name: str | None = Field(
        None, validation_alias=AliasChoices("target_name", "source_name")
    )
    target_type: str | None = Field(
        None, validation_alias=AliasChoices("target_type", "source_type")
    )
    ra: float | None = None
    dec: float | None = None
    poserr: float | None = None  # arcmin, 90% confidence
    instrument: str = "XRT"
    urgency: int = 3
    obs_type: str | None = None
    opt_mag: int | float | str | None = None
    opt_filt: str | None = None
    xrt_countrate: int | float | str | None = None
    bat_countrate: int | float | str | None = None
    other_brightness: str | None = None
    grb_detector: str | None = None
    grb_triggertime: datetime | None = None
    immediate_objective: str | None = None
    science_just: str | None = None
    exp_time_just: str | None = None
    exposure: int | float | None = None  # total, seconds
    exp_time_per_visit: int | float | None = None
    num_of_visits: int = 1
    monitoring_freq: str | None = None
    proposal: bool = False
    proposal_id: str | None = None
    proposal_pi: str | None = None
    proposal_trigger_just: str | None = None
    xrt_mode: int = 7
    uvot_mode: int | str = UVOT_FILTER_OF_THE_DAY
    uvot_just: str | None = None
    slew_in_place: bool | None = None
    tiling: bool = False
    number_of_tiles: int | str | None = None
    exposure_time_per_tile: int | float | None = None
    tiling_justification: str | None = None
    debug: bool = False
    validate_only: bool = False
    quiet: bool | None = None  # None: the protocol's own default (v1 false, v2 true)
    # Our idempotency marker, appended to the science justification so that our own submission
    # can be recognised in the TOO listing after an ambiguous outcome (docs/swift-too.md).
    marker: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _position(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("skycoord") is not None:
            data = dict(data)
            data["ra"], data["dec"] = j2000_degrees(data.pop("skycoord"))
        elif isinstance(data, dict):
            data = {k: v for k, v in data.items() if k != "skycoord"}
        return data

    @field_validator("ra", mode="before")
    @classmethod
    def _ra(cls, value: Any) -> Any:
        return _angle_deg(value, hours=True)

    @field_validator("dec", mode="before")
    @classmethod
    def _dec(cls, value: Any) -> Any:
        return _angle_deg(value, hours=False)

    @field_validator("xrt_mode", mode="before")
    @classmethod
    def _xrt_mode(cls, value: Any) -> Any:
        return xrt_mode_code(value)

    @field_validator("uvot_mode", mode="before")
    @classmethod
    def _uvot_mode(cls, value: Any) -> Any:
        return uvot_mode_value(value)

    @field_validator("grb_triggertime", mode="before")
    @classmethod
    def _triggertime(cls, value: Any) -> Any:
        return _utc(value)

    @field_validator("monitoring_freq", mode="before")
    @classmethod
    def _monitoring_freq(cls, value: Any) -> Any:
        return _cadence(value)

    # ---- conveniences swifttools has --------------------------------------------------------
    @property
    def source_name(self) -> str | None:
        return self.target_name

    @property
    def source_type(self) -> str | None:
        return self.target_type

    @property
    def xrt_mode_name(self) -> str:
        return XRT_MODES[self.xrt_mode]

    @property
    def uvot_mode_text(self) -> str:
        """``0x01ab`` for codes (lower-case, as swifttools prints it), free text unchanged."""
        return uvot_mode_text(self.uvot_mode)

    @property
    def obs_types(self) -> tuple[str, ...]:
        return OBS_TYPES

    def at(self, coord: Any) -> TooRequest:
        """A copy pointed at an astropy ``SkyCoord`` (any frame), in J2000 decimal degrees."""
        ra, dec = j2000_degrees(coord)
        return self.model_copy(update={"ra": ra, "dec": dec})


__all__ = ["MODES_XRT", "TooRequest", "j2000_degrees"]
