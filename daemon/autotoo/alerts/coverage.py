"""How Swift should cover a region: one pointing, a tiling pattern, or galaxy targets.

The choice, in order (pure: a region and a catalogue in, a :class:`CoveragePlan` out):

1. **single**: one XRT field (radius 11.8') holds the 90% region, i.e. a disc of that
   radius, centred where it catches the most probability, catches at least 90%;
2. **tiling**: the smallest allowed pattern that does the same (4 tiles cover 100% to 17'
   radius, 7 tiles to 24': Swift's on-board patterns; 19 and 37 are planned by hand at
   Swift, about 41' and 59' on the same hexagonal spacing of sqrt(3) x 11.8', and are used
   only when a rule allows them);
3. **galaxies**: otherwise, the catalogue's galaxies ranked by the posterior probability
   density at their position and distance (for LVK maps the distance ansatz's dP/dV: density
   per sr x DISTNORM x N(r; DISTMU, DISTSIGMA), Singer et al. 2016; the r^2 of the distance
   posterior is left out because a catalogue's galaxies already grow as r^2), optionally
   times their mass or luminosity proxy, up to ``max_targets``;
4. **none**: no pattern fits and no catalogue was given (the caller refuses to render).

A disc can hold 90% only if its area is at least the 90% region's (the smallest region
holding 90%), so large maps skip the search. For a sky map the centre is searched among the
centres of the 90% region's tiles in two rounds (coarse, then around the best; the tiles
counted by their centres), then the best candidate's probability and the densest tile's are
computed exactly (``prob_in_cone``) and the better one kept. For a
circle or an ellipse (a unimodal, symmetric Gaussian) the best centre is its own. Each plan
carries a one-line explanation, kept with the rendered request for replays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from autotoo.alerts import healpix
from autotoo.alerts.galaxies import Catalogue
from autotoo.alerts.healpix import Floats, Ints
from autotoo.alerts.regions import (
    CircleRegion,
    EllipseRegion,
    PointRegion,
    Region,
    SkyMapRegion,
    area,
    max_prob_position,
    prob_in_fov,
)
from autotoo.alerts.skymap import SQDEG_PER_SR, SkyMap, _unit

XRT_RADIUS_DEG = 11.8 / 60.0
#: Radius (degrees) each tiling pattern covers completely. 4 and 7 are Swift's on-board
#: patterns (17' and 24'); 19 and 37 follow from the 7-tile geometry (hexagonal spacing
#: sqrt(3) x 11.8'), approximate: Swift plans them by hand.
PATTERN_RADIUS_DEG: dict[int, float] = {4: 17.0 / 60.0, 7: 24.0 / 60.0, 19: 41.0 / 60.0}
PATTERN_RADIUS_DEG[37] = 59.0 / 60.0
LEVEL = 0.9
_TOLERANCE = 1e-6  # a 90% circle of exactly the field's radius fits it
_CANDIDATES = 128

Choice = Literal["single", "tiling", "galaxies", "none"]


@dataclass(frozen=True, slots=True)
class Target:
    """One galaxy to point at, with what it is worth."""

    name: str
    ra: float
    dec: float
    distance_mpc: float
    score: float  # its share of the catalogue's weighted probability (0..1)
    prob_in_fov: float  # sky probability within the XRT field centred on it

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ra": self.ra,
            "dec": self.dec,
            "distance_mpc": self.distance_mpc,
            "score": self.score,
            "prob_in_fov": self.prob_in_fov,
        }


@dataclass(frozen=True, slots=True)
class CoveragePlan:
    choice: Choice
    explanation: str
    area90_deg2: float
    ra: float | None = None  # the pointing of a single or tiled observation
    dec: float | None = None
    tiles: int | None = None
    prob: float = 0.0  # probability the pointing catches, or the galaxies' share
    targets: tuple[Target, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {
            "choice": self.choice,
            "explanation": self.explanation,
            "area90_deg2": self.area90_deg2,
            "ra": self.ra,
            "dec": self.dec,
            "tiles": self.tiles,
            "prob": self.prob,
            "targets": [t.to_json() for t in self.targets],
        }


def _disc_area_deg2(radius_deg: float) -> float:
    return 2.0 * math.pi * (1.0 - math.cos(math.radians(radius_deg))) * SQDEG_PER_SR


def best_pointing(region: Region, radius_deg: float) -> tuple[float, float, float]:
    """(ra, dec, probability) of a disc of ``radius_deg`` placed to catch the most."""
    if not isinstance(region, SkyMapRegion):
        ra, dec = max_prob_position(region)
        return ra, dec, prob_in_fov(region, ra, dec, radius_deg)
    skymap = region.skymap
    found = _best_centre(skymap, radius_deg)
    exact = [(skymap.prob_in_cone(*at, radius_deg), at) for at in (found, skymap.max_position)]
    caught, (ra, dec) = max(exact)  # the search counts centres: never worse than the peak
    return ra, dec, caught


def _coarse(skymap: SkyMap, tiles: Ints, radius_deg: float) -> tuple[Floats, Floats]:
    """The tiles merged into parents about a quarter of the radius across: their centres
    (3 x n unit vectors) and probabilities. Coarser tiles stay as they are."""
    size = math.radians(radius_deg) / 4.0
    order = int(min(healpix.MAX_ORDER, max(0, math.floor(math.log2(1.0233 / size)))))
    tile_order, ipix = skymap.order[tiles], skymap.ipix[tiles]
    shift = 2 * np.maximum(tile_order - order, 0)
    merged = np.minimum(tile_order, order)
    uniq = (np.int64(4) << (2 * merged)) + (ipix >> shift)
    unique, where = np.unique(uniq, return_inverse=True)
    prob = np.bincount(where, weights=skymap.prob[tiles]).astype(np.float64)
    return _unit(*healpix.pix2ang_nest(*healpix.uniq_to_order_ipix(unique))), prob


def _best_centre(skymap: SkyMap, radius_deg: float) -> tuple[float, float]:
    """The candidate centre whose disc holds the most tile centres' probability.

    Two rounds: 128 candidates spread over the 90% region (every k-th tile by density)
    against the 99.9% region's tiles merged into parents a quarter of the radius across;
    then up to 256 tiles of the 90% region within the radius of the first round's best,
    against the tiles themselves within twice the radius. Counting centres, not areas, is
    good to a tile's size; the caller computes the chosen disc's probability exactly.
    """
    rank, cumulative, _ = skymap._ranked  # noqa: SLF001 one module family, one ranking
    total = max(skymap.total, 1e-300)
    region90 = rank[: min(int(np.searchsorted(cumulative, LEVEL * total)) + 1, len(rank))]
    counted = rank[: min(int(np.searchsorted(cumulative, 0.999 * total)) + 1, len(rank))]
    centres = skymap._centres  # noqa: SLF001
    cosine = math.cos(math.radians(radius_deg))

    def best_of(candidates: Ints, vectors: Floats, weights: Floats) -> int:
        # einsum, not @: a product over 3 coordinates is no work for BLAS, and waking
        # OpenBLAS's threads on a busy machine cost 20-30 ms per call here (0.5 ms this way);
        # np.where, not booleans @ weights, which numpy loops ~15 times slower
        inside = np.einsum("ki,kj->ij", centres[:, candidates], vectors) >= cosine
        return int(candidates[int(np.argmax(np.where(inside, weights, 0.0).sum(axis=1)))])

    step = max(1, len(region90) // _CANDIDATES)
    best = best_of(region90[::step][:_CANDIDATES], *_coarse(skymap, counted, radius_deg))
    near = np.einsum("k,kj->j", centres[:, best], centres)
    wide = math.cos(min(math.pi, 2.0 * math.radians(radius_deg)))
    local = region90[near[region90] >= cosine]
    local = np.union1d(local[:: max(1, len(local) // (2 * _CANDIDATES))], [best])
    nearby = counted[near[counted] >= wide]
    best = best_of(local, centres[:, nearby], skymap.prob[nearby])
    vector = centres[:, best]
    ra = math.degrees(math.atan2(vector[1], vector[0])) % 360.0
    return ra, math.degrees(math.asin(max(-1.0, min(1.0, float(vector[2])))))


def _gaussian_density(region: CircleRegion | EllipseRegion, ra: Floats, dec: Floats) -> Floats:
    """Unnormalised 2-D Gaussian density of a circle or ellipse at positions (tangent plane)."""
    scale = math.sqrt(-2.0 * math.log1p(-region.level))
    if isinstance(region, CircleRegion):
        s_major = s_minor = region.radius_deg / scale
        pa = 0.0
    else:
        s_major, s_minor, pa = region.a_deg / scale, region.b_deg / scale, region.pa_deg
    r0, d0 = math.radians(region.ra), math.radians(region.dec)
    r, d = np.radians(ra), np.radians(dec)
    cos_c = np.sin(d0) * np.sin(d) + np.cos(d0) * np.cos(d) * np.cos(r - r0)
    safe = np.where(cos_c > 0, cos_c, 1.0)
    x = np.degrees(np.cos(d) * np.sin(r - r0) / safe)
    y = np.degrees((np.cos(d0) * np.sin(d) - np.sin(d0) * np.cos(d) * np.cos(r - r0)) / safe)
    theta = math.radians(pa)
    major = x * math.sin(theta) + y * math.cos(theta)
    minor = x * math.cos(theta) - y * math.sin(theta)
    values = np.exp(-0.5 * ((major / s_major) ** 2 + (minor / s_minor) ** 2))
    return np.where(cos_c > 0, values, 0.0)


def galaxy_weights(
    region: Region, catalogue: Catalogue, *, use_proxy: bool = True
) -> tuple[Floats, str]:
    """Each galaxy's unnormalised probability of hosting the source, and what it is made of."""
    ra = np.array([g.ra for g in catalogue.galaxies])
    dec = np.array([g.dec for g in catalogue.galaxies])
    distance = np.array([g.distance_mpc for g in catalogue.galaxies])
    if isinstance(region, SkyMapRegion) and region.skymap.distance is not None:
        weights, basis = region.skymap.volume_density(ra, dec, distance), "dP/dV"
    elif isinstance(region, SkyMapRegion):
        weights, basis = region.skymap.density_at(ra, dec), "sky density (no distance)"
    elif isinstance(region, CircleRegion | EllipseRegion):
        weights, basis = _gaussian_density(region, ra, dec), "sky density (no distance)"
    else:
        near = np.hypot((ra - region.ra) * math.cos(math.radians(region.dec)), dec - region.dec)
        weights, basis = (near <= XRT_RADIUS_DEG).astype(np.float64), "within the XRT field"
    if use_proxy and catalogue.proxy_column is not None:
        known = [g.proxy for g in catalogue.galaxies if g.proxy is not None]
        typical = float(np.median(known)) if known else 1.0
        proxy = np.array([typical if g.proxy is None else g.proxy for g in catalogue.galaxies])
        weights, basis = weights * proxy, f"{basis} x {catalogue.proxy_column}"
    return weights, basis


def rank_galaxies(
    region: Region, catalogue: Catalogue, max_targets: int, *, use_proxy: bool = True
) -> tuple[tuple[Target, ...], float, str]:
    """The best ``max_targets`` galaxies (none with zero weight), the share of the
    catalogue's weighted probability they hold, and the weighting's description."""
    weights, basis = galaxy_weights(region, catalogue, use_proxy=use_proxy)
    total = float(weights.sum())
    if total <= 0.0:
        return (), 0.0, basis
    order = np.argsort(-weights, kind="stable")[:max_targets]
    order = order[weights[order] > 0]
    targets = []
    for index in order:
        galaxy = catalogue.galaxies[int(index)]
        caught = prob_in_fov(region, galaxy.ra, galaxy.dec, XRT_RADIUS_DEG)
        share = float(weights[index]) / total
        targets.append(
            Target(galaxy.name, galaxy.ra, galaxy.dec, galaxy.distance_mpc, share, caught)
        )
    return tuple(targets), sum(t.score for t in targets), basis


def _fits(region: Region, radius_deg: float, caught: float, needed: float) -> bool:
    """Whether the 90% region fits a disc: for a circle or an ellipse, its 90% contour lies
    inside (exact; the disc integral is good to ~1%); for a map, the disc holds 90%."""
    if isinstance(region, PointRegion):
        return True
    if isinstance(region, CircleRegion | EllipseRegion):
        stated = region.radius_deg if isinstance(region, CircleRegion) else region.a_deg
        scale = math.sqrt(math.log1p(-LEVEL) / math.log1p(-region.level))
        return stated * scale <= radius_deg * (1.0 + _TOLERANCE)
    return caught >= needed


def plan_coverage(
    region: Region,
    *,
    patterns: tuple[int, ...] = (4, 7),
    catalogue: Catalogue | None = None,
    max_targets: int = 5,
    use_proxy: bool = True,
) -> CoveragePlan:
    """Choose one pointing, a tiling pattern or galaxy targets for ``region`` (see module)."""
    if isinstance(region, CircleRegion) and region.radius_deg <= 0.0:
        region = PointRegion(region.ra, region.dec)  # an error of 0: a Gaussian of no width
    if isinstance(region, EllipseRegion) and min(region.a_deg, region.b_deg) <= 0.0:
        region = PointRegion(region.ra, region.dec)
    area90 = area(region, LEVEL) if not isinstance(region, PointRegion) else 0.0
    needed = LEVEL - _TOLERANCE
    largest: tuple[int, float] | None = None
    for tiles, radius in [(1, XRT_RADIUS_DEG)] + [
        (n, PATTERN_RADIUS_DEG[n]) for n in sorted(patterns)
    ]:
        if area90 > _disc_area_deg2(radius) and tiles != max(patterns, default=1):
            continue  # no disc of this radius can hold 90%
        ra, dec, caught = best_pointing(region, radius)
        if _fits(region, radius, caught, needed):
            if tiles == 1:
                text = f"one XRT field holds {caught:.0%} (90% region {area90:.3g} deg2)"
                return CoveragePlan("single", text, area90, ra, dec, None, caught)
            text = (
                f"{tiles} tiles (100% to {radius * 60:.0f}') hold {caught:.0%} "
                f"(90% region {area90:.3g} deg2, wider than one XRT field)"
            )
            return CoveragePlan("tiling", text, area90, ra, dec, tiles, caught)
        largest = (tiles, caught)
    tiles, caught = largest if largest is not None else (1, 0.0)
    what = f"{tiles} tiles" if tiles > 1 else "one XRT field"
    short = f"{what} would catch {caught:.0%} of the probability (90% region {area90:.3g} deg2)"
    if catalogue is None:
        return CoveragePlan("none", f"{short}: no galaxy catalogue to choose targets from", area90)
    targets, share, basis = rank_galaxies(region, catalogue, max_targets, use_proxy=use_proxy)
    if not targets:
        text = f"{short}: no galaxy of {catalogue.path} has any probability"
        return CoveragePlan("none", text, area90)
    fov = sum(t.prob_in_fov for t in targets)
    text = (
        f"{short}: galaxies instead, top {len(targets)} of {len(catalogue)} hold {share:.0%} "
        f"of the catalogue's probability ({basis}); their XRT fields hold {fov:.1%} of the map"
    )
    return CoveragePlan("galaxies", text, area90, prob=share, targets=targets)
