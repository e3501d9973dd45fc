"""The emulators' position searches go through a declination index (emulators/sky.py,
``DecIndex``): they must find exactly what a scan of every target would (the duplicate
window over the same index: tests/swift/test_emulator.py, the repeat window)."""

from __future__ import annotations

import random

from autotoo.emulators.clock import SimClock
from autotoo.emulators.sky import DecIndex, Sky, within_deg


def test_the_index_finds_what_a_scan_finds_as_keys_come_and_go() -> None:
    rng = random.Random(7)
    index, held = DecIndex(), {}
    for key in range(3000):
        dec = round(rng.uniform(-90, 90), 1)  # repeated declinations too
        index.add(dec, key)
        held[key] = dec
        if rng.random() < 0.3:
            gone = rng.choice(list(held))
            index.remove(held.pop(gone), gone)
    for _ in range(300):
        dec, radius = rng.uniform(-90, 90), rng.choice([0.0, 0.02, 0.2, 1.0, 5.0])
        found = index.near(dec, radius)
        assert sorted(found) == sorted(k for k, d in held.items() if abs(d - dec) <= radius)


def test_targets_near_a_position_are_those_a_scan_finds() -> None:
    rng = random.Random(11)
    sky = Sky(SimClock(), with_archive=True)
    for n in range(2000):
        sky.add_target(f"T{n}", rng.uniform(0, 360), rng.uniform(-90, 90))
    targets = sky.targets()
    for _ in range(200):
        ra, dec = rng.uniform(0, 360), rng.uniform(-90, 90)
        radius = rng.choice([0.01, 0.2, 2.0, 10.0])
        if rng.random() < 0.2:  # around a target that exists, and across RA = 0
            hit = rng.choice(targets)
            ra, dec = (hit.ra + rng.uniform(-radius, radius)) % 360, hit.dec
        expected = {t.target_id for t in targets if within_deg(ra, dec, t.ra, t.dec, radius)}
        assert {t.target_id for t in sky.near(ra, dec, radius)} == expected
        assert {t.target_id for t in sky.find(ra=ra, dec=dec, radius_deg=radius)} == expected


def test_a_target_given_again_is_found_at_its_new_place_only() -> None:
    sky = Sky(SimClock(), with_archive=False)
    sky.add_target("first", 10.0, 20.0, target_id=42)
    sky.add_target("moved", 200.0, -30.0, target_id=42)
    assert sky.near(10.0, 20.0, 0.1) == []
    assert [t.name for t in sky.near(200.0, -30.0, 0.1)] == ["moved"]
