"""Reply payloads of both protocols, parsed with pydantic at the boundary into our dataclasses.

The models ignore unknown keys (the services add fields over time) but insist on the few the
pipeline relies on (``too_id``, times that parse, numbers that are numbers).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

from autotoo.swift.modes import uvot_mode_value
from autotoo.swift.results import CalendarEntry, TooRecord, UvotFilter, UvotModeResult


def _time(value: Any) -> Any:
    """``YYYY-MM-DD HH:MM:SS`` (v1) or ISO-8601 (v2); naive means UTC."""
    if value in (None, ""):
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.strip())
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _mode(value: Any) -> Any:
    if value in (None, ""):
        return None
    mode = uvot_mode_value(value)
    return mode if isinstance(mode, int) else None


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class CalendarEntryWire(_Wire):
    begin: datetime | None = Field(None, validation_alias=AliasChoices("begin", "start"))
    end: datetime | None = Field(None, validation_alias=AliasChoices("end", "stop"))
    target_id: int | None = Field(None, validation_alias=AliasChoices("target_id", "targetid"))
    duration: float | None = None
    asflown: float | None = None
    xrt_mode: int | None = None
    uvot_mode: int | None = None
    obsid: str | None = None

    _times = field_validator("begin", "end", mode="before")(_time)
    _uvot = field_validator("uvot_mode", mode="before")(_mode)

    @field_validator("xrt_mode", mode="before")
    @classmethod
    def _xrt(cls, value: Any) -> Any:
        from autotoo.swift.modes import MODES_XRT  # noqa: PLC0415 -- tiny; keeps names local

        return MODES_XRT.get(value, value) if isinstance(value, str) else value

    def entry(self) -> CalendarEntry:
        return CalendarEntry(
            begin=self.begin,
            end=self.end,
            target_id=self.target_id,
            duration=self.duration,
            asflown=self.asflown,
            xrt_mode=self.xrt_mode,
            uvot_mode=self.uvot_mode,
            obsid=self.obsid,
        )


def unwrap(value: Any) -> Any:
    """v1 nests objects as ``{"api_name": ..., "api_data": {...}}``; v2 does not."""
    if isinstance(value, dict) and "api_data" in value and "api_name" in value:
        return value["api_data"]
    return value


class TooRecordWire(_Wire):
    too_id: int
    target_name: str | None = Field(
        None, validation_alias=AliasChoices("target_name", "source_name")
    )
    target_type: str | None = Field(
        None, validation_alias=AliasChoices("target_type", "source_type")
    )
    ra: float | None = None
    dec: float | None = None
    urgency: int | None = None
    timestamp: datetime | None = None
    decision: str | None = None
    done: bool | None = None
    target_id: int | None = None
    date_begin: str | None = None
    date_end: str | None = None
    immediate_objective: str | None = None
    science_just: str | None = None
    exp_time_just: str | None = None
    calendar: Any = None

    _times = field_validator("timestamp", mode="before")(_time)

    def record(self) -> TooRecord:
        cal = unwrap(self.calendar) or {}
        entries = [
            CalendarEntryWire.model_validate(unwrap(e)).entry() for e in cal.get("entries") or []
        ]
        return TooRecord(
            too_id=self.too_id,
            target_name=self.target_name,
            target_type=self.target_type,
            ra=self.ra,
            dec=self.dec,
            urgency=self.urgency,
            timestamp=self.timestamp,
            decision=self.decision,
            done=bool(self.done),
            target_id=self.target_id,
            date_begin=self.date_begin,
            date_end=self.date_end,
            immediate_objective=self.immediate_objective,
            science_just=self.science_just,
            exp_time_just=self.exp_time_just,
            calendar=entries,
        )


class UvotEntryWire(_Wire):
    filter_name: str = ""
    eventmode: int | None = None
    field_of_view: int | None = None
    binning: int | None = None
    max_exposure: int | None = None
    weight: int | None = None
    comment: str | None = None


def uvot_result(mode: int, entries: list[Any]) -> UvotModeResult:
    parsed = [UvotEntryWire.model_validate(unwrap(e)) for e in entries]
    return UvotModeResult(
        uvot_mode=mode,
        entries=tuple(UvotFilter(**e.model_dump()) for e in parsed),
    )


def records(entries: list[Any]) -> list[TooRecord]:
    return [TooRecordWire.model_validate(unwrap(e)).record() for e in entries]


def calendar_entries(entries: list[Any]) -> list[CalendarEntry]:
    return [CalendarEntryWire.model_validate(unwrap(e)).entry() for e in entries]
