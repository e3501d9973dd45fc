"""Coverage planning on real regions: one pointing, a tiling pattern, or galaxy targets.

The regions are real alerts' (an EP WXT circle, a MAXI GSC ellipse, the KM3NeT multiplet
circle, the MS181101ab LVK map); the galaxy weights are checked against the LVK distance
ansatz computed from the FITS columns as astropy.io.fits reads them, tile by tile.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from autotoo.alerts import NormalizedAlert, healpix, parse_alert
from autotoo.alerts.coverage import (
    PATTERN_RADIUS_DEG,
    XRT_RADIUS_DEG,
    best_pointing,
    plan_coverage,
    rank_galaxies,
)
from autotoo.alerts.galaxies import CatalogueError, read_catalogue
from autotoo.alerts.regions import CircleRegion, Region, SkyMapRegion
from autotoo.alerts.skymap import dump, load_dump
from autotoo.alerts.skymaps import region_of
from tests.alerts.alert_corpus import CORPUS, capture_topic

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config" / "galaxies-example.csv"
LVK = CORPUS / "igwn" / "MS181101ab-preliminary.json"


def _alert(relative: str, *, edit: tuple[str, str] | None = None) -> NormalizedAlert:
    path = CORPUS / relative
    data = path.read_bytes()
    if edit is not None:
        assert edit[0].encode() in data
        data = data.replace(edit[0].encode(), edit[1].encode())
    return parse_alert(data, capture_topic(path))


def _region(alert: NormalizedAlert) -> Region:
    found, error = region_of(alert)
    assert found is not None, error
    return found


def _lvk() -> SkyMapRegion:
    region = _region(parse_alert(LVK.read_bytes(), "igwn.gwalert"))
    assert isinstance(region, SkyMapRegion)
    return region


def test_small_error_circle_is_one_pointing() -> None:
    sample = REPO / "daemon" / "autotoo" / "samples" / "ep_wxt_alert.json"
    alert = parse_alert(sample.read_bytes(), "gcn.notices.einstein_probe.wxt.alert")
    plan = plan_coverage(_region(alert))
    assert plan.choice == "single"
    assert (plan.ra, plan.dec) == (alert.ra, alert.dec)
    assert plan.tiles is None
    assert plan.explanation.startswith("one XRT field holds 100%")


def test_maxi_ellipse_wider_than_the_field_is_four_tiles() -> None:
    alert = _alert("gcn-schema/maxi/gsc.unknown.ellipse.example.json")  # 13.2' x 11.4' (90%)
    plan = plan_coverage(_region(alert))
    assert plan.choice == "tiling"
    assert plan.tiles == 4
    assert plan.prob > 0.9
    assert "4 tiles (100% to 17')" in plan.explanation


def test_a_21_arcmin_circle_is_seven_tiles_and_a_25_arcmin_one_needs_nineteen() -> None:
    km3net = "gcn-schema/km3net/alert.multiplet.example.json"  # 0.41 deg (24.6') at 90%
    seven = plan_coverage(
        _region(_alert(km3net, edit=('"ra_dec_error": 0.41', '"ra_dec_error": 0.35')))
    )
    assert (seven.choice, seven.tiles) == ("tiling", 7)
    region = _region(_alert(km3net))
    none = plan_coverage(region)  # 24.6' > 24': the on-board patterns do not hold it
    assert none.choice == "none"
    assert none.explanation.startswith("7 tiles would catch 89% of the probability")
    assert "no galaxy catalogue" in none.explanation
    nineteen = plan_coverage(region, patterns=(4, 7, 19, 37))
    assert (nineteen.choice, nineteen.tiles) == ("tiling", 19)


def test_pattern_radii_follow_the_seven_tile_geometry() -> None:
    """Hexagonal spacing sqrt(3) x 11.8': the outer edge of ring k is at k sqrt(3)/2 spacings
    plus the half-chord of the field; 7 tiles give Swift's documented 24'."""
    spacing = math.sqrt(3) * XRT_RADIUS_DEG
    reach = math.sqrt(XRT_RADIUS_DEG**2 - (spacing / 2) ** 2)
    for tiles, rings in ((7, 1), (19, 2), (37, 3)):
        edge = rings * spacing * math.sqrt(3) / 2 + reach
        assert PATTERN_RADIUS_DEG[tiles] == pytest.approx(edge, abs=0.6 / 60)


@pytest.mark.parametrize("tiles", [7, 37])
def test_best_tile_centre_on_the_lvk_map_is_as_good_as_a_grid_search(tiles: int) -> None:
    region = _lvk()
    radius = PATTERN_RADIUS_DEG[tiles]
    ra, dec, caught = best_pointing(region, radius)
    assert caught == pytest.approx(region.skymap.prob_in_cone(ra, dec, radius))
    grid = [
        region.skymap.prob_in_cone(
            194.3 + east / math.cos(math.radians(-17.86)), -17.86 + north, radius
        )
        for east in np.linspace(-2.0, 2.0, 11)
        for north in np.linspace(-2.0, 2.0, 11)
    ]
    assert caught >= max(grid) - 1e-4
    assert caught == pytest.approx({7: 0.0363, 37: 0.1597}[tiles], abs=5e-4)


def _ansatz_by_hand(ra: np.ndarray, dec: np.ndarray, distance: np.ndarray) -> np.ndarray:
    """dP/dV from the FITS columns (astropy.io.fits), the tile found by its UNIQ number."""
    data = parse_alert(LVK.read_bytes(), "igwn.gwalert").skymap_bytes()
    assert data is not None
    with fits.open(io.BytesIO(data)) as hdus:
        table = hdus[1].data
        rows = {int(u): i for i, u in enumerate(table["UNIQ"])}
        out = np.zeros(len(ra))
        for k in range(len(ra)):
            for order in range(30):
                nside = 1 << order
                ipix = healpix.ang2pix_nest(
                    order, np.radians(ra[k : k + 1]), np.radians(dec[k : k + 1])
                )
                row = rows.get(4 * nside * nside + int(ipix[0]))
                if row is not None:
                    mu, sigma = table["DISTMU"][row], table["DISTSIGMA"][row]
                    gauss = math.exp(-0.5 * ((distance[k] - mu) / sigma) ** 2)
                    gauss /= sigma * math.sqrt(2 * math.pi)
                    out[k] = table["PROBDENSITY"][row] * table["DISTNORM"][row] * gauss
                    break
    return out


def test_lvk_map_gets_galaxy_targets_ranked_by_the_distance_ansatz() -> None:
    region = _lvk()
    catalogue = read_catalogue(EXAMPLE)
    plan = plan_coverage(region, catalogue=catalogue, max_targets=3)
    assert plan.choice == "galaxies"
    assert [t.name for t in plan.targets] == ["NGC 4968", "NGC 4993", "NGC 4970"]
    assert plan.explanation.startswith(
        "7 tiles would catch 4% of the probability (90% region 31 deg2): galaxies instead, "
        "top 3 of 41 hold 95% of the catalogue's probability (dP/dV x mass)"
    )
    ra = np.array([g.ra for g in catalogue.galaxies])
    dec = np.array([g.dec for g in catalogue.galaxies])
    distance = np.array([g.distance_mpc for g in catalogue.galaxies])
    # a blank mass counts as the median of the known ones (5)
    mass = np.array([g.proxy if g.proxy is not None else 5.0 for g in catalogue.galaxies])
    expected = _ansatz_by_hand(ra, dec, distance) * mass
    by_hand = sorted(
        zip(expected / expected.sum(), (g.name for g in catalogue.galaxies), strict=True)
    )[::-1]
    assert [(name, pytest.approx(share, rel=1e-9)) for share, name in by_hand[:3]] == [
        (t.name, t.score) for t in plan.targets
    ]
    assert plan.targets[1].prob_in_fov == pytest.approx(
        region.skymap.prob_in_cone(197.449, -23.384, XRT_RADIUS_DEG)
    )


def test_without_the_proxy_distance_decides() -> None:
    targets, share, basis = rank_galaxies(_lvk(), read_catalogue(EXAMPLE), 2, use_proxy=False)
    assert basis == "dP/dV"
    # NGC 4993 (3e10 Msun) is denser in probability than NGC 4968 (4e10), which leads by mass
    assert [t.name for t in targets] == ["NGC 4993", "NGC 4968"]
    assert 0 < share <= 1


def test_circle_galaxies_rank_by_the_gaussian() -> None:
    catalogue = read_catalogue(EXAMPLE)
    wide = CircleRegion(194.5, -14.5, 1.5)  # a GBM-like circle near NGC 4856 and NGC 4902
    plan = plan_coverage(wide, catalogue=catalogue, max_targets=2, use_proxy=False)
    assert plan.choice == "galaxies"
    assert {t.name for t in plan.targets} == {"NGC 4856", "NGC 4902"}
    assert "(sky density (no distance))" in plan.explanation


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name,ra,dec\nA,1,2\n", "{path}:1: the header needs columns ra, dec and distance_mpc"),
        (
            "# c\nname,ra,dec,distance_mpc\nA,1,2,40\nB,x,2,40\n",
            "{path}:4: ra: 'x' is not a number",
        ),
        ("ra,dec,dist_mpc\n1,95,40\n", "{path}:2: dec: 95.0 is not in [-90, 90] degrees"),
        ("ra,dec,distance,mass\n1,2,0,1\n", "{path}:2: distance_mpc: 0.0 is not positive"),
        ("ra,dec,distance,mass\n1,2,3,-1\n", "{path}:2: proxy: -1.0 is negative"),
        ("# only a comment\n", "{path}: no galaxies"),
    ],
)
def test_catalogue_errors_say_where(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "cat.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogueError) as caught:
        read_catalogue(path)
    assert str(caught.value).startswith(message.format(path=path))


def test_example_catalogue_reads() -> None:
    catalogue = read_catalogue(EXAMPLE)
    assert len(catalogue) == 41
    assert catalogue.proxy_column == "mass"
    assert next(g for g in catalogue.galaxies if g.name == "NGC 4941").proxy is None


def test_the_cached_form_keeps_the_distance_columns() -> None:
    skymap = _lvk().skymap
    again = load_dump(dump(skymap))
    assert again.distance is not None
    assert skymap.distance is not None
    for ours, theirs in zip(skymap.distance, again.distance, strict=True):
        assert np.array_equal(ours, theirs)


def test_an_error_of_zero_is_one_pointing() -> None:
    plan = plan_coverage(CircleRegion(10.0, 20.0, 0.0), catalogue=read_catalogue(EXAMPLE))
    assert (plan.choice, plan.ra, plan.dec) == ("single", 10.0, 20.0)
