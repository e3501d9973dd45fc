"""Swift's sky as the query endpoints describe it: visibility windows, SAA passages, the clock.

One model serves every answer, so the emulator never contradicts itself: the TOO decisions
(:mod:`constraints`), VisQuery, the SAA list and the observations all use the same rules.

- **Sun, Moon, pole** (:class:`SwiftRules`: 46 deg, 23 deg, 12 deg from an orbit pole),
  sampled every minute (Swift schedules at one-minute resolution).
- **The orbit**: circular, ``inclination_deg`` (20.56 deg), period 95.8 min, 550 km up (the
  Earth's disc is 67 deg in radius seen from there); its ascending node regresses with the
  rules' precession period from ``node_epoch``, the phase counted from the same epoch.
- **Earth**: a target is occulted while it is within 28 deg of the Earth's limb, i.e. closer
  than 67 + 28 = 95 deg to the nadir.
- **SAA**: a box over the South Atlantic (sub-satellite latitude below -10 deg, longitude
  -75..25 deg). The real polygon is not public; this gives passages of up to ~25 min on several
  consecutive orbits a day. ``bat=true`` (the BAT estimate) uses a slightly smaller box, so its
  passages are shorter, as the real BAT ones usually are.
- **Clock**: MET counts seconds from 2001-01-01 on the spacecraft clock; ``utcf`` (add it to
  Swift time to get UTC) is minus the leap seconds since 2001 and a constant 21.43 s clock
  offset, which gives -26.43 s after 2017 as Swift's clock showed in 2021.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Final

import numpy as np
from numpy.typing import NDArray

from autotoo.emulators.swift.constraints import _body_track, _unit
from autotoo.emulators.swift.rules import SwiftRules

STEP: Final = timedelta(minutes=1)
PERIOD_S: Final = 95.8 * 60.0
EARTH_RADIUS_DEG: Final = math.degrees(math.asin(6378.0 / (6378.0 + 550.0)))
EARTH_LIMB_DEG: Final = 28.0
SAA_BOX: Final = {False: (-10.0, -75.0, 25.0), True: (-11.5, -68.0, 18.0)}  # lat max, lon range
MET_EPOCH: Final = datetime(2001, 1, 1, tzinfo=UTC)
CLOCK_OFFSET_S: Final = 21.43
LEAP_SECONDS: Final = (  # leap seconds inserted since 2001, at the end of these days
    datetime(2006, 1, 1, tzinfo=UTC),
    datetime(2009, 1, 1, tzinfo=UTC),
    datetime(2012, 7, 1, tzinfo=UTC),
    datetime(2015, 7, 1, tzinfo=UTC),
    datetime(2017, 1, 1, tzinfo=UTC),
)


def minutes(begin: datetime, end: datetime) -> list[datetime]:
    """Sample times: every whole minute from ``begin`` (rounded up) to ``end``."""
    first = begin.replace(second=0, microsecond=0)
    if first < begin:
        first += STEP
    count = max(0, int((end - first) / STEP) + 1)
    return [first + i * STEP for i in range(count)]


def _track(body: str, times: list[datetime], step: timedelta) -> NDArray[np.float64]:
    """Unit vectors of the Sun or Moon at ``times``, from a cached grid of ``step``."""
    day = times[0].replace(hour=0, minute=0, second=0, microsecond=0)
    count = int((times[-1] - day) / step) + 2
    grid = _body_track(body, day.strftime("%Y-%m-%dT%H:%M:%S"), step.total_seconds(), count)
    index = np.array([round((t - day) / step) for t in times])
    picked: NDArray[np.float64] = grid[np.clip(index, 0, len(grid) - 1)]
    return picked


def _seconds(rules: SwiftRules, times: list[datetime]) -> NDArray[np.float64]:
    return np.array([(t - rules.node_epoch).total_seconds() for t in times])


def satellite(rules: SwiftRules, times: list[datetime]) -> NDArray[np.float64]:
    """The spacecraft's direction from the Earth's centre (inertial, J2000-ish)."""
    s = _seconds(rules, times)
    node = np.radians(-360.0 * s / (rules.precession_days * 86400.0))
    u = 2.0 * np.pi * s / PERIOD_S
    inc = math.radians(rules.inclination_deg)
    return np.stack(
        [
            np.cos(node) * np.cos(u) - np.sin(node) * np.sin(u) * math.cos(inc),
            np.sin(node) * np.cos(u) + np.cos(node) * np.sin(u) * math.cos(inc),
            np.sin(u) * math.sin(inc),
        ],
        axis=-1,
    )


def _gmst_deg(times: list[datetime]) -> NDArray[np.float64]:
    jd = np.array([t.timestamp() / 86400.0 + 2440587.5 for t in times])
    return np.asarray((280.46061837 + 360.98564736629 * (jd - 2451545.0)) % 360.0)


def in_saa(rules: SwiftRules, times: list[datetime], *, bat: bool = False) -> NDArray[np.bool_]:
    sat = satellite(rules, times)
    lat = np.degrees(np.arcsin(np.clip(sat[:, 2], -1.0, 1.0)))
    lon = (np.degrees(np.arctan2(sat[:, 1], sat[:, 0])) - _gmst_deg(times) + 540.0) % 360.0 - 180
    lat_max, lon_min, lon_max = SAA_BOX[bat]
    return np.asarray((lat <= lat_max) & (lon >= lon_min) & (lon <= lon_max))


def observable(
    rules: SwiftRules, ra: float, dec: float, times: list[datetime], *, hires: bool
) -> NDArray[np.bool_]:
    """Per sample: free of the Sun, Moon and pole constraints (and, ``hires``, of the Earth
    and the SAA)."""
    target = _unit(np.array(ra), np.array(dec))

    def clear_of(track: NDArray[np.float64], limit: float) -> NDArray[np.bool_]:
        return np.asarray(np.degrees(np.arccos(np.clip(track @ target, -1.0, 1.0))) >= limit)

    ok = clear_of(_track("sun", times, timedelta(hours=6)), rules.sun_min_deg)
    ok &= clear_of(_track("moon", times, timedelta(minutes=30)), rules.moon_min_deg)
    s = _seconds(rules, times)
    south_ra = (-360.0 * s / (rules.precession_days * 86400.0) + 90.0) % 360.0
    pole_dec = 90.0 - rules.inclination_deg
    south = _unit(south_ra, np.full_like(south_ra, -pole_dec))
    north = -south
    ok &= clear_of(south, rules.pole_radius_deg) & clear_of(north, rules.pole_radius_deg)
    if hires:
        nadir = -satellite(rules, times)
        ok &= clear_of(nadir, EARTH_RADIUS_DEG + EARTH_LIMB_DEG)
        ok &= ~in_saa(rules, times)
    return ok


def windows(times: list[datetime], flags: NDArray[np.bool_]) -> list[tuple[datetime, datetime]]:
    """Runs of True samples as (begin, end); a run still open at the last sample ends there."""
    out: list[tuple[datetime, datetime]] = []
    start: datetime | None = None
    for t, flag in zip(times, flags, strict=True):
        if flag and start is None:
            start = t
        elif not flag and start is not None:
            out.append((start, t))
            start = None
    if start is not None and times:
        out.append((start, times[-1]))
    return [(b, e) for b, e in out if e > b]


def utcf(when: datetime) -> float:
    """Seconds to add to Swift (spacecraft) time to get UTC."""
    leaps = sum(1 for leap in LEAP_SECONDS if when >= leap)
    return -(leaps + CLOCK_OFFSET_S)


def swift_time(utc: datetime) -> datetime:
    return utc - timedelta(seconds=utcf(utc))


def met_of_swift_time(swift: datetime) -> float:
    return (swift - MET_EPOCH).total_seconds()
