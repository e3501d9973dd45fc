"""Numbers and counts in text a person reads (CLI, demo): no float noise, no "1 sources"."""

from __future__ import annotations

import math


def number(value: float, digits: int = 3) -> str:
    """``value`` to about ``digits`` significant figures, without float noise
    (``3.0579623999999996`` reads ``3.06``) and without an exponent in the usual range."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    magnitude = math.floor(math.log10(abs(value)))
    if magnitude >= 6 or magnitude < -3:
        return f"{value:.{digits - 1}e}"
    return f"{value:.{max(0, digits - 1 - magnitude)}f}"


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``1 point``, ``3 points``: a count with its noun in the right number."""
    return f"{n} {noun if n == 1 else (plural or noun + 's')}"
