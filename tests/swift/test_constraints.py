"""The emulator's observability window, against the plain step-by-step walk it replaced."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import numpy as np

from autotoo.emulators.sky import angular_separation_deg, within_deg
from autotoo.emulators.swift import constraints as c
from autotoo.emulators.swift.rules import SwiftRules


def _walked(rules: SwiftRules, ra: float, dec: float, when: datetime) -> datetime | None:
    """Each MOON_STEP in turn, every constraint looked up one time at a time."""
    target = c._unit(np.array(ra), np.array(dec))
    sun_start, sun = c._grid("sun", when, c.SUN_STEP, c.SUN_SPAN)
    moon_start, moon = c._grid("moon", when, c.MOON_STEP, c.MOON_SPAN)
    sun_ok = c._separation_ok(sun, target, rules.sun_min_deg)
    moon_ok = c._separation_ok(moon, target, rules.moon_min_deg)

    def ok(t: datetime) -> bool:
        i_sun = min(len(sun_ok) - 1, round((t - sun_start) / c.SUN_STEP))
        i_moon = round((t - moon_start) / c.MOON_STEP)
        moon_free = bool(moon_ok[i_moon]) if i_moon < len(moon_ok) else True
        return bool(sun_ok[i_sun]) and moon_free and c._pole_ok(rules, target, t)

    if ok(when):
        return None
    t, horizon = when, when + c.SUN_SPAN - timedelta(days=1)
    while t < horizon:
        t += c.MOON_STEP
        if ok(t):
            return t.replace(second=0, microsecond=0)
    return horizon.replace(second=0, microsecond=0)


def test_the_window_is_the_one_a_step_by_step_walk_finds() -> None:
    rules, rng = SwiftRules(), random.Random(7)
    base = datetime(2026, 12, 7, 11, 0, tzinfo=UTC)
    constrained = 0
    for _ in range(120):
        ra = rng.uniform(0.0, 360.0)
        dec = math.degrees(math.asin(rng.uniform(-1.0, 1.0)))
        # whole half hours too: the grids' rounding is exercised on its half-way points
        offset = rng.choice([1800.0 * rng.randint(0, 47), rng.uniform(0.0, 86400.0)])
        when = base + timedelta(seconds=offset)
        expected = _walked(rules, ra, dec, when)
        constrained += expected is not None
        assert c.constrained_until(rules, ra, dec, when) == expected, (ra, dec, when)
    assert constrained >= 10  # the walk past 'now' was exercised, not only the first look


def test_a_target_near_the_moon_waits_for_it_as_the_walk_does() -> None:
    """Beside the Moon (which moves ~13 deg a day), the first free time is set by the Moon."""
    rules, rng = SwiftRules(), random.Random(11)
    base = datetime(2026, 12, 7, 11, 0, tzinfo=UTC)
    later = 0
    for day in range(0, 28, 4):
        when = base + timedelta(days=day, seconds=rng.uniform(0.0, 3600.0))
        start, track = c._grid("moon", when, c.MOON_STEP, c.MOON_SPAN)
        x, y, z = track[round((when - start) / c.MOON_STEP)]
        ra, dec = math.degrees(math.atan2(y, x)) % 360.0, math.degrees(math.asin(z))
        for east in (-12.0, -4.0, 4.0, 12.0):  # ahead of the Moon and behind it
            target = ((ra + east) % 360.0, dec)
            expected = _walked(rules, *target, when)
            later += expected is not None and expected - when < timedelta(days=3)
            assert c.constrained_until(rules, *target, when) == expected, (target, when)
    assert later >= 5  # most waited only for the Moon to pass, not for the Sun


def test_within_deg_is_the_separation_test() -> None:
    rng = random.Random(3)
    for _ in range(2000):
        a = (rng.uniform(0, 360), rng.uniform(-90, 90))
        b = (a[0] + rng.uniform(-3, 3), max(-90.0, min(90.0, a[1] + rng.uniform(-3, 3))))
        radius = rng.uniform(0.0, 3.0)
        assert within_deg(*a, *b, radius) == (angular_separation_deg(*a, *b) <= radius)
