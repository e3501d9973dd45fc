"""A retrieved XRT light curve as a person reads it: count rate against time since trigger.

The UKSSDC light curve (stored as the ``lightcurve`` result) is a set of datasets, each a list
of column names and rows. The rate datasets (``PC``, ``WT`` and their ``_incbad`` variants)
have ``Time`` (seconds since the trigger, T0), ``TimePos``/``TimeNeg`` (the bin's half-widths)
and ``Rate``/``RatePos``/``RateNeg`` (count/s and its 1-sigma errors). Hardness ratios and
band-split curves are left out: the total-band rate is what one reads first.

One module for both the demo's summary and ``autotoo jobs show``, so they print the same
table; the dashboard draws the same points (its script applies the same dataset filter).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from autotoo.formatting import count, number

RATE_DATASETS = ("PC", "WT", "PC_incbad", "WT_incbad")


@dataclass(frozen=True, slots=True)
class Point:
    dataset: str
    t: float  # s since T0
    t_pos: float
    t_neg: float  # positive: the bin's half-width before t
    rate: float  # count/s
    rate_pos: float
    rate_neg: float  # positive: the 1-sigma error below the rate


def points(result: Any) -> list[Point]:
    """The rate points of a stored ``lightcurve`` result, in time order (none if malformed)."""
    datasets = result.get("datasets") if isinstance(result, dict) else None
    if not isinstance(datasets, dict):
        return []
    out: list[Point] = []
    for name, data in datasets.items():
        if name not in RATE_DATASETS or not isinstance(data, dict):
            continue
        columns = list(data.get("columns") or [])
        if "Time" not in columns or "Rate" not in columns:
            continue

        def col(row: list[Any], name: str, columns: list[str] = columns) -> float:
            if name not in columns:
                return 0.0
            try:
                return abs(float(row[columns.index(name)]))
            except (TypeError, ValueError, IndexError):
                return math.nan

        for row in data.get("rows") or []:
            try:
                t, rate = float(row[columns.index("Time")]), float(row[columns.index("Rate")])
            except (TypeError, ValueError, IndexError):
                continue
            point = Point(
                name,
                t,
                col(row, "TimePos"),
                col(row, "TimeNeg"),
                rate,
                col(row, "RatePos"),
                col(row, "RateNeg"),
            )
            if all(math.isfinite(v) for v in (t, rate, point.rate_pos, point.rate_neg)):
                out.append(point)
    out.sort(key=lambda p: (p.t, p.dataset))
    return out


def _error(pos: float, neg: float) -> str:
    if number(pos, 2) == number(neg, 2):
        return f"± {number(pos, 2)}"
    return f"+{number(pos, 2)} -{number(neg, 2)}"


def _span(p: Point) -> str:
    """The bin's start and end, to the precision of its width (no ``-3.2e-07 to 1067``)."""
    width = p.t_pos + p.t_neg
    if width <= 0:
        return number(p.t, 4)
    decimals = max(0, 2 - math.floor(math.log10(width)))
    ends = [f"{v:.{decimals}f}" for v in (p.t - p.t_neg, p.t + p.t_pos)]
    ends = ["0" if float(e) == 0 else e for e in ends]  # no "-0"
    return f"{ends[0]} to {ends[1]}"


def table(curve: list[Point], *, limit: int = 20) -> list[str]:
    """A fixed-width table: time since trigger with the bin's extent, rate with its error.
    Beyond ``limit`` rows the middle is elided (first and last rows kept)."""
    if not curve:
        return ["(no rate points)"]
    rows = [
        (
            number(p.t, 4),
            _span(p),
            number(p.rate),
            _error(p.rate_pos, p.rate_neg),
            p.dataset,
        )
        for p in curve
    ]
    if len(rows) > limit:
        half = limit // 2
        skipped = len(rows) - 2 * half
        rows = [*rows[:half], ("…", f"{count(skipped, 'row')} more", "", "", ""), *rows[-half:]]
    head = ("t - T0 (s)", "bin (s)", "rate (count/s)", "error (1 sigma)", "mode")
    widths = [max(len(r[i]) for r in (head, *rows)) for i in range(len(head))]
    lines = []
    for r in (head, *rows):
        cells = [
            r[0].rjust(widths[0]),
            r[1].ljust(widths[1]),
            r[2].rjust(widths[2]),
            r[3].ljust(widths[3]),
            r[4],
        ]
        lines.append("  ".join(cells).rstrip())
    return lines
