"""What the emulated service accepts as a TOO request (its own schema, independent of our client).

v2 receives form strings, v1 JSON values; both are read into the same models. v2 demands what
swifttools 4's form schema demands (the client was aligned with the server's ``openapi.json``);
v1 is looser, like its client.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator

OBS_TYPES = ("Spectroscopy", "Light Curve", "Position", "Timing")
XRT_MODES = {
    "Auto": 0, "Null": 1, "ShortIM": 2, "LongIM": 3, "PUPD": 4, "LRPD": 5, "WT": 6, "PC": 7,
    "Raw": 8, "Bias": 9, "PC_150": 150, "PC_200": 200, "Manual": 255,
}  # fmt: skip
XRT_NAMES = {v: k for k, v in XRT_MODES.items()}
_CADENCE = re.compile(
    r"^\s*\d+(\.\d+)?\s+(second|minute|hour|day|week|month|year|orbit)s?\s*$", re.IGNORECASE
)


def _utc(value: Any) -> Any:
    if value in (None, ""):
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.strip())
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value


class TooFormV1(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True, populate_by_name=True)

    username: str
    target_name: str = Field(validation_alias=AliasChoices("target_name", "source_name"))
    target_type: str = Field(validation_alias=AliasChoices("target_type", "source_type"))
    ra: float = Field(ge=0, le=360)
    dec: float = Field(ge=-90, le=90)
    poserr: float | None = None
    instrument: Literal["XRT", "UVOT", "BAT"] = "XRT"
    obs_type: Literal["Spectroscopy", "Light Curve", "Position", "Timing"]
    urgency: int = Field(3, ge=0, le=4)
    opt_mag: str | None = None
    opt_filt: str | None = None
    xrt_countrate: str | None = None
    bat_countrate: str | None = None
    other_brightness: str | None = None
    grb_detector: str | None = None
    grb_triggertime: datetime | None = None
    uvot_mode: str = "0x9999"
    uvot_just: str | None = None
    science_just: str
    immediate_objective: str | None = None
    exp_time_just: str
    exposure: float | None = None
    exp_time_per_visit: float | None = None
    num_of_visits: int = Field(1, ge=1)
    monitoring_freq: str | None = None
    proposal: bool = False
    proposal_id: str | None = None
    proposal_pi: str | None = None
    proposal_trigger_just: str | None = None
    xrt_mode: int = 7
    tiling: bool = False
    number_of_tiles: Literal["4", "7", "19", "37", "Other"] | None = None
    exposure_time_per_tile: float | None = None
    tiling_justification: str | None = None
    debug: bool = False
    quiet: bool = False
    validate_only: bool = False

    _t = field_validator("grb_triggertime", mode="before")(_utc)

    @field_validator("number_of_tiles", mode="before")
    @classmethod
    def _tiles_as_text(cls, value: Any) -> Any:
        """v1 clients send the count as a number (``19``), v2 forms as text (``"19"``)."""
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("xrt_mode", mode="before")
    @classmethod
    def _xrt(cls, value: Any) -> Any:
        if isinstance(value, str) and value in XRT_MODES:
            return XRT_MODES[value]
        if int(value) not in XRT_NAMES:
            raise ValueError(f"Unknown XRT mode {value}")
        return value

    @field_validator("uvot_mode", mode="before")
    @classmethod
    def _uvot(cls, value: Any) -> Any:
        return f"0x{value:04x}" if isinstance(value, int) else value

    @property
    def uvot_code(self) -> int | str:
        """The mode number (hex case-insensitive, ``"0x30ed:..."`` allowed), or the free text."""
        head = self.uvot_mode.strip().split(":", 1)[0]
        if re.fullmatch(r"0x[0-9a-fA-F]{1,4}", head):
            return int(head, 16)
        if head.isascii() and head.isdigit():
            return int(head)
        return self.uvot_mode

    @property
    def total_exposure(self) -> float:
        if self.exposure:
            return self.exposure
        return (self.exp_time_per_visit or 0.0) * self.num_of_visits

    @property
    def per_visit(self) -> float:
        return self.exp_time_per_visit or self.total_exposure / self.num_of_visits

    def content(self) -> tuple[tuple[str, Any], ...]:
        """What makes two submissions the same request, apart from the position.

        Everything the requester wrote counts, so any change (a new urgency, an edited
        justification) makes a new request. Left out: the processing flags (``debug`` is
        compared on its own, ``quiet`` and ``validate_only`` do not change the request), the
        position (compared within a radius, since a client may re-derive it), and how the
        exposure was spelled (a total or per-visit figure with the same outcome is the same).
        """
        data = self.model_dump(
            mode="json",
            exclude={"debug", "quiet", "validate_only", "ra", "dec", "exposure"}
            | {"exp_time_per_visit"},
        )
        data["total_exposure"] = self.total_exposure
        data["per_visit"] = self.per_visit
        return tuple(sorted(data.items()))

    def problems(self) -> list[str]:
        """Content rules the service applies after parsing (messages as its clients show them)."""
        errors: list[str] = []
        if self.proposal and (self.proposal_id is None or self.proposal_pi is None):
            errors.append("Must specify proposal ID and PI if GI proposal.")
        if self.proposal and self.proposal_trigger_just is None:
            errors.append("Must specify proposal trigger justification if GI TOO.")
        if self.tiling and not self.tiling_justification:
            errors.append("Must specify tiling justification if tiling is True.")
        if self.target_type == "GRB" and (
            self.grb_triggertime is None or self.grb_detector is None
        ):
            errors.append("Must specify GRB trigger time and detector if source type is GRB.")
        if self.num_of_visits > 1 and not self.monitoring_freq:
            errors.append(
                "Must specify monitoring frequency if number of visits is greater than 1."
            )
        if self.monitoring_freq and not _CADENCE.match(self.monitoring_freq):
            errors.append(f"Monitoring cadence ({self.monitoring_freq}) not valid.")
        if not self.total_exposure:
            errors.append("Must specify exposure time per visit if number of visits is specified.")
        return errors


class TooFormV2(TooFormV1):
    """v2 demands the objective, the total exposure and a brightness (swifttools 4 form schema)."""

    immediate_objective: str
    exposure: float
    quiet: bool = True

    def problems(self) -> list[str]:
        errors = super().problems()
        optical = self.opt_mag is not None and self.opt_filt is not None
        if not optical and not (self.xrt_countrate or self.bat_countrate or self.other_brightness):
            errors.append(
                "Must specify at least one brightness value. If specifying optical brightness, "
                "ensure filter is set."
            )
        if not self.uvot_just and "0x9999" not in self.uvot_mode.lower():
            errors.append(
                "Must specify UVOT justification if UVOT mode is not filter of the day (0x9999)."
            )
        return errors


def fastapi_detail(exc: ValidationError) -> list[dict[str, Any]]:
    """A pydantic error as FastAPI's 422 ``detail`` list."""
    return [
        {"loc": ["body", *err["loc"]], "msg": err["msg"], "type": err["type"]}
        for err in exc.errors(include_url=False, include_context=False, include_input=False)
    ]


def v1_messages(exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors(include_url=False):
        name = ".".join(str(p) for p in err["loc"])
        out.append(f"Missing key: {name}" if err["type"] == "missing" else f"{name}: {err['msg']}")
    return out
