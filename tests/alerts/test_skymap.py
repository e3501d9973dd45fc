"""Decoding sky maps and what rules ask of them, on the real LVK map of the corpus and on
flat GBM-format maps written with astropy.io.fits."""

from __future__ import annotations

import gzip
import io
import math
import warnings
from datetime import UTC, datetime

import numpy as np
import pytest
from astropy.io import fits

from autotoo.alerts import healpix
from autotoo.alerts.fitstable import read_first_table
from autotoo.alerts.skymap import (
    SQDEG_PER_SR,
    SkyMap,
    SkyMapError,
    dump,
    load_dump,
    read_skymap,
)
from tests.alerts.skymap_files import (
    LVK_AREA_50,
    LVK_AREA_90,
    LVK_DISTANCE,
    LVK_MAX_POSITION,
    flat_map_bytes,
    gaussian_probabilities,
    lvk_map_bytes,
)


@pytest.fixture(scope="module")
def lvk() -> SkyMap:
    return read_skymap(lvk_map_bytes())


def test_the_table_reader_gives_what_astropy_reads() -> None:
    data = lvk_map_bytes()
    ours = read_first_table(data)
    with fits.open(io.BytesIO(data)) as hdus:
        theirs = hdus[1]
        assert set(ours.columns) == set(theirs.columns.names)
        for name in theirs.columns.names:
            assert np.array_equal(ours.columns[name], theirs.data[name]), name
        assert ours.header["MOCORDER"] == theirs.header["MOCORDER"] == 11
        assert ours.header["OBJECT"] == "MS181101ab"
    assert ours.units["PROBDENSITY"] == "sr-1"


def test_lvk_map_areas_position_and_distance_are_ligo_skymaps(lvk: SkyMap) -> None:
    assert len(lvk) == 19200
    assert lvk.total == pytest.approx(1.0, abs=1e-9)
    assert lvk.area_deg2(0.5) == pytest.approx(LVK_AREA_50, rel=1e-9)
    assert lvk.area_deg2(0.9) == pytest.approx(LVK_AREA_90, rel=1e-9)
    assert lvk.max_position == pytest.approx(LVK_MAX_POSITION, abs=1e-9)
    assert (lvk.distmean, lvk.diststd) == pytest.approx(LVK_DISTANCE)


def test_tiles_cover_the_sphere_once(lvk: SkyMap) -> None:
    area = healpix.pixel_area_sr(lvk.order).sum()
    assert area == pytest.approx(4 * math.pi, rel=1e-12)
    assert (lvk.start[1:] == lvk.stop[:-1]).all()  # sorted, no gap, no overlap


def test_density_and_credible_level_at_positions(lvk: SkyMap) -> None:
    ra, dec = LVK_MAX_POSITION
    densest = lvk.density.max() / SQDEG_PER_SR
    assert lvk.density_at(np.array([ra]), np.array([dec]))[0] == densest
    levels = lvk.credible_level(np.array([ra, ra + 180.0]), np.array([dec, -dec]))
    assert levels[0] < 1e-3
    assert levels[1] == pytest.approx(1.0)


def _monte_carlo_cone(skymap: SkyMap, ra: float, dec: float, radius: float) -> float:
    """The cone's probability as the mean density at uniform random points in it."""
    rng = np.random.default_rng(5)
    n = 400_000
    z = rng.uniform(math.cos(math.radians(radius)), 1.0, n)
    phi = rng.uniform(0.0, 2.0 * math.pi, n)
    s = np.sqrt(1.0 - z * z)
    v = np.array([s * np.cos(phi), s * np.sin(phi), z])
    theta, lon = math.radians(90.0 - dec), math.radians(ra)
    rot_y = np.array(
        [[math.cos(theta), 0, math.sin(theta)], [0, 1, 0], [-math.sin(theta), 0, math.cos(theta)]]
    )
    rot_z = np.array(
        [[math.cos(lon), -math.sin(lon), 0], [math.sin(lon), math.cos(lon), 0], [0, 0, 1]]
    )
    w = rot_z @ rot_y @ v
    pra = np.degrees(np.arctan2(w[1], w[0])) % 360.0
    pdec = np.degrees(np.arcsin(w[2]))
    cone_deg2 = 2.0 * math.pi * (1.0 - math.cos(math.radians(radius))) * SQDEG_PER_SR
    return float(skymap.density_at(pra, pdec).mean() * cone_deg2)


@pytest.mark.parametrize(("offset", "radius"), [(0.0, 0.2), (0.3, 0.2), (0.0, 1.0), (2.0, 5.0)])
def test_probability_in_a_cone_matches_the_integral(
    lvk: SkyMap, offset: float, radius: float
) -> None:
    ra, dec = LVK_MAX_POSITION
    expected = _monte_carlo_cone(lvk, ra + offset, dec, radius)
    assert lvk.prob_in_cone(ra + offset, dec, radius) == pytest.approx(expected, rel=0.01)


def test_cone_limits(lvk: SkyMap) -> None:
    ra, dec = LVK_MAX_POSITION
    assert lvk.prob_in_cone(ra, dec, 180.0) == 1.0
    assert lvk.prob_in_cone(ra + 180.0, -dec, 10.0) < 1e-6


def _cone_over_every_tile(
    skymap: SkyMap, ra_deg: float, dec_deg: float, radius_deg: float
) -> float:
    """The cone's probability by the same splitting rule, starting from every tile."""
    radius = math.radians(radius_deg)
    centre = np.array(
        [
            math.cos(math.radians(dec_deg)) * math.cos(math.radians(ra_deg)),
            math.cos(math.radians(dec_deg)) * math.sin(math.radians(ra_deg)),
            math.sin(math.radians(dec_deg)),
        ]
    )
    order, ipix, prob, total = skymap.order, skymap.ipix, skymap.prob, 0.0
    while len(order):
        ra, dec = healpix.pix2ang_nest(order, ipix)
        cosine = np.cos(dec) * (centre[0] * np.cos(ra) + centre[1] * np.sin(ra))
        distance = np.arccos(np.clip(cosine + centre[2] * np.sin(dec), -1.0, 1.0))
        reach = healpix.pixel_radius_rad(order)
        total += float(prob[distance + reach <= radius].sum())
        edge = (distance - reach < radius) & (distance + reach > radius)
        fine = (reach * 16.0 <= radius) | (order >= healpix.MAX_ORDER)
        total += float(prob[edge & fine & (distance <= radius)].sum())
        split = edge & ~fine  # each into its 16 grandchildren (none reaches order 29 here)
        order = np.repeat(order[split] + 2, 16)
        ipix = (np.repeat(ipix[split], 16) << 4) + np.tile(np.arange(16), int(split.sum()))
        prob = np.repeat(prob[split] / 16.0, 16)
    return min(total / skymap.total, 1.0)


@pytest.mark.parametrize(
    ("offset", "radius"), [(0.0, 0.2), (0.3, 0.2), (0.0, 1.0), (2.0, 5.0), (40.0, 30.0), (0, 70.0)]
)
def test_a_cone_looks_only_at_the_tiles_near_it_and_gives_the_same_answer(
    lvk: SkyMap, offset: float, radius: float
) -> None:
    """Why: a small cone on a fresh map computed every tile's centre (19,200), two thirds of
    a first ``prob_in_fov`` (15-24 ms on the alert's path); the tiles far from it now are
    left out before any centre is computed, which must not change the answer."""
    ra, dec = LVK_MAX_POSITION
    ra += offset
    centre = np.array(
        [
            math.cos(math.radians(dec)) * math.cos(math.radians(ra)),
            math.cos(math.radians(dec)) * math.sin(math.radians(ra)),
            math.sin(math.radians(dec)),
        ]
    )
    near = lvk._near_cone(centre, math.radians(radius))
    if radius <= 0.3:  # an XRT field: a few hundred of the 19,200 tiles
        assert len(near) < 1000
    expected = _cone_over_every_tile(lvk, ra, dec, radius)
    assert lvk.prob_in_cone(ra, dec, radius) == pytest.approx(expected, rel=1e-9, abs=1e-15)


def test_a_cone_over_a_map_with_holes_counts_what_is_there() -> None:
    prob = gaussian_probabilities(6, 29.24, -63.62, 3.0, ring=False)
    skymap = read_skymap(flat_map_bytes(prob, ordering="NESTED", per_row=1))
    for ra, dec, radius in [(29.24, -63.62, 2.0), (35.0, -60.0, 0.5), (200.0, 40.0, 3.0)]:
        expected = _cone_over_every_tile(skymap, ra, dec, radius)
        assert skymap.prob_in_cone(ra, dec, radius) == pytest.approx(expected, rel=1e-9, abs=1e-15)


def test_pixel_areas_are_exact_powers_of_a_quarter() -> None:
    orders = np.arange(healpix.MAX_ORDER + 1)
    expected = [(4.0 * math.pi / 12.0) / 4.0**o for o in range(healpix.MAX_ORDER + 1)]
    assert healpix.pixel_area_sr(orders).tolist() == expected


@pytest.mark.parametrize("minute", [0, 10, 20])
def test_probability_above_the_horizon_agrees_with_astropy_altaz(lvk: SkyMap, minute: int) -> None:
    from astropy import units  # noqa: PLC0415
    from astropy.coordinates import AltAz, EarthLocation, SkyCoord  # noqa: PLC0415
    from astropy.time import Time  # noqa: PLC0415
    from astropy.utils import iers  # noqa: PLC0415

    when = datetime(2018, 11, 2, 20, minute, tzinfo=UTC)  # the map is setting at La Silla
    ra, dec = healpix.pix2ang_nest(lvk.order, lvk.ipix)
    site = EarthLocation(lat=-30.2 * units.deg, lon=-70.7 * units.deg)
    with iers.conf.set_temp("auto_download", False), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = AltAz(obstime=Time(when), location=site)
        altitude = SkyCoord(ra * units.rad, dec * units.rad).transform_to(frame).alt.deg
    expected = float(lvk.prob[altitude > 20.0].sum())
    assert 0.1 < expected < 0.9  # a question whose answer depends on the time
    assert lvk.prob_above_horizon(-30.2, -70.7, 20.0, when) == pytest.approx(expected, abs=0.003)


@pytest.mark.parametrize(
    ("ordering", "per_row"), [("RING", 1), ("NESTED", 1), ("RING", 1024), ("NESTED", 1024)]
)
def test_flat_maps_in_gbm_format(ordering: str, per_row: int) -> None:
    prob = gaussian_probabilities(6, 29.24, -63.62, 3.0, ring=ordering == "RING")
    skymap = read_skymap(flat_map_bytes(prob, ordering=ordering, per_row=per_row))
    ra, dec = skymap.max_position
    assert math.hypot((ra - 29.24) * math.cos(math.radians(dec)), dec + 63.62) < 1.0
    # A 2-D Gaussian of sigma 3 deg: its 90% region is a disc of radius 3 x 2.146 deg.
    assert skymap.area_deg2(0.9) == pytest.approx(math.pi * (3.0 * 2.1460) ** 2, rel=0.03)
    assert skymap.prob_in_cone(29.24, -63.62, 3.0 * 2.1460) == pytest.approx(0.9, abs=0.01)


def test_flat_and_gzipped_maps_agree_with_the_multi_order_one(lvk: SkyMap) -> None:
    gzipped = read_skymap(gzip.compress(lvk_map_bytes()))
    assert gzipped.area_deg2(0.9) == lvk.area_deg2(0.9)
    prob = gaussian_probabilities(5, 100.0, 20.0, 4.0, ring=False)
    ring = read_skymap(flat_map_bytes(gaussian_probabilities(5, 100.0, 20.0, 4.0, ring=True)))
    nested = read_skymap(flat_map_bytes(prob, ordering="NESTED"))
    assert ring.area_deg2(0.9) == pytest.approx(nested.area_deg2(0.9), rel=1e-6)


def _fits_image() -> bytes:
    out = io.BytesIO()
    fits.PrimaryHDU(np.zeros((4, 4))).writeto(out)
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"not a map", "not a FITS file"),
        (b"\x1f\x8b" + b"garbage" * 10, "gzip data is corrupt"),
        (lvk_map_bytes()[:20000], "does not fit the file"),
        (lvk_map_bytes()[:1000], "header ends before its END card"),
        (_fits_image(), "no binary table"),
        (flat_map_bytes(np.full(100, 0.01)), "not 12 nside^2"),
        (flat_map_bytes(np.full(48, -1.0 / 48)), "negative or non-finite"),
        (flat_map_bytes(np.full(48, np.nan)), "negative or non-finite"),
        (flat_map_bytes(np.zeros(48)), "holds no probability"),
        (flat_map_bytes(np.full(48, 1 / 48), column="SIGNAL"), "without a PROB"),
        (flat_map_bytes(np.full(48, 1 / 48), ordering="SPIRAL"), "ORDERING 'SPIRAL'"),
        (flat_map_bytes(np.full(48, 1 / 48), coordsys="G"), "not celestial"),
    ],
)
def test_unreadable_maps_say_why(data: bytes, reason: str) -> None:
    with pytest.raises(SkyMapError, match=reason.replace("^", r"\^").replace("(", r"\(")):
        read_skymap(data)


def test_a_gzip_bomb_is_refused_before_it_is_inflated() -> None:
    bomb = gzip.compress(b"\0" * (4 * 2**20))
    with pytest.raises(SkyMapError, match="larger than 1048576 bytes"):
        read_skymap(bomb, limit=2**20)


def test_a_flat_nside_1024_map_becomes_a_few_thousand_tiles() -> None:
    """IceCube publishes nside-1024 maps: 12.6 million pixels, 600 MB as tiles unmerged."""
    sigma = 0.5
    prob = gaussian_probabilities(10, 75.9, 10.0, sigma, ring=True)
    skymap = read_skymap(flat_map_bytes(prob))
    assert len(skymap) < 20_000
    assert healpix.pixel_area_sr(skymap.order).sum() == pytest.approx(4 * math.pi)
    assert skymap.total == pytest.approx(1.0, abs=1e-6)
    radius_90 = sigma * math.sqrt(-2 * math.log(0.1))
    assert skymap.area_deg2(0.9) == pytest.approx(math.pi * radius_90**2, rel=0.01)
    assert skymap.prob_in_cone(75.9, 10.0, radius_90) == pytest.approx(0.9, abs=0.003)
    # The merged tiles keep the densest pixel's value where the map is not flat.
    assert skymap.density.max() == pytest.approx(
        prob.max() / healpix.pixel_area_sr(np.array([10]))[0], rel=1e-6
    )


def test_the_decoded_copy_loads_back_the_same_map(lvk: SkyMap) -> None:
    again = load_dump(dump(lvk))
    assert np.array_equal(again.order, lvk.order)
    assert np.array_equal(again.density, lvk.density)
    assert (again.distmean, again.diststd) == (lvk.distmean, lvk.diststd)
    with pytest.raises(SkyMapError, match="cached sky map is unreadable"):
        load_dump(b"PK not a zip")
