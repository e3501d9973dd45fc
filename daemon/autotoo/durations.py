"""Human durations in config and rule files: ``90``, ``90s``, ``5m``, ``1.5 h``, ``1 day``, ``2w``.

A bare number is seconds. The pydantic type :data:`Duration` accepts these spellings and a
:class:`datetime.timedelta`, and serialises back to seconds in the JSON Schema.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

_UNITS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hr": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
    "w": 604800,
    "week": 604800,
}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*?)s?\s*$")


def parse_duration(value: Any) -> timedelta:
    """Parse one duration; raise ValueError with the accepted spellings."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, bool):
        raise ValueError("expected a duration such as 90s, 5m, 2h or 1 day")  # noqa: TRY004 pydantic reports only ValueError
    elif isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        match = _PATTERN.match(value.lower())
        unit = match.group(2) if match else None
        if match is None or (unit and unit not in _UNITS):
            raise ValueError(f"{value!r} is not a duration: use e.g. 90s, 5m, 2h or 1 day")
        seconds = float(match.group(1)) * _UNITS.get(unit or "s", 1)
    else:
        raise ValueError("expected a duration such as 90s, 5m, 2h or 1 day")  # noqa: TRY004 pydantic reports only ValueError
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return timedelta(seconds=seconds)


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(lambda td: td.total_seconds(), return_type=float),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0},
                {"type": "string", "pattern": r"^\s*\d+(\.\d*)?\s*[a-zA-Z]*\s*$"},
            ],
            "description": "seconds, or a number with a unit: s, m, h, d, w (e.g. 5m, 1 day)",
        }
    ),
]


def format_duration(td: timedelta) -> str:
    seconds = td.total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def human_duration(td: timedelta) -> str:
    """A duration for a sentence a person reads: ``1 day``, ``36 h``, ``5 min``, ``90 s``
    (``str(timedelta)`` would say ``1 day, 0:00:00``)."""
    seconds = td.total_seconds()
    for singular, plural, size in (("day", "days", 86400), ("h", "h", 3600), ("min", "min", 60)):
        if seconds >= size and seconds % size == 0:
            n = int(seconds // size)
            return f"{n} {singular if n == 1 else plural}"
    return f"{seconds:g} s"
