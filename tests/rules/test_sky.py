"""Astronomy helpers against astropy itself, and the promise to keep astropy off the hot path."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord, get_body, get_sun
from astropy.time import Time

from autotoo.rules import load_rules, sky
from autotoo.rules.context import make_helpers
from tests.rules.factory import REPO, ruleset

NOW = datetime(2026, 11, 21, 12, 0, 30, tzinfo=UTC)


def test_galactic_latitude_of_known_points() -> None:
    # Galactic centre (Sgr A* region) and the north Galactic pole, in ICRS.
    assert sky.galactic(266.40499, -28.93617)[1] == pytest.approx(0.0, abs=1e-3)
    assert sky.galactic(192.85948, 27.12825)[1] == pytest.approx(90.0, abs=1e-3)
    lon = sky.galactic(266.40499, -28.93617)[0]
    assert min(lon, 360.0 - lon) < 0.1


@pytest.mark.parametrize(("ra", "dec"), [(0.0, 0.0), (83.63, 22.01), (299.9, -65.1), (359.9, 89.0)])
def test_galactic_matches_astropy(ra: float, dec: float) -> None:
    expected = SkyCoord(ra * u.deg, dec * u.deg, frame="icrs").galactic
    lon, lat = sky.galactic(ra, dec)
    assert lat == pytest.approx(expected.b.deg, abs=1e-6)
    assert lon == pytest.approx(expected.l.deg, abs=1e-6)


def test_separation_matches_astropy() -> None:
    a = SkyCoord(10.0 * u.deg, 20.0 * u.deg)
    b = SkyCoord(200.0 * u.deg, -30.0 * u.deg)
    assert sky.angular_separation(10.0, 20.0, 200.0, -30.0) == pytest.approx(
        a.separation(b).deg, abs=1e-9
    )
    assert sky.angular_separation(1.0, 2.0, 1.0, 2.0) == 0.0


def test_sun_and_moon_distance_match_astropy_directions() -> None:
    helpers = make_helpers(NOW)
    target = {"ra": 178.334, "dec": -10.202}
    minute = Time(datetime(2026, 11, 21, 12, 0, tzinfo=UTC))
    sun, moon = get_sun(minute), get_body("moon", minute)
    expected_sun = sky.angular_separation(178.334, -10.202, sun.ra.deg, sun.dec.deg)
    expected_moon = sky.angular_separation(178.334, -10.202, moon.ra.deg, moon.dec.deg)
    assert helpers["sun_distance"](target) == pytest.approx(expected_sun, abs=1e-6)
    assert helpers["moon_distance"](178.334, -10.202) == pytest.approx(expected_moon, abs=1e-6)
    # The Sun is 0 deg from itself; at the November date it is near RA 236, Dec -20.
    assert helpers["sun_distance"](sun.ra.deg, sun.dec.deg) == pytest.approx(0.0, abs=1e-9)
    assert sun.ra.deg == pytest.approx(236.6, abs=0.5)


def test_sun_and_moon_are_computed_once_per_minute() -> None:
    sky._sun_moon_at_minute.cache_clear()
    for second in range(0, 60, 5):
        sky.sun_position(datetime(2026, 1, 1, 0, 0, second, tzinfo=UTC))
        sky.moon_position(datetime(2026, 1, 1, 0, 0, second, tzinfo=UTC))
    assert sky._sun_moon_at_minute.cache_info().misses == 1
    sky.sun_position(datetime(2026, 1, 1, 0, 1, tzinfo=UTC))
    assert sky._sun_moon_at_minute.cache_info().misses == 2


def test_since_trigger_and_error_arcmin() -> None:
    helpers = make_helpers(NOW)
    alert = {"trigger_time": NOW - timedelta(hours=1), "error_deg": 0.5}
    assert helpers["since_trigger"](alert) == 3600.0
    assert helpers["since_trigger"]({"trigger_time": "2026-11-21T11:00:30Z"}) == 3600.0
    assert helpers["error_arcmin"](alert) == 30.0
    with pytest.raises(ValueError, match="no trigger time"):
        helpers["since_trigger"]({"trigger_time": None})
    assert helpers["separation"]({"ra": 0, "dec": 0}, {"ra": 0, "dec": 1}) == pytest.approx(1.0)
    assert helpers["separation"](0, 0, 90, 0) == pytest.approx(90.0)


def test_astropy_is_not_imported_unless_a_helper_runs() -> None:
    script = """
import sys
from datetime import UTC, datetime
from autotoo.config.yamlfile import load_yaml_text
from autotoo.rules import evaluate, load_documents
from tests.rules.factory import make_alert
text = '''
rules:
  - name: cheap
    when: alert.error_deg < 0.1
    notify: [mqtt]
  - name: astro
    match: {missions: [nobody]}
    when: sun_distance(alert) > 46.0
    notify: [mqtt]
'''
rules = load_documents([load_yaml_text(text, "t.yaml")])
decisions = evaluate(rules, make_alert(), now=datetime.now(UTC), explain=True)
assert [d.matched for d in decisions] == [True, False], decisions
print("astropy" in sys.modules)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "False"


def test_rule_sets_say_whether_they_need_astropy() -> None:

    examples = load_rules([REPO / "rules" / "*.yaml"])
    assert examples.uses_astropy
    assert [r.name for r in examples if r.uses_astropy] == [
        "ep-wxt-bright",
        "fermi-gbm-small-error",
        "icecube-gold-track",
        "svom-eclairs-grb",
    ]
    plain = ruleset(
        "rules:\n  - name: a\n    when: error_arcmin(alert) < 3.0\n    notify: [mqtt]\n"
    )
    assert not plain.uses_astropy
    in_template = ruleset(
        "rules:\n  - name: a\n    notify: [{channel: webhook, text: '{{ sun_distance(alert) }}'}]\n"
    )
    assert in_template.uses_astropy


def test_warm_up_fills_the_caches() -> None:
    sky._sun_moon_at_minute.cache_clear()
    sky.warm_up(NOW)
    assert sky._galactic_matrix is not None
    assert sky._sun_moon_at_minute.cache_info().currsize == 1
