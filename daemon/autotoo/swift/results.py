"""Small typed results of the Swift client (dataclasses; the wire models are in replies.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(slots=True, frozen=True)
class SubmitResult:
    """An accepted submission (``status == "Accepted"``) or a passed server-side validation
    (``status == "Validated"``, no ``too_id``)."""

    status: str
    too_id: int | None
    jobnumber: int | None
    warnings: tuple[str, ...]
    debug: bool
    request: dict[str, Any]  # the wire body as sent (form fields or JWT api_data)

    @property
    def accepted(self) -> bool:
        return self.status == "Accepted"


@dataclass(slots=True, frozen=True)
class ResolveResult:
    name: str
    ra: float
    dec: float
    resolver: str | None


@dataclass(slots=True, frozen=True)
class UvotFilter:
    filter_name: str
    eventmode: int | None = None
    field_of_view: int | None = None
    binning: int | None = None
    max_exposure: int | None = None
    weight: int | None = None
    comment: str | None = None


@dataclass(slots=True, frozen=True)
class UvotModeResult:
    uvot_mode: int
    entries: tuple[UvotFilter, ...]

    @property
    def text(self) -> str:
        return f"0x{self.uvot_mode:04x}"


@dataclass(slots=True, frozen=True)
class CalendarEntry:
    """One planned or flown observation segment of a TOO."""

    begin: datetime | None
    end: datetime | None
    target_id: int | None
    duration: float | None  # planned exposure, s
    asflown: float | None  # exposure actually obtained, s (0 until flown)
    xrt_mode: int | None = None
    uvot_mode: int | None = None
    obsid: str | None = None  # target ID + segment, once the segment is known

    @property
    def observed(self) -> bool:
        return bool(self.asflown)


@dataclass(slots=True)
class TooRecord:
    """A TOO as the listing shows it. Justifications only for one's own TOOs with ``detail``."""

    too_id: int
    target_name: str | None
    target_type: str | None = None
    ra: float | None = None
    dec: float | None = None
    urgency: int | None = None
    timestamp: datetime | None = None
    decision: str | None = None
    done: bool = False
    target_id: int | None = None
    date_begin: str | None = None
    date_end: str | None = None
    immediate_objective: str | None = None
    science_just: str | None = None
    exp_time_just: str | None = None
    calendar: list[CalendarEntry] = field(default_factory=list)

    @property
    def obsids(self) -> list[str]:
        return [e.obsid for e in self.calendar if e.observed and e.obsid]

    @property
    def observed(self) -> bool:
        """A target ID and at least one flown obsid exist: products can be requested."""
        return self.target_id is not None and bool(self.obsids)

    def texts(self) -> tuple[str, ...]:
        return tuple(
            t for t in (self.science_just, self.immediate_objective, self.exp_time_just) if t
        )
