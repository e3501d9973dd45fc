"""Small typed results of the client's calls (plain dataclasses; wire models are in wire.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Per-product status codes. "Terminal" is what the reference client calls
# complete; it is not success: only DONE is.
CANCELLED, NO_PRODUCT, QUEUE_ERROR, REQUEST_ERROR = -4, -3, -2, -1
REQUESTED, QUEUED, RUNNING, DONE, WAITING_FOR_PSF = 1, 2, 3, 4, 5
NOT_REPORTED = -10  # client-only: the server gave no entry for the product

STATUS_MEANINGS = {
    CANCELLED: "cancelled by the user",
    NO_PRODUCT: "the job ran but produced no product",
    QUEUE_ERROR: "internal error adding the job to the queue",
    REQUEST_ERROR: "internal error, the job could not be requested",
    REQUESTED: "requested, not yet queued",
    QUEUED: "in the processing queue",
    RUNNING: "running",
    DONE: "completed, products available",
    WAITING_FOR_PSF: "waiting for the standard position",
    NOT_REPORTED: "The server did not return the status",
}


@dataclass(frozen=True, slots=True)
class SubmitResult:
    """A definite answer to a submission. ``submit_error`` is set exactly when ``ok`` is False."""

    ok: bool
    job_id: int | None = None
    url: str | None = None
    job_pars: dict[str, Any] = field(default_factory=dict)
    submit_error: str | None = None
    update_warning: str | None = None


@dataclass(frozen=True, slots=True)
class ProductStatus:
    code: int
    text: str
    progress_text: str = "No progress information available"

    @property
    def terminal(self) -> bool:
        return (self.code < 0 and self.code != NOT_REPORTED) or self.code == DONE

    @property
    def succeeded(self) -> bool:
        return self.code == DONE

    @property
    def meaning(self) -> str:
        return STATUS_MEANINGS.get(self.code, "unknown status code")


@dataclass(frozen=True, slots=True)
class JobStatus:
    job_id: int
    products: dict[str, ProductStatus]  # keyed by short name (lc, spec, psf...)

    @property
    def complete(self) -> bool:
        """Every product terminal (succeeded, failed or cancelled)."""
        return all(p.terminal for p in self.products.values())

    @property
    def no_data(self) -> bool:
        """Every product ended with "no product" (-3): typically no observations yet."""
        return bool(self.products) and all(p.code == NO_PRODUCT for p in self.products.values())


@dataclass(frozen=True, slots=True)
class CancelOutcome:
    code: int  # 0 cancelled; 1 already finished?; 2 no such product; 3 refused; 4 unknown
    text: str


@dataclass(frozen=True, slots=True)
class CancelResult:
    ok: int  # 1 all cancelled, 2 partial (the server's OK)
    products: dict[str, CancelOutcome]


@dataclass(frozen=True, slots=True)
class Position:
    got_pos: bool
    ra: float | None = None
    dec: float | None = None
    err90_arcsec: float | None = None
    from_sxps: bool = False
    which_sxps: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Dataset:
    columns: list[str]
    rows: list[list[float | str]]
    url: str | None = None

    def column(self, name: str) -> list[float | str]:
        index = self.columns.index(name)
        return [row[index] for row in self.rows]


@dataclass(frozen=True, slots=True)
class LightCurve:
    datasets: dict[str, Dataset]
    meta: dict[str, Any]  # Binning, TimeFormat, T0 and whatever else the server sent


@dataclass(frozen=True, slots=True)
class SpectralFits:
    raw: dict[str, Any]

    @property
    def rnames(self) -> list[str]:
        return list(self.raw.get("rnames", []))


@dataclass(frozen=True, slots=True)
class OldJob:
    job_id: int
    name: str
    date_submitted: str
    products: dict[str, bool]  # long name -> requested
    has_prod: bool


@dataclass(frozen=True, slots=True)
class OldJobCopy:
    job_id: int
    url: str
    job_pars: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Download:
    product: str
    path: Path
    size: int
