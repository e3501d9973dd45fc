"""HEALPix arithmetic against values healpy 1.20.1 gives (``hp.ang2pix(..., nest=True,
lonlat=True)``, ``hp.pix2ang``, ``hp.ring2nest``), pasted here: healpy is not a dependency."""

from __future__ import annotations

import math

import numpy as np
import pytest

from autotoo.alerts import healpix

ANG2PIX = [
    (0, 0.0, 90.0, 0),
    (0, 0.0, -90.0, 8),
    (0, 359.9999999, 0.0, 4),
    (0, 45.0, 41.8103148957786, 0),
    (0, 194.30419921875, -17.856895095545468, 6),
    (0, 300.5, 65.2, 3),
    (0, 12.25, -72.5, 8),
    (0, 225.034368, 48.340385, 2),
    (0, 322.996968, -81.677645, 11),
    (0, 279.246848, 39.975265, 3),
    (0, 81.074588, 36.451268, 0),
    (0, 108.059863, -3.676907, 5),
    (3, 0.0, 90.0, 63),
    (3, 0.0, -90.0, 512),
    (3, 359.9999999, 0.0, 293),
    (3, 45.0, 41.8103148957786, 48),
    (3, 194.30419921875, -17.856895095545468, 389),
    (3, 300.5, 65.2, 249),
    (3, 12.25, -72.5, 520),
    (3, 225.034368, 48.340385, 176),
    (3, 322.996968, -81.677645, 704),
    (3, 279.246848, 39.975265, 234),
    (3, 81.074588, 36.451268, 20),
    (3, 108.059863, -3.676907, 345),
    (11, 0.0, 90.0, 4194303),
    (11, 0.0, -90.0, 33554432),
    (11, 359.9999999, 0.0, 19223893),
    (11, 45.0, 41.8103148957786, 3145728),
    (11, 194.30419921875, -17.856895095545468, 25541726),
    (11, 300.5, 65.2, 16353053),
    (11, 12.25, -72.5, 34117151),
    (11, 225.034368, 48.340385, 11583514),
    (11, 322.996968, -81.677645, 46191414),
    (11, 279.246848, 39.975265, 15353041),
    (11, 81.074588, 36.451268, 1340059),
    (11, 108.059863, -3.676907, 22611272),
    (29, 0.0, 90.0, 288230376151711743),
    (29, 0.0, -90.0, 2305843009213693952),
    (29, 359.9999999, 0.0, 1321055890695345493),
    (29, 45.0, 41.8103148957786, 216172782113783808),
    (29, 194.30419921875, -17.856895095545468, 1755214074287401642),
    (29, 300.5, 65.2, 1123773312590450273),
    (29, 12.25, -72.5, 2344512794876455879),
    (29, 225.034368, 48.340385, 796013053091174584),
    (29, 322.996968, -81.677645, 3174249841051911061),
    (29, 279.246848, 39.975265, 1055052956014483012),
    (29, 81.074588, 36.451268, 92088196055479730),
    (29, 108.059863, -3.676907, 1553834820324930616),
]
CENTRES = [
    (0, 0, 45.0, 41.81031489577859),
    (0, 4, 0.0, 0.0),
    (0, 11, 315.0, -41.81031489577862),
    (3, 100, 123.74999999999999, 35.68533471265204),
    (11, 12345678, 229.88154613466338, 71.60122112539378),
    (11, 50331647, 315.0, -0.018650970222964247),
    (29, 3458764513820540927, 315.0, -7.114780942174548e-08),
    (29, 1234567890123456789, 15.83427264355123, -12.81055504430438),
]
RING_TO_NEST = [
    (0, 5, 5),
    (2, 0, 15),
    (2, 100, 118),
    (4, 1500, 1200),
    (7, 196607, 180224),
    (10, 6000000, 5622799),
]


def test_ang2pix_nest_agrees_with_healpy() -> None:
    for order, ra, dec, expected in ANG2PIX:
        got = healpix.ang2pix_nest(order, np.radians([ra]), np.radians([dec]))
        assert int(got[0]) == expected, (order, ra, dec)


def test_pixel_centres_agree_with_healpy() -> None:
    for order, ipix, ra, dec in CENTRES:
        got_ra, got_dec = healpix.pix2ang_nest(order, np.array([ipix], dtype=np.int64))
        assert math.degrees(got_ra[0]) == pytest.approx(ra, abs=1e-9)
        assert math.degrees(got_dec[0]) == pytest.approx(dec, abs=1e-9)


def test_ring_to_nest_agrees_with_healpy() -> None:
    for order, ring, nest in RING_TO_NEST:
        assert int(healpix.ring_to_nest(order, np.array([ring], dtype=np.int64))[0]) == nest


@pytest.mark.parametrize("order", [0, 1, 5, 11, 20, 29])
def test_every_pixel_centre_falls_in_its_own_pixel(order: int) -> None:
    rng = np.random.default_rng(order)
    ipix = rng.integers(0, 12 * 4**order, 5000, dtype=np.int64)
    ra, dec = healpix.pix2ang_nest(order, ipix)
    assert np.array_equal(healpix.ang2pix_nest(order, ra, dec), ipix)


def test_uniq_decodes_order_and_index_at_every_order() -> None:
    orders = np.arange(30, dtype=np.int64)
    last = 12 * 4**orders - 1
    for ipix in (np.zeros(30, dtype=np.int64), last):
        uniq = 4 * 4**orders + ipix
        got_order, got_ipix = healpix.uniq_to_order_ipix(uniq)
        assert np.array_equal(got_order, orders)
        assert np.array_equal(got_ipix, ipix)


def test_pixel_areas_tile_the_sphere() -> None:
    for order in (0, 4, 29):
        total = healpix.pixel_area_sr(np.array([order])) * 12 * 4**order
        assert total[0] == pytest.approx(4 * math.pi)
