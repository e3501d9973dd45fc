"""Astronomy helpers for conditions and templates, backed by astropy but kept off the hot path.

astropy costs about a second to import and milliseconds per coordinate transform, while a
condition is evaluated in microseconds. So: nothing here imports astropy at module import;
the ICRS->Galactic rotation is taken from astropy once and then applied with plain math;
the Sun and Moon positions are computed once per minute of the evaluation clock; and angular
separations use the Vincenty formula (exact on the sphere, no astropy call at all).

The Sun and Moon are geocentric apparent directions (GCRS RA/Dec). Comparing a target's
ICRS direction with them is what a Swift observability check needs: the difference between
the frames for a distant target (aberration, ~20") is far below any constraint of tens of
degrees. Transforming the Moon to ICRS instead would add its ~1 degree parallax wrongly.
"""

from __future__ import annotations

import math
import threading
import warnings
from datetime import datetime
from functools import lru_cache

_lock = threading.Lock()
_galactic_matrix: tuple[tuple[float, float, float], ...] | None = None


def angular_separation(ra1: float, dec1: float, ra2: float, dec2: float) -> float:
    """Great-circle distance in degrees between two positions given in degrees."""
    l1, b1, l2, b2 = map(math.radians, (ra1, dec1, ra2, dec2))
    dl = l2 - l1
    num1 = math.cos(b2) * math.sin(dl)
    num2 = math.cos(b1) * math.sin(b2) - math.sin(b1) * math.cos(b2) * math.cos(dl)
    denominator = math.sin(b1) * math.sin(b2) + math.cos(b1) * math.cos(b2) * math.cos(dl)
    return math.degrees(math.atan2(math.hypot(num1, num2), denominator))


def _matrix() -> tuple[tuple[float, float, float], ...]:
    """Rows of the ICRS->Galactic rotation, read from astropy once per process."""
    global _galactic_matrix  # noqa: PLW0603 a process-wide cache of one constant matrix
    with _lock:
        if _galactic_matrix is None:
            from astropy.coordinates import ICRS, Galactic, SkyCoord  # noqa: PLC0415 slow import

            basis = SkyCoord(
                x=[1.0, 0.0, 0.0],
                y=[0.0, 1.0, 0.0],
                z=[0.0, 0.0, 1.0],
                representation_type="cartesian",
                frame=ICRS(),
            ).transform_to(Galactic())
            cart = basis.cartesian
            columns = [(float(cart.x[i]), float(cart.y[i]), float(cart.z[i])) for i in range(3)]
            _galactic_matrix = tuple(
                (columns[0][r], columns[1][r], columns[2][r]) for r in range(3)
            )
        return _galactic_matrix


def galactic(ra: float, dec: float) -> tuple[float, float]:
    """Galactic longitude and latitude (degrees) of an ICRS position."""
    r, d = math.radians(ra), math.radians(dec)
    v = (math.cos(d) * math.cos(r), math.cos(d) * math.sin(r), math.sin(d))
    x, y, z = (sum(row[i] * v[i] for i in range(3)) for row in _matrix())
    lon = math.degrees(math.atan2(y, x)) % 360.0
    lat = math.degrees(math.asin(max(-1.0, min(1.0, z))))
    return lon, lat


@lru_cache(maxsize=16)
def _sun_moon_at_minute(minute: int) -> tuple[tuple[float, float], tuple[float, float]]:
    from astropy.coordinates import get_body, get_sun  # noqa: PLC0415 slow import
    from astropy.time import Time  # noqa: PLC0415 slow import
    from astropy.utils import iers  # noqa: PLC0415 slow import

    # Never download IERS tables from inside a condition: the daemon may have no network,
    # and a minute's worth of UT1-UTC error is irrelevant at degree-level constraints.
    with iers.conf.set_temp("auto_download", False), warnings.catch_warnings():  # noqa: FBT003 astropy's API
        warnings.simplefilter("ignore")
        when = Time(minute * 60.0, format="unix", scale="utc")
        sun = get_sun(when)
        moon = get_body("moon", when)
        return (
            (float(sun.ra.deg), float(sun.dec.deg)),
            (float(moon.ra.deg), float(moon.dec.deg)),
        )


def sun_position(now: datetime) -> tuple[float, float]:
    """Geocentric apparent RA/Dec of the Sun, degrees (cached per minute)."""
    return _sun_moon_at_minute(int(now.timestamp() // 60))[0]


def moon_position(now: datetime) -> tuple[float, float]:
    """Geocentric apparent RA/Dec of the Moon, degrees (cached per minute)."""
    return _sun_moon_at_minute(int(now.timestamp() // 60))[1]


#: Helpers that need astropy (the others are plain arithmetic).
ASTROPY_HELPERS = frozenset(
    {"galactic_latitude", "galactic_longitude", "sun_distance", "moon_distance"}
)


def warm_up(now: datetime) -> None:
    """Import astropy and fill the caches (about a second of CPU on first use).

    The daemon calls this once at start, off the event loop, when a rule uses an astropy
    helper, so the first alert does not stall the loop while astropy imports.
    """
    _matrix()
    sun_position(now)
