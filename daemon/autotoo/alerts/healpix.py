"""HEALPix pixel arithmetic in plain numpy: NESTED and RING indices, pixel centres, areas.

Why not astropy-healpix, healpy or mocpy: each costs 1-3 s of imports on this kind of machine
(astropy-healpix pulls in astropy.coordinates), while the operations the rules need are a few
dozen lines of integer arithmetic over numpy arrays (docs/skymaps.md has the measurements).
The formulas are those of the HEALPix papers (Gorski et al. 2005) as every implementation
writes them; ``tests/alerts/test_healpix.py`` checks them against values healpy gives.

``order`` is log2(nside). Angles are radians; ``z`` is sin(dec) and ``phi`` the right
ascension. Every function takes and returns numpy arrays (int64 for pixel indices).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]

MAX_ORDER = 29  # the largest order a 64-bit NUNIQ index can hold

_JRLL = np.array([2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4], dtype=np.int64)
_JPLL = np.array([1, 3, 5, 7, 0, 2, 4, 6, 1, 3, 5, 7], dtype=np.int64)
_SPREAD = (
    (16, 0x0000FFFF0000FFFF),
    (8, 0x00FF00FF00FF00FF),
    (4, 0x0F0F0F0F0F0F0F0F),
    (2, 0x3333333333333333),
    (1, 0x5555555555555555),
)


def _spread_bits(v: Ints) -> Ints:
    """Move bit i of each value to bit 2i (values below 2^32)."""
    x = v.astype(np.uint64)
    for shift, mask in _SPREAD:
        x = (x | (x << np.uint64(shift))) & np.uint64(mask)
    return x.astype(np.int64)


def _compress_bits(v: Ints) -> Ints:
    """The inverse of :func:`_spread_bits` on the even bits."""
    x = v.astype(np.uint64) & np.uint64(0x5555555555555555)
    x = (x | (x >> np.uint64(1))) & np.uint64(0x3333333333333333)
    x = (x | (x >> np.uint64(2))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    x = (x | (x >> np.uint64(4))) & np.uint64(0x00FF00FF00FF00FF)
    x = (x | (x >> np.uint64(8))) & np.uint64(0x0000FFFF0000FFFF)
    x = (x | (x >> np.uint64(16))) & np.uint64(0x00000000FFFFFFFF)
    return x.astype(np.int64)


def ang2pix_nest(order: int, ra: Floats, dec: Floats) -> Ints:
    """NESTED pixel index at ``order`` of each position (``ra``, ``dec`` in radians)."""
    nside = 1 << order
    z = np.sin(dec)
    za = np.abs(z)
    tt = np.mod(ra, 2.0 * math.pi) * (2.0 / math.pi)
    tt = np.where(tt >= 4.0, 0.0, tt)  # ra just below 2 pi can round up to 4
    equatorial = za <= 2.0 / 3.0

    # Equatorial belt: the pixel's edge lines.
    temp1 = nside * (0.5 + tt)
    temp2 = nside * (z * 0.75)
    jp = (temp1 - temp2).astype(np.int64)
    jm = (temp1 + temp2).astype(np.int64)
    ifp, ifm = jp >> order, jm >> order
    face_eq = np.where(ifp == ifm, ifp | 4, np.where(ifp < ifm, ifp, ifm + 8))
    ix_eq = jm & (nside - 1)
    iy_eq = nside - (jp & (nside - 1)) - 1

    # Polar caps, with sin(theta) = cos(dec) for precision near the poles.
    ntt = np.minimum(tt.astype(np.int64), 3)
    tp = tt - ntt
    tmp = nside * np.cos(dec) / np.sqrt((1.0 + za) / 3.0)
    jp_p = np.minimum((tp * tmp).astype(np.int64), nside - 1)
    jm_p = np.minimum(((1.0 - tp) * tmp).astype(np.int64), nside - 1)
    north = z >= 0
    face_p = np.where(north, ntt, ntt + 8)
    ix_p = np.where(north, nside - jm_p - 1, jp_p)
    iy_p = np.where(north, nside - jp_p - 1, jm_p)

    face = np.where(equatorial, face_eq, face_p)
    ix = np.where(equatorial, ix_eq, ix_p)
    iy = np.where(equatorial, iy_eq, iy_p)
    result: Ints = (face << (2 * order)) + _spread_bits(ix) + (_spread_bits(iy) << 1)
    return result


def pix2ang_nest(order: Ints | int, ipix: Ints) -> tuple[Floats, Floats]:
    """Centre (ra, dec in radians) of each NESTED pixel; ``order`` may vary per pixel."""
    order = np.broadcast_to(np.asarray(order, dtype=np.int64), ipix.shape)
    nside = np.left_shift(np.int64(1), order)
    npface = nside * nside
    face = ipix >> (2 * order)
    inface = ipix & (npface - 1)
    ix = _compress_bits(inface)
    iy = _compress_bits(inface >> 1)
    jr = _JRLL[face] * nside - ix - iy - 1
    npix = 12.0 * npface
    fact2 = 4.0 / npix
    north = jr < nside
    south = jr > 3 * nside
    nr = np.where(north, jr, np.where(south, 4 * nside - jr, nside))
    z = np.where(
        north,
        1.0 - nr * nr * fact2,
        np.where(south, nr * nr * fact2 - 1.0, (2 * nside - jr) * (2.0 * nside * fact2)),
    )
    kshift = np.where(north | south, 0, (jr - nside) & 1)
    jp = (_JPLL[face] * nr + ix - iy + 1 + kshift) // 2
    nl4 = 4 * nside
    jp = np.where(jp > nl4, jp - nl4, np.where(jp < 1, jp + nl4, jp))
    ra = (jp - (kshift + 1) * 0.5) * ((math.pi / 2.0) / nr)
    return ra, np.arcsin(np.clip(z, -1.0, 1.0))


def pix2ang_ring(order: int, ipix: Ints) -> tuple[Floats, Floats]:
    """Centre (ra, dec in radians) of each RING pixel at ``order``."""
    nside = 1 << order
    npix = 12 * nside * nside
    ncap = 2 * nside * (nside - 1)
    fact2 = 4.0 / npix
    fact1 = 2 * nside * fact2
    p = ipix.astype(np.int64)

    north = p < ncap
    south = p >= npix - ncap
    # North cap.
    ring_n = (1 + _isqrt(1 + 2 * p)) >> 1
    phi_n = (p + 1 - 2 * ring_n * (ring_n - 1) - 0.5) * (math.pi / 2.0) / np.maximum(ring_n, 1)
    z_n = 1.0 - ring_n * ring_n * fact2
    # Equatorial belt.
    ip = p - ncap
    tmp = ip // (4 * nside)
    ring_e = tmp + nside
    iphi = ip - tmp * 4 * nside + 1
    fodd = np.where(((ring_e + nside) & 1) == 1, 1.0, 0.5)
    phi_e = (iphi - fodd) * math.pi / (2.0 * nside)
    z_e = (2 * nside - ring_e) * fact1
    # South cap.
    ips = npix - p
    ring_s = (1 + _isqrt(np.maximum(2 * ips - 1, 0))) >> 1
    iphi_s = 4 * ring_s + 1 - (ips - 2 * ring_s * (ring_s - 1))
    phi_s = (iphi_s - 0.5) * (math.pi / 2.0) / np.maximum(ring_s, 1)
    z_s = -1.0 + ring_s * ring_s * fact2

    z = np.where(north, z_n, np.where(south, z_s, z_e))
    ra = np.where(north, phi_n, np.where(south, phi_s, phi_e))
    return ra, np.arcsin(np.clip(z, -1.0, 1.0))


def _isqrt(v: Ints) -> Ints:
    """Integer square root, exact for the pixel counts of any order up to 29."""
    root = np.floor(np.sqrt(v.astype(np.float64))).astype(np.int64)
    root = np.where(root * root > v, root - 1, root)
    return np.where((root + 1) * (root + 1) <= v, root + 1, root)


def ring_to_nest(order: int, ipix: Ints) -> Ints:
    """NESTED index of each RING pixel, in integers only (HEALPix ``ring2xyf``/``xyf2nest``).

    Flat maps come in RING order with up to 12.6 million pixels (nside 1024): going through
    the pixel centres' angles took 7 s for those, this ~1 s.
    """
    nside = 1 << order
    nl2, nl4 = 2 * nside, 4 * nside
    npix = 12 * nside * nside
    ncap = 2 * nside * (nside - 1)
    p = ipix.astype(np.int64)
    north, south = p < ncap, p >= npix - ncap
    equator = ~(north | south)

    iring = np.empty_like(p)
    iphi = np.empty_like(p)
    kshift = np.zeros_like(p)
    nr = np.full_like(p, nside)
    face = np.empty_like(p)

    pn = p[north]
    ring_n = (1 + _isqrt(1 + 2 * pn)) >> 1
    iring[north] = ring_n
    iphi[north] = (pn + 1) - 2 * ring_n * (ring_n - 1)
    nr[north] = ring_n
    face[north] = (iphi[north] - 1) // ring_n

    ip = p[equator] - ncap
    tmp = ip >> (order + 2)
    ring_e = tmp + nside
    phi_e = ip - tmp * nl4 + 1
    iring[equator], iphi[equator] = ring_e, phi_e
    kshift[equator] = (ring_e + nside) & 1
    ire = tmp + 1
    irm = nl2 + 2 - ire
    ifm = (phi_e - ire // 2 + nside - 1) >> order
    ifp = (phi_e - irm // 2 + nside - 1) >> order
    face[equator] = np.where(ifp == ifm, ifp | 4, np.where(ifp < ifm, ifp, ifm + 8))

    ips = npix - p[south]
    ring_s = (1 + _isqrt(2 * ips - 1)) >> 1
    phi_s = 4 * ring_s + 1 - (ips - 2 * ring_s * (ring_s - 1))
    iring[south], iphi[south], nr[south] = 2 * nl2 - ring_s, phi_s, ring_s
    face[south] = (phi_s - 1) // ring_s + 8

    irt = iring - _JRLL[face] * nside + 1
    ipt = 2 * iphi - _JPLL[face] * nr - kshift - 1
    ipt = np.where(ipt >= nl2, ipt - 8 * nside, ipt)
    ix, iy = (ipt - irt) >> 1, (-ipt - irt) >> 1
    result: Ints = (face << (2 * order)) + _spread_bits(ix) + (_spread_bits(iy) << 1)
    return result


def uniq_to_order_ipix(uniq: Ints) -> tuple[Ints, Ints]:
    """``uniq = 4 nside^2 + ipix``: the order (log2 nside) and NESTED index of each tile."""
    # The highest set bit of uniq is bit 2 + 2 order; float64 log2 is exact enough below 2^62.
    order = (np.floor(np.log2(uniq.astype(np.float64))).astype(np.int64) - 2) // 2
    # Guard the rounding of log2 near powers of two.
    order = np.where((np.int64(4) << (2 * order)) > uniq, order - 1, order)
    ipix = uniq - (np.int64(4) << (2 * order))
    return order, ipix


def pixel_area_sr(order: Ints) -> Floats:
    """Area of a pixel of each order, steradians.

    ``ldexp`` (a division by 4^order, exact in binary) gives the same values as dividing by
    ``np.power(4.0, order)`` at a third of its cost; it runs for every tile of every map."""
    return np.ldexp(4.0 * math.pi / 12.0, -2 * np.asarray(order, dtype=np.int64))


def pixel_radius_rad(order: Ints | int) -> Floats:
    """An upper bound of the angle from a pixel's centre to any point of it.

    The largest HEALPix pixel radius is at most 1.045 times the square root of the pixel's
    area at any order (healpy's ``max_pixrad``: 0.82 at order 0, 1.0446 from order 11 on);
    1.5 keeps a margin, which only makes more pixels count as "maybe on the edge".
    """
    return 1.5 * np.sqrt(pixel_area_sr(np.asarray(order, dtype=np.int64)))
