"""Field conversions every parser shares: times, positions, mission slugs, event keys.

Kept in one place so that the three formats agree on the conventions the model docstring
states (UTC, degrees, slugs), and so that every bad value ends as an :class:`AlertParseError`
naming the field, never as a ``ValueError`` from deep inside the standard library.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from autotoo.alerts.errors import AlertParseError
from autotoo.alerts.model import ANONYMOUS_KEY_PREFIX, Ellipse

# Payloads above this are refused before decoding: GCN Kafka caps messages at about 4 MiB and
# the largest real alerts (IGWN with an embedded sky map) are about 1 MB.
MAX_PAYLOAD_BYTES = 8 * 1024 * 1024
# VOEvents are a few kB; a larger XML body is a mistake or an attack on the parser.
MAX_XML_BYTES = 1024 * 1024

# An error radius this large says "no localisation" (SNEWS sends 360 deg around RA=Dec=0).
WHOLE_SKY_DEG = 180.0

_FRACTION = re.compile(r"(\.\d{6})\d+")

_MISSION_ALIASES = {
    "super_kamiokande": "superk",
    "superkamiokande": "superk",
    "sk": "superk",
    "lvc": "lvk",
    "ligo": "lvk",
    "igwn": "lvk",
    "ep": "einstein_probe",
    "einsteinprobe": "einstein_probe",
    "dsa_110": "dsa110",
}
_NON_SLUG = re.compile(r"[^a-z0-9]+")


# Cached helpers see payload strings: only short ones are cached, so a hostile payload cannot
# pin megabytes in a cache.
CACHEABLE_CHARS = 256

T = TypeVar("T")


def short_string_cache(maxsize: int) -> Callable[[Callable[[str], T]], Callable[[str], T]]:
    """``lru_cache`` for a one-string function, bypassed for strings over CACHEABLE_CHARS."""

    def decorate(function: Callable[[str], T]) -> Callable[[str], T]:
        cached = functools.lru_cache(maxsize=maxsize)(function)

        @functools.wraps(function)
        def lookup(text: str) -> T:
            return cached(text) if len(text) <= CACHEABLE_CHARS else function(text)

        return lookup

    return decorate


@short_string_cache(maxsize=256)
def mission_slug(name: str) -> str:
    """``"Super-Kamiokande"`` -> ``superk``; ``"Einstein Probe"`` -> ``einstein_probe``."""
    slug = _NON_SLUG.sub("_", name.strip().lower()).strip("_")
    return _MISSION_ALIASES.get(slug, slug)


def parse_utc(value: object, field: str) -> datetime:
    """An ISO 8601 time as an aware UTC datetime.

    Zone-less times are UTC (SVOM, Fermi and classic VOEvents omit the zone), a space may
    stand for ``T`` (gcn-classic-to-json), and more than six fractional digits are cut.
    """
    if not isinstance(value, str):
        raise AlertParseError(f"{field} is not a string time: {type(value).__name__}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        try:
            parsed = datetime.fromisoformat(_FRACTION.sub(r"\1", value.strip()))
        except ValueError:
            raise AlertParseError(f"{field} is not an ISO 8601 time: {value[:40]!r}") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def finite(value: object, field: str) -> float:
    """A real number (not bool, not NaN or infinite), or an error naming the field."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AlertParseError(f"{field} is not a number: {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number):
        raise AlertParseError(f"{field} is not finite: {number}")
    return number


def optional_finite(value: object) -> float | None:
    """Statistics are optional: a missing, non-numeric or non-finite value is simply absent."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def check_radec(ra: float, dec: float) -> tuple[float, float]:
    """ICRS degrees within range; RA 360 wraps to 0."""
    if not 0.0 <= ra <= 360.0:
        raise AlertParseError(f"ra out of range [0, 360]: {ra}")
    if not -90.0 <= dec <= 90.0:
        raise AlertParseError(f"dec out of range [-90, 90]: {dec}")
    return (0.0 if ra == 360.0 else ra), dec


def check_error(error: float | None) -> float | None:
    """An error radius in degrees; zero or negative means "not stated".

    SVOM GRM notices send ``-1`` with a coarse position, INTEGRAL and AGILE send ``0``.
    """
    if error is None or error <= 0.0:
        return None
    return error


def separation_deg(ra1: float, dec1: float, ra2: float, dec2: float) -> float:
    """Great-circle distance (haversine; plain math, no astropy on the hot path)."""
    phi1, phi2 = math.radians(dec1), math.radians(dec2)
    dphi = phi2 - phi1
    dlam = math.radians(ra2 - ra1)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlam / 2) ** 2
    return math.degrees(2 * math.asin(min(1.0, math.sqrt(h))))


def ellipse_from(a: float, b: float, pa: float, field: str) -> Ellipse:
    if a < 0.0 or b < 0.0:
        raise AlertParseError(f"{field} has a negative semi-axis: {a}, {b}")
    return Ellipse(a_deg=a, b_deg=b, pa_deg=pa)


def payload_digest(raw: bytes) -> str:
    """Last-resort event key for an alert that names no event: each payload is its own event."""
    return ANONYMOUS_KEY_PREFIX + hashlib.sha256(raw).hexdigest()[:16]


def time_key(when: datetime) -> str:
    """Event key from a trigger time, for notices whose trigger number is 0 (INTEGRAL, AGILE)."""
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-4] + "Z"
