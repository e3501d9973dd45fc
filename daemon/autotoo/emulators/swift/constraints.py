"""Is a target observable now, and if not, until when? Sun and Moon from astropy's built-in
ephemeris, plus the orbit-pole band of :class:`SwiftRules`.

Ephemerides are sampled on a fixed grid (Sun every 6 h for a year, Moon every 30 min for 30
days) and cached per day, so a submission costs a dot product, not an ephemeris computation.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from autotoo.emulators.swift.rules import SwiftRules

SUN_STEP = timedelta(hours=6)
SUN_SPAN = timedelta(days=366)
MOON_STEP = timedelta(minutes=30)
MOON_SPAN = timedelta(days=30)


def _unit(ra_deg: NDArray[np.float64], dec_deg: NDArray[np.float64]) -> NDArray[np.float64]:
    ra, dec = np.radians(ra_deg), np.radians(dec_deg)
    return np.stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)], axis=-1)


@lru_cache(maxsize=8)
def _body_track(body: str, start_iso: str, step_s: float, count: int) -> NDArray[np.float64]:
    """Unit vectors of ``body`` (GCRS RA/Dec, close enough to J2000 for a 23-46 deg limit)."""
    from astropy import units as u  # noqa: PLC0415 -- astropy is slow to import; only if needed
    from astropy.coordinates import get_body  # noqa: PLC0415 -- as above
    from astropy.time import Time  # noqa: PLC0415 -- as above

    times = Time(start_iso, scale="utc") + np.arange(count) * step_s * u.s
    coords = get_body(body, times)
    return _unit(np.asarray(coords.ra.deg), np.asarray(coords.dec.deg))


def _grid(
    body: str, when: datetime, step: timedelta, span: timedelta
) -> tuple[datetime, NDArray[np.float64]]:
    day = when.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    count = int(span / step) + 1
    return day, _body_track(body, day.strftime("%Y-%m-%dT%H:%M:%S"), step.total_seconds(), count)


def _pole_ok(rules: SwiftRules, target: NDArray[np.float64], when: datetime) -> bool:
    south_ra = rules.south_pole_ra(when)
    pole_dec = 90.0 - rules.inclination_deg
    poles = _unit(np.array([south_ra, (south_ra + 180.0) % 360.0]), np.array([-pole_dec, pole_dec]))
    closest = math.degrees(math.acos(float(np.clip(np.max(poles @ target), -1.0, 1.0))))
    return closest >= rules.pole_radius_deg


def _separation_ok(
    track: NDArray[np.float64], target: NDArray[np.float64], limit: float
) -> NDArray[np.bool_]:
    return np.asarray(np.degrees(np.arccos(np.clip(track @ target, -1.0, 1.0))) >= limit)


def constrained_until(rules: SwiftRules, ra: float, dec: float, when: datetime) -> datetime | None:
    """``None`` when observable at ``when``; else the first sampled time it becomes observable
    (at most a year ahead; a target never free within that is reported at the year's end)."""
    target = _unit(np.array(ra), np.array(dec))
    sun_start, sun = _grid("sun", when, SUN_STEP, SUN_SPAN)
    moon_start, moon = _grid("moon", when, MOON_STEP, MOON_SPAN)
    sun_ok = _separation_ok(sun, target, rules.sun_min_deg)
    moon_ok = _separation_ok(moon, target, rules.moon_min_deg)

    # The times tried: ``when``, then every MOON_STEP up to the horizon. The Sun and Moon
    # are looked up for all of them at once; the orbit pole, a narrow band, only for those
    # they leave free, in order (one at a time, this took up to ~100 ms per submission).
    horizon = when + SUN_SPAN - timedelta(days=1)
    steps = np.arange(math.ceil((horizon - when) / MOON_STEP) + 1)
    step_s = MOON_STEP.total_seconds()
    i_sun = np.rint(
        ((when - sun_start).total_seconds() + steps * step_s) / SUN_STEP.total_seconds()
    )
    i_sun = np.minimum(len(sun_ok) - 1, i_sun).astype(np.int64)
    i_moon = np.rint(((when - moon_start).total_seconds() + steps * step_s) / step_s)
    i_moon = i_moon.astype(np.int64)
    moon_free = np.ones(len(steps), dtype=bool)
    inside = i_moon < len(moon_ok)
    moon_free[inside] = moon_ok[i_moon[inside]]
    for k in np.flatnonzero(sun_ok[i_sun] & moon_free):
        t = when + int(k) * MOON_STEP
        if _pole_ok(rules, target, t):
            return None if k == 0 else t.replace(second=0, microsecond=0)
    return horizon.replace(second=0, microsecond=0)
