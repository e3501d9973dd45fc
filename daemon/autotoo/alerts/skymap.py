"""A decoded HEALPix sky map and the questions rules ask of it.

Every map, whatever its file, becomes one multi-order form (the LVK one): NESTED tiles named
by ``uniq = 4 nside^2 + ipix`` with a probability density per steradian. LVK maps are that
already; a flat map (Fermi GBM, IceCube: ``PROB`` per pixel, RING or NESTED) becomes tiles of
one order, its empty pixels left out. The algorithms are the standard ones: a credible region
takes tiles by decreasing density until the probability reaches the level; a position's
value is the tile that holds it, found by binary search over the tiles' index ranges at
order 29. Flat maps are merged into multi-order tiles where they hold (almost) nothing.

numpy is imported with this module, so nothing on the daemon's start-up path imports it:
:mod:`autotoo.rules.regions` imports it when a sky map is first needed (or at start, off the
event loop, when a loaded rule uses a region function).
"""

from __future__ import annotations

import io
import math
from datetime import UTC, datetime
from functools import cache, cached_property
from typing import Any

import numpy as np

from autotoo.alerts import healpix
from autotoo.alerts.fitstable import FitsError, FitsTable, read_first_table
from autotoo.alerts.healpix import MAX_ORDER, Floats, Ints

SQDEG_PER_SR = (180.0 / math.pi) ** 2
_FLAT_COLUMNS = ("PROB", "PROBABILITY", "PROBDENSITY")
# Pixels whose centre-to-edge bound straddles a cone are split into 4^_SPLIT children per
# round until they are this many times smaller than the cone's radius (or reach order 29).
_SPLIT = 2
_FINE = 16.0
# The orders whose pixels near a cone are found first, coarse to fine, to leave out the tiles
# far from it; a finer order is tested only while it means at most this many pixels.
_LEVELS = (4, 6, 8, 10)
_DESCEND_AT_MOST = 8192


class SkyMapError(ValueError):
    """A sky map that cannot be read; the message is the reason rules and replays see."""


class SkyMap:
    """Tiles sorted by their NESTED range at order 29, with densities in sr^-1."""

    def __init__(
        self,
        order: Ints,
        ipix: Ints,
        density: Floats,
        *,
        distmean: float | None = None,
        diststd: float | None = None,
        name: str | None = None,
        distance: tuple[Floats, Floats, Floats] | None = None,
    ) -> None:
        shift = 2 * (MAX_ORDER - order)
        start = ipix << shift
        sort = np.argsort(start, kind="stable")
        self.order = order[sort]
        self.ipix = ipix[sort]
        self.density = density[sort]
        self.start = start[sort]
        self.stop = (self.ipix + 1) << (2 * (MAX_ORDER - self.order))
        self.distmean = distmean
        self.diststd = diststd
        self.name = name
        self._sort = sort
        self._distance = distance  # as read; sorted and cleaned when first asked (rarely)

    def __len__(self) -> int:
        return len(self.density)

    @cached_property
    def distance(self) -> tuple[Floats, Floats, Floats] | None:
        """The LVK distance ansatz per tile (DISTMU, DISTSIGMA in Mpc, DISTNORM in Mpc^-2):
        p(r | tile) = DISTNORM r^2 N(r; DISTMU, DISTSIGMA); None when the map has none.
        Where a tile's values are unusable (BAYESTAR writes inf where the distance is not
        constrained), its norm is 0. Kept unsorted until asked: galaxy ranking reads it,
        every other question does not, and sorting it costs ~0.2 ms per decode."""
        if self._distance is None:
            return None
        mu, sigma, norm = (np.asarray(c, dtype=np.float64)[self._sort] for c in self._distance)
        usable = np.isfinite(mu) & np.isfinite(sigma) & np.isfinite(norm) & (sigma > 0)
        return np.where(usable, mu, 0.0), np.where(usable, sigma, 1.0), np.where(usable, norm, 0.0)

    @cached_property
    def prob(self) -> Floats:
        """Probability of each tile."""
        return self.density * healpix.pixel_area_sr(self.order)

    @cached_property
    def _ranked(self) -> tuple[Ints, Floats, Floats]:
        """Tiles by decreasing density, and the cumulative probability and area (deg²) down
        that list: computed once per map, then every area question is an interpolation."""
        rank = np.argsort(-self.density, kind="stable")
        area = np.cumsum(healpix.pixel_area_sr(self.order[rank])) * SQDEG_PER_SR
        return rank, np.cumsum(self.prob[rank]), area

    @cached_property
    def _centres(self) -> Floats:
        """Unit vectors (3 x tiles) of the tiles' centres, for cone questions."""
        return _unit(*healpix.pix2ang_nest(self.order, self.ipix))

    @property
    def total(self) -> float:
        return float(self._ranked[1][-1]) if len(self) else 0.0

    def area_deg2(self, level: float) -> float:
        """Area of the smallest region holding ``level`` of the probability, deg².

        Interpolated within the tile that crosses the level, as ligo.skymap's ``crossmatch``
        does, so the area grows smoothly with the level instead of by whole tiles.
        """
        _, cumulative, area = self._ranked
        return float(
            np.interp(level * self.total, np.pad(cumulative, (1, 0)), np.pad(area, (1, 0)))
        )

    def _tiles_at(self, ra_deg: Floats, dec_deg: Floats) -> Ints:
        """Index of the tile holding each position, or -1 where no tile does."""
        nest = healpix.ang2pix_nest(MAX_ORDER, np.radians(ra_deg), np.radians(dec_deg))
        found = np.searchsorted(self.start, nest, side="right") - 1
        inside = (found >= 0) & (nest < self.stop[np.maximum(found, 0)])
        return np.where(inside, found, -1)

    def density_at(self, ra_deg: Floats, dec_deg: Floats) -> Floats:
        """Probability density at each position, per deg²."""
        tiles = self._tiles_at(ra_deg, dec_deg)
        values = np.where(tiles >= 0, self.density[np.maximum(tiles, 0)], 0.0)
        return values / SQDEG_PER_SR

    def volume_density(self, ra_deg: Floats, dec_deg: Floats, distance_mpc: Floats) -> Floats:
        """Posterior probability per Mpc^3 at each position and distance (the LVK ansatz:
        density per sr x DISTNORM x N(r; DISTMU, DISTSIGMA), Singer et al. 2016, eq. 2; what
        ligo.skymap's ``crossmatch`` calls ``probdensity_vol``). Zeros without the columns."""
        tiles = self._tiles_at(ra_deg, dec_deg)
        if self.distance is None:
            return np.zeros(len(tiles))
        mu, sigma, norm = (column[np.maximum(tiles, 0)] for column in self.distance)
        gauss = np.exp(-0.5 * ((distance_mpc - mu) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
        values = self.density[np.maximum(tiles, 0)] * norm * gauss
        return np.where(tiles >= 0, values, 0.0)

    @cached_property
    def _levels(self) -> Floats:
        """Credible level of each tile: the probability of every tile at least as dense."""
        rank, cumulative, _ = self._ranked
        levels = np.empty_like(cumulative)
        levels[rank] = cumulative / max(self.total, 1e-300)
        return levels

    def credible_level(self, ra_deg: Floats, dec_deg: Floats) -> Floats:
        """The smallest credible level whose region holds each position (1 outside the map)."""
        tiles = self._tiles_at(ra_deg, dec_deg)
        return np.where(tiles >= 0, self._levels[np.maximum(tiles, 0)], 1.0)

    @cached_property
    def max_position(self) -> tuple[float, float]:
        """Centre (ra, dec in degrees) of the densest tile."""
        best = int(np.argmax(self.density))
        ra, dec = healpix.pix2ang_nest(self.order[best : best + 1], self.ipix[best : best + 1])
        return float(np.degrees(ra[0])) % 360.0, float(np.degrees(dec[0]))

    def _near_cone(self, centre: Floats, radius: float) -> Ints:
        """The tiles that may reach within ``radius`` of ``centre``; the others are left out.

        The 3,072 pixels of order 4 are tested first (their centres computed once per
        process), then the children of those that may reach the cone at orders 6, 8 and 10
        while they stay few; the tiles kept are those that overlap a pixel of the finest order
        tested that may reach the cone (two binary searches per pixel over the tiles' sorted
        ranges). A tile that overlaps none lies wholly outside, so it would have counted
        nothing: the answer is the same, while the centres and distances of most of an LVK
        map's 19,200 tiles are never computed (they were most of a first question's cost).
        """
        level = _LEVELS[0]
        pixels = np.arange(12 << (2 * level), dtype=np.int64)
        vectors = _coarse_centres()
        for finer in (*_LEVELS[1:], None):
            distance = np.arccos(np.clip(_dot(centre, vectors), -1.0, 1.0))
            pixels = pixels[distance - healpix.pixel_radius_rad(level) < radius]
            step = 2 * (finer - level) if finer is not None else 0
            if finer is None or len(pixels) << step > _DESCEND_AT_MOST:
                break
            pixels = ((pixels << step)[:, None] + np.arange(1 << step)).ravel()
            vectors = _unit(*healpix.pix2ang_nest(finer, pixels))
            level = finer
        shift = 2 * (MAX_ORDER - level)
        first = np.searchsorted(self.start, pixels << shift, side="right") - 1
        first = np.where(self.stop[np.maximum(first, 0)] > pixels << shift, first, first + 1)
        first = np.maximum(first, 0)
        end = np.searchsorted(self.start, (pixels + 1) << shift, side="left")
        count = len(self.start) + 1
        delta = np.bincount(first, minlength=count) - np.bincount(end, minlength=count)
        return np.flatnonzero(np.cumsum(delta)[:-1] > 0)

    def prob_in_cone(self, ra_deg: float, dec_deg: float, radius_deg: float) -> float:
        """Probability within ``radius_deg`` of a position.

        Tiles wholly inside count whole, tiles wholly outside not at all; a tile that may
        straddle the circle is split into children (same density) until they are 16 times
        smaller than the radius, and those count by their centres. Only the tiles near the
        cone are looked at (:meth:`_near_cone`), so no multi-order map is flattened and a
        small cone costs a few hundred tiles' arithmetic, whatever the map's size.
        """
        radius = math.radians(radius_deg)
        if radius >= math.pi:
            return 1.0
        centre = _unit(np.radians([ra_deg]), np.radians([dec_deg]))[:, 0]
        near = self._near_cone(centre, radius)
        order, ipix, prob = self.order[near], self.ipix[near], self.prob[near]
        total = 0.0
        while len(order):
            vectors = _unit(*healpix.pix2ang_nest(order, ipix))
            distance = np.arccos(np.clip(_dot(centre, vectors), -1.0, 1.0))
            reach = healpix.pixel_radius_rad(order)
            total += float(prob[distance + reach <= radius].sum())
            edge = (distance - reach < radius) & (distance + reach > radius)
            fine = (reach * _FINE <= radius) | (order >= MAX_ORDER)
            total += float(prob[edge & fine & (distance <= radius)].sum())
            split = edge & ~fine
            if not split.any():
                break
            step = np.minimum(_SPLIT, MAX_ORDER - order[split])
            children = np.left_shift(np.int64(1), 2 * step)
            count = int(children.sum())
            parent = np.repeat(np.arange(int(split.sum())), children)
            first = np.repeat(np.cumsum(children) - children, children)
            offset = np.arange(count) - first
            order = np.repeat(order[split] + step, children)
            ipix = np.repeat(ipix[split] << (2 * step), children) + offset
            prob = (prob[split] / children)[parent]
        return min(total / self.total, 1.0)

    def prob_above_horizon(
        self, lat_deg: float, lon_deg: float, min_alt_deg: float, when: datetime
    ) -> float:
        """Probability above ``min_alt_deg`` of elevation at a site, at ``when``."""
        ra, dec = zenith(lat_deg, lon_deg, when)
        return self.prob_in_cone(ra, dec, 90.0 - min_alt_deg)


@cache
def _coarse_centres() -> Floats:
    """Unit vectors of the pixels of order ``_LEVELS[0]``, computed once per process."""
    ipix = np.arange(12 << (2 * _LEVELS[0]), dtype=np.int64)
    return _unit(*healpix.pix2ang_nest(_LEVELS[0], ipix))


def _dot(centre: Floats, vectors: Floats) -> Floats:
    """``centre @ vectors`` for a 3-vector, without BLAS: waking OpenBLAS's threads on a busy
    machine cost 20-30 ms per call (see :mod:`autotoo.alerts.coverage`), the sum ~0.1 ms."""
    product: Floats = centre[0] * vectors[0] + centre[1] * vectors[1] + centre[2] * vectors[2]
    return product


def _unit(ra: Floats, dec: Floats) -> Floats:
    cos_dec = np.cos(dec)
    return np.array([cos_dec * np.cos(ra), cos_dec * np.sin(ra), np.sin(dec)])


def zenith(lat_deg: float, lon_deg: float, when: datetime) -> tuple[float, float]:
    """ICRS (J2000) direction of a site's zenith (east longitude) at ``when``, degrees.

    Points above an elevation limit are those within 90 - limit degrees of it. The zenith
    is (local mean sidereal time, latitude) in the mean equator of date, taken back to
    J2000 with the IAU 1976 precession angles (Meeus, Astronomical Algorithms, 21.2-21.4).
    Nutation (< 20"), aberration and polar motion are left out: a few arcseconds, far
    inside what an elevation limit means.
    """
    lst = math.radians((gmst_deg(when) + lon_deg) % 360.0)
    lat = math.radians(lat_deg)
    t = _centuries(when)
    arcsec = math.pi / (180.0 * 3600.0)
    zeta = (2306.2181 * t + 0.30188 * t**2 + 0.017998 * t**3) * arcsec
    z = (2306.2181 * t + 1.09468 * t**2 + 0.018203 * t**3) * arcsec
    theta = (2004.3109 * t - 0.42665 * t**2 - 0.041833 * t**3) * arcsec
    a = math.cos(lat) * math.sin(lst - z)
    b = math.cos(theta) * math.cos(lat) * math.cos(lst - z) + math.sin(theta) * math.sin(lat)
    c = -math.sin(theta) * math.cos(lat) * math.cos(lst - z) + math.cos(theta) * math.sin(lat)
    ra = math.degrees(math.atan2(a, b) - zeta) % 360.0
    return ra, math.degrees(math.asin(max(-1.0, min(1.0, c))))


def _centuries(when: datetime) -> float:
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (when - datetime(2000, 1, 1, 12, tzinfo=UTC)).total_seconds() / (86400.0 * 36525.0)


def gmst_deg(when: datetime) -> float:
    """Greenwich mean sidereal time, degrees (IAU 1982 expression in UT, UT1 ~ UTC)."""
    centuries = _centuries(when)
    days = centuries * 36525.0
    gmst = (
        280.46061837
        + 360.98564736629 * days
        + 0.000387933 * centuries**2
        - centuries**3 / 38710000.0
    )
    return gmst % 360.0


def _header_float(header: dict[str, Any], key: str) -> float | None:
    value = header.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) and value > 0 else None


def read_skymap(data: bytes, *, limit: int = 256 * 2**20) -> SkyMap:
    """Decode a multi-order or flat HEALPix FITS map; :class:`SkyMapError` says why not."""
    try:
        table = read_first_table(data, limit=limit)
    except FitsError as exc:
        raise SkyMapError(str(exc)) from None
    header = table.header
    if str(header.get("PIXTYPE", "HEALPIX")).upper() != "HEALPIX":
        raise SkyMapError(f"PIXTYPE {header.get('PIXTYPE')!r} is not HEALPIX")
    if str(header.get("COORDSYS", "C")).strip().upper() not in {"C", "CELESTIAL", "EQUATORIAL"}:
        raise SkyMapError(f"COORDSYS {header.get('COORDSYS')!r} is not celestial (C)")
    ordering = str(header.get("ORDERING", "")).upper()
    distance = None
    if ordering == "NUNIQ" or "UNIQ" in table.columns:
        order, ipix, density = _multi_order(table)
        distance = _distance_columns(table)
    elif ordering in {"RING", "NESTED"}:
        order, ipix, density = _flat(table, ordering)
    else:
        raise SkyMapError(f"ORDERING {header.get('ORDERING')!r} is not NUNIQ, RING or NESTED")
    name = header.get("OBJECT")
    return SkyMap(
        order,
        ipix,
        density,
        distmean=_header_float(header, "DISTMEAN"),
        diststd=_header_float(header, "DISTSTD"),
        name=str(name) if name is not None else None,
        distance=distance,
    )


def _distance_columns(table: FitsTable) -> tuple[Floats, Floats, Floats] | None:
    """DISTMU, DISTSIGMA, DISTNORM as read, when the map has all three; else None."""
    mu, sigma, norm = (table.columns.get(name) for name in ("DISTMU", "DISTSIGMA", "DISTNORM"))
    if mu is None or sigma is None or norm is None:
        return None
    return mu, sigma, norm


def _multi_order(table: FitsTable) -> tuple[Ints, Ints, Floats]:
    uniq = table.columns.get("UNIQ")
    density = table.columns.get("PROBDENSITY")
    if uniq is None or density is None:
        raise SkyMapError("multi-order map without UNIQ and PROBDENSITY columns")
    uniq = uniq.astype(np.int64)
    if len(uniq) == 0 or int(uniq.min()) < 4:
        raise SkyMapError("multi-order map has no tiles or a UNIQ index below 4")
    order, ipix = healpix.uniq_to_order_ipix(uniq)
    if int(order.max()) > MAX_ORDER:
        raise SkyMapError("multi-order map has a tile beyond order 29")
    return order, ipix, _checked(density.astype(np.float64))


def _flat(table: FitsTable, ordering: str) -> tuple[Ints, Ints, Floats]:
    column = next((table.columns[c] for c in _FLAT_COLUMNS if c in table.columns), None)
    if column is None:
        raise SkyMapError(f"flat map without a {'/'.join(_FLAT_COLUMNS)} column")
    values = column.astype(np.float64)
    npix = len(values)
    nside = round(math.sqrt(npix / 12))
    if nside < 1 or 12 * nside * nside != npix or nside & (nside - 1):
        raise SkyMapError(f"flat map has {npix} pixels, not 12 nside^2 for a power of 2")
    order = nside.bit_length() - 1
    values = np.where(values < -1e30, 0.0, values)  # healpy's UNSEEN marks empty pixels
    values = _checked(values)
    if "PROBDENSITY" in table.columns:  # a flat LVK map: per steradian, not per pixel
        values = values * healpix.pixel_area_sr(np.array([order]))[0]
    # Pixels below NEGLIGIBLE count as empty: converting 12.6 million RING indices costs
    # seconds (each pass over 100 MB), and they would be merged away below anyway.
    keep = np.flatnonzero(values > NEGLIGIBLE)
    nested = np.zeros_like(values)
    where = healpix.ring_to_nest(order, keep) if ordering == "RING" else keep
    nested[where] = values[keep]
    orders, ipix, prob = merge_flat_tiles(order, nested)
    return orders, ipix, prob / healpix.pixel_area_sr(orders)


#: A flat map's pixel holding less than this is empty (at most 1.3e-7 in all at nside 1024).
NEGLIGIBLE = 1e-14
#: Four sibling pixels become their parent when together they hold less than this
#: probability, or when their values differ by less than this fraction of the largest.
MERGE_BELOW = 1e-10
MERGE_FLAT = 1e-3


def merge_flat_tiles(order: int, prob: Floats) -> tuple[Ints, Ints, Floats]:
    """Turn a flat NESTED map (probability per pixel) into multi-order tiles.

    A flat nside-1024 map (IceCube) is 12.6 million pixels, 600 MB as tiles, most of them
    holding nothing; merging the siblings that hold (almost) nothing, or the same value,
    leaves a map of the LVK kind's size. The merged probability only moves within its
    group (at most ``MERGE_BELOW`` per group, or ``MERGE_FLAT`` of a value).
    """
    orders: list[Ints] = []
    indices: list[Ints] = []
    probs: list[Floats] = []
    present = np.ones(len(prob), dtype=bool)
    current = prob
    while order > 0:
        groups, here = current.reshape(-1, 4), present.reshape(-1, 4)
        total = groups.sum(axis=1)
        high, low = groups.max(axis=1), groups.min(axis=1)
        merge = here.all(axis=1) & ((total < MERGE_BELOW) | (high - low <= MERGE_FLAT * high))
        kept = np.flatnonzero((here & ~merge[:, None]).ravel())
        orders.append(np.full(len(kept), order, dtype=np.int64))
        indices.append(kept.astype(np.int64))
        probs.append(current[kept])
        current, present, order = np.where(merge, total, 0.0), merge, order - 1
    kept = np.flatnonzero(present)
    orders.append(np.zeros(len(kept), dtype=np.int64))
    indices.append(kept.astype(np.int64))
    probs.append(current[kept])
    return np.concatenate(orders), np.concatenate(indices), np.concatenate(probs)


def dump(skymap: SkyMap) -> bytes:
    """The decoded map as numpy's ``.npz`` (what the URL cache keeps beside the FITS file):
    loading it takes no decoding, no sort and no merge, so it can happen on the event loop."""
    out = io.BytesIO()
    meta = np.array([skymap.distmean or math.nan, skymap.diststd or math.nan])
    columns: dict[str, Any] = {"density": skymap.density, "meta": meta}
    if skymap.distance is not None:
        columns |= dict(zip(("distmu", "distsigma", "distnorm"), skymap.distance, strict=True))
    np.savez(out, order=skymap.order, ipix=skymap.ipix, **columns)
    return out.getvalue()


def load_dump(data: bytes) -> SkyMap:
    """The map :func:`dump` wrote; :class:`SkyMapError` if it is not one."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as stored:
            order, ipix = stored["order"], stored["ipix"]
            density, meta = stored["density"], stored["meta"]
            names = ("distmu", "distsigma", "distnorm")
            distance = None
            if "distmu" in stored.files:
                distance = (stored[names[0]], stored[names[1]], stored[names[2]])
    except (OSError, ValueError, KeyError, EOFError) as exc:
        raise SkyMapError(f"cached sky map is unreadable: {exc}") from None
    distmean, diststd = (float(v) if math.isfinite(v) else None for v in meta)
    return SkyMap(
        order, ipix, _checked(density), distmean=distmean, diststd=diststd, distance=distance
    )


def _checked(density: Floats) -> Floats:
    if not np.isfinite(density).all() or (density < 0).any():
        raise SkyMapError("sky map has negative or non-finite probabilities")
    if not (density > 0).any():
        raise SkyMapError("sky map holds no probability")
    return density
