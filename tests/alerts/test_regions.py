"""Regions as one idea: points, circles and ellipses as Gaussians at their stated level, sky
maps as maps, and the region each real alert gives (with the fallback when a map fails)."""

from __future__ import annotations

import base64
import json
import math
from datetime import UTC, datetime
from pathlib import Path

import pytest

from autotoo.alerts import parse_alert, regions
from autotoo.alerts.model import Ellipse
from autotoo.alerts.regions import CircleRegion, EllipseRegion, PointRegion, SkyMapRegion
from autotoo.alerts.skymaps import SkyMaps, region_of, skymap_url
from tests.alerts.alert_corpus import CORPUS
from tests.alerts.skymap_files import LVK_AREA_90, LVK_PRELIMINARY
from tests.rules.factory import make_alert

CIRCLE = CircleRegion(100.0, 20.0, 2.0, 0.9)


def test_a_circle_answers_at_its_own_level_and_at_others() -> None:
    cap = 2 * math.pi * (1 - math.cos(math.radians(2.0))) * (180 / math.pi) ** 2
    assert regions.area(CIRCLE, 0.9) == pytest.approx(cap)
    # A 90% radius is 2.146 sigma; the 50% radius is 1.177 sigma.
    radius_50 = 2.0 * math.sqrt(-2 * math.log(0.5)) / math.sqrt(-2 * math.log(0.1))
    assert regions.area(CIRCLE, 0.5) == pytest.approx(
        2 * math.pi * (1 - math.cos(math.radians(radius_50))) * (180 / math.pi) ** 2
    )
    assert regions.contains(CIRCLE, 100.0, 21.9, 0.9)
    assert not regions.contains(CIRCLE, 100.0, 21.9, 0.5)
    assert regions.prob_in_fov(CIRCLE, 100.0, 20.0, 2.0) == pytest.approx(0.9, abs=0.005)
    assert regions.max_prob_position(CIRCLE) == (100.0, 20.0)
    assert regions.distance(CIRCLE) is None


@pytest.mark.parametrize("fov", [0.05, 0.3, 1.0, 3.0, 25.0])
def test_gaussian_field_of_view_regimes_agree_with_the_rice_integral(fov: float) -> None:
    """Centred on the circle, P(r < R) = 1 - exp(-R^2 / 2 sigma^2) in the flat limit."""
    sigma = 2.0 / math.sqrt(-2 * math.log(0.1))
    expected = 1.0 - math.exp(-(fov**2) / (2 * sigma**2))
    assert regions.prob_in_fov(CIRCLE, 100.0, 20.0, fov) == pytest.approx(expected, abs=0.01)


def test_an_offset_field_of_view_sees_less() -> None:
    centred = regions.prob_in_fov(CIRCLE, 100.0, 20.0, 1.0)
    offset = regions.prob_in_fov(CIRCLE, 100.0, 22.0, 1.0)
    assert 0.0 < offset < centred / 2


def test_an_ellipse_is_oriented_by_its_position_angle() -> None:
    north = EllipseRegion(100.0, 20.0, 2.0, 0.5, 0.0, 0.9)  # major axis north-south
    east = EllipseRegion(100.0, 20.0, 2.0, 0.5, 90.0, 0.9)
    along = 100.0, 21.5
    assert regions.contains(north, *along, 0.9)
    assert not regions.contains(east, *along, 0.9)
    assert regions.area(north, 0.9) == pytest.approx(math.pi * 2.0 * 0.5)
    fov = regions.prob_in_fov(north, 100.0, 21.0, 0.5), regions.prob_in_fov(east, 100.0, 21.0, 0.5)
    assert fov[0] > 3 * fov[1]


def test_a_point_has_no_area() -> None:
    point = PointRegion(10.0, -5.0)
    assert regions.area(point, 0.9) == 0.0
    assert regions.prob_in_fov(point, 10.0, -5.1, 0.2) == 1.0
    assert regions.prob_in_fov(point, 10.0, -5.3, 0.2) == 0.0
    assert regions.contains(point, 10.0, -5.0, 0.9)


def test_a_circle_above_the_horizon() -> None:
    when = datetime(2018, 11, 2, 20, 0, tzinfo=UTC)
    # A small circle at the zenith is wholly up; the same circle at the nadir, wholly down.
    up = CircleRegion(*regions.zenith(-30.2, -70.7, when), 1.0)
    down = CircleRegion((up.ra + 180.0) % 360.0, -up.dec, 1.0)
    assert regions.prob_above_horizon(up, -30.2, -70.7, 20.0, when) == pytest.approx(1.0)
    assert regions.prob_above_horizon(down, -30.2, -70.7, 20.0, when) == pytest.approx(0.0)


@pytest.mark.parametrize("level", [0.0, 1.0, 1.5, -0.1])
def test_levels_outside_zero_to_one_are_refused(level: float) -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        regions.area(CIRCLE, level)


def test_region_of_real_alerts(tmp_path: Path) -> None:
    maps = SkyMaps(tmp_path)
    lvk = parse_alert(LVK_PRELIMINARY.read_bytes(), "igwn.gwalert")
    region, error = region_of(lvk, maps)
    assert isinstance(region, SkyMapRegion)
    assert error is None
    assert regions.area(region, 0.9) == pytest.approx(LVK_AREA_90, rel=1e-9)
    retraction = parse_alert((CORPUS / "igwn/MS181101ab-retraction.json").read_bytes(), None)
    assert region_of(retraction, maps) == (None, None)
    ep = make_alert()
    assert region_of(ep, maps) == (CircleRegion(178.334, -10.202, 0.05, 0.9), None)
    ellipse = make_alert(ellipse=Ellipse(0.2, 0.1, 30.0), error_confidence=0.68)
    assert region_of(ellipse, maps)[0] == EllipseRegion(178.334, -10.202, 0.2, 0.1, 30.0, 0.68)
    assert region_of(make_alert(error_deg=None), maps)[0] == PointRegion(178.334, -10.202)


def test_an_alert_is_decoded_once_however_often_it_is_asked(tmp_path: Path) -> None:
    maps = SkyMaps(tmp_path)
    a = parse_alert(LVK_PRELIMINARY.read_bytes(), "igwn.gwalert")
    b = parse_alert(LVK_PRELIMINARY.read_bytes(), "igwn.gwalert")  # equal text, other object
    first, second = region_of(a, maps)[0], region_of(b, maps)[0]
    assert isinstance(first, SkyMapRegion)
    assert isinstance(second, SkyMapRegion)
    assert first.skymap is second.skymap


def _with_skymap(b64: str) -> bytes:
    payload = json.loads(LVK_PRELIMINARY.read_bytes())
    payload["event"]["skymap"] = b64
    return json.dumps(payload).encode()


def test_a_map_that_cannot_be_read_leaves_the_alert_without_it_and_says_why(
    tmp_path: Path,
) -> None:
    maps = SkyMaps(tmp_path)
    garbage = parse_alert(_with_skymap(base64.b64encode(b"SIMPLE  = no").decode()), None)
    assert region_of(garbage, maps) == (
        None,
        "sky map unreadable: FITS header ends before its END card",
    )
    not_base64 = parse_alert(_with_skymap("hhhh!"), None)
    region, error = region_of(not_base64, maps)
    assert region is None
    assert error is not None
    assert error.startswith("sky map is not valid base64")


def test_url_maps_come_from_the_cache(tmp_path: Path) -> None:
    maps = SkyMaps(tmp_path)
    gbm = parse_alert((CORPUS / "gcn-schema/fermi/gbm/trigger.final.example.json").read_bytes())
    url = skymap_url(gbm)
    assert url is not None
    assert url.endswith("glg_healpix_all_bn240812094.fit")
    region, error = region_of(gbm, maps)
    # Not fetched: the alert's own circle, stated at GBM's 68%.
    assert region == CircleRegion(29.24, -63.62, 1.0, 0.68)
    assert error == f"sky map at {url}: not fetched (yet)"
