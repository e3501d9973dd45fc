"""Where an alert says its source is: a point, a circle, an ellipse or a sky map, as one idea.

Rules ask every region the same questions (area at a level, does it contain a position, how
much probability falls in a field of view or above a site's horizon, where is it most
probable, how far is it), whatever the alert carried. Circles and ellipses are read as 2-D
Gaussians on the tangent plane: a radius stated at containment ``c`` is ``sigma *
sqrt(-2 ln(1 - c))``, so the same circle answers at any other level. An alert that does not
say at which containment its error is stated is taken as 90% (the GCN convention for most
missions; GBM states 68% in ``containment_probability``, which is used when present).

numpy is imported with this module (see :mod:`autotoo.alerts.skymap` for when).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from autotoo.alerts.skymap import SQDEG_PER_SR, SkyMap, zenith
from autotoo.alerts.values import separation_deg

WHOLE_SKY_DEG2 = 4.0 * math.pi * SQDEG_PER_SR
DEFAULT_LEVEL = 0.9
_POINT_DEG = 1e-6  # a point region contains only positions this close to it


@dataclass(frozen=True, slots=True)
class PointRegion:
    ra: float
    dec: float


@dataclass(frozen=True, slots=True)
class CircleRegion:
    ra: float
    dec: float
    radius_deg: float
    level: float = DEFAULT_LEVEL


@dataclass(frozen=True, slots=True)
class EllipseRegion:
    ra: float
    dec: float
    a_deg: float  # semi-major axis at ``level``
    b_deg: float
    pa_deg: float  # position angle of the major axis, east of north
    level: float = DEFAULT_LEVEL


@dataclass(frozen=True, slots=True)
class SkyMapRegion:
    skymap: SkyMap
    source: str  # "embedded" or the URL it was fetched from


Region = PointRegion | CircleRegion | EllipseRegion | SkyMapRegion


def _check_level(level: float) -> float:
    if not 0.0 < level < 1.0:
        raise ValueError(f"a credible level is between 0 and 1 (exclusive), got {level}")
    return level


def _scale(stated: float, wanted: float) -> float:
    """Ratio of the Gaussian radius at ``wanted`` containment to the one at ``stated``."""
    return math.sqrt(math.log1p(-_check_level(wanted)) / math.log1p(-_check_level(stated)))


def _cap_area_deg2(radius_deg: float) -> float:
    radius = math.radians(min(radius_deg, 180.0))
    return 2.0 * math.pi * (1.0 - math.cos(radius)) * SQDEG_PER_SR


def area(region: Region, level: float) -> float:
    """Area in deg² of the region holding ``level`` of the probability."""
    _check_level(level)
    if isinstance(region, SkyMapRegion):
        return region.skymap.area_deg2(level)
    if isinstance(region, CircleRegion):
        return _cap_area_deg2(region.radius_deg * _scale(region.level, level))
    if isinstance(region, EllipseRegion):
        k = _scale(region.level, level)
        return min(math.pi * region.a_deg * region.b_deg * k * k, WHOLE_SKY_DEG2)
    return 0.0


def _tangent(ra0: float, dec0: float, ra: float, dec: float) -> tuple[float, float] | None:
    """Gnomonic offsets (east, north) in degrees of (ra, dec) about (ra0, dec0)."""
    r0, d0, r, d = map(math.radians, (ra0, dec0, ra, dec))
    cos_c = math.sin(d0) * math.sin(d) + math.cos(d0) * math.cos(d) * math.cos(r - r0)
    if cos_c <= 0:
        return None
    x = math.cos(d) * math.sin(r - r0) / cos_c
    y = (math.cos(d0) * math.sin(d) - math.sin(d0) * math.cos(d) * math.cos(r - r0)) / cos_c
    return math.degrees(x), math.degrees(y)


def _ellipse_axes(x: float, y: float, pa_deg: float) -> tuple[float, float]:
    pa = math.radians(pa_deg)
    return x * math.sin(pa) + y * math.cos(pa), x * math.cos(pa) - y * math.sin(pa)


def contains(region: Region, ra: float, dec: float, level: float) -> bool:
    """Whether (ra, dec) lies inside the region's ``level`` credible region."""
    _check_level(level)
    if isinstance(region, SkyMapRegion):
        found = region.skymap.credible_level(np.array([ra]), np.array([dec]))
        return bool(found[0] <= level)
    if isinstance(region, CircleRegion):
        limit = region.radius_deg * _scale(region.level, level)
        return separation_deg(region.ra, region.dec, ra, dec) <= limit
    if isinstance(region, EllipseRegion):
        offset = _tangent(region.ra, region.dec, ra, dec)
        if offset is None:
            return False
        k = _scale(region.level, level)
        major, minor = _ellipse_axes(*offset, region.pa_deg)
        return (major / (region.a_deg * k)) ** 2 + (minor / (region.b_deg * k)) ** 2 <= 1.0
    return separation_deg(region.ra, region.dec, ra, dec) <= _POINT_DEG


def prob_in_fov(region: Region, ra: float, dec: float, radius_deg: float) -> float:
    """Probability that the source lies within ``radius_deg`` of (ra, dec)."""
    if radius_deg <= 0:
        raise ValueError(f"a field of view has a positive radius, got {radius_deg}")
    if isinstance(region, SkyMapRegion):
        return region.skymap.prob_in_cone(ra, dec, radius_deg)
    if isinstance(region, PointRegion):
        return 1.0 if separation_deg(region.ra, region.dec, ra, dec) <= radius_deg else 0.0
    return _gaussian_in_disc(region, ra, dec, radius_deg)


def _sigmas(region: CircleRegion | EllipseRegion) -> tuple[float, float, float]:
    """(sigma along the major axis, along the minor axis, position angle), degrees."""
    unit = math.sqrt(-2.0 * math.log1p(-_check_level(region.level)))
    if isinstance(region, CircleRegion):
        return region.radius_deg / unit, region.radius_deg / unit, 0.0
    return region.a_deg / unit, region.b_deg / unit, region.pa_deg


def _gaussian_in_disc(
    region: CircleRegion | EllipseRegion, ra: float, dec: float, radius_deg: float
) -> float:
    """Integral of the region's Gaussian over a disc, on the region's tangent plane.

    Three regimes, each good to about 1%: a disc much smaller than the Gaussian takes
    density x area (the density barely changes across it); a disc much larger sees its edge
    as a straight line, so the integral is the 1-D normal CDF of the distance to that edge
    (a horizon is such a disc); otherwise a polar grid over the whitened Gaussian (out to 7
    sigma) counts the grid cells whose centre falls in the disc.
    """
    s_major, s_minor, pa = _sigmas(region)
    separation = separation_deg(region.ra, region.dec, ra, dec)
    if radius_deg > 10.0 * s_major:
        bearing = _bearing(region.ra, region.dec, ra, dec) - math.radians(pa)
        sigma = math.hypot(s_major * math.cos(bearing), s_minor * math.sin(bearing))
        return 0.5 * (1.0 + math.erf((radius_deg - separation) / (sigma * math.sqrt(2.0))))
    centre = _tangent(region.ra, region.dec, ra, dec)
    if centre is None:  # the disc's centre is on the far hemisphere, the disc not that large
        return 0.0
    if radius_deg * 4.0 < s_minor:
        major, minor = _ellipse_axes(*centre, pa)
        exponent = -0.5 * ((major / s_major) ** 2 + (minor / s_minor) ** 2)
        density = math.exp(exponent) / (2.0 * math.pi * s_major * s_minor)
        return min(density * _cap_area_deg2(radius_deg), 1.0)
    steps_r, steps_phi, reach = 400, 256, 7.0
    r = (np.arange(steps_r) + 0.5) * (reach / steps_r)
    phi = (np.arange(steps_phi) + 0.5) * (2.0 * math.pi / steps_phi)
    rr, pp = np.meshgrid(r, phi, indexing="ij")
    weight = np.exp(-0.5 * rr * rr) * rr * (reach / steps_r) * (2.0 * math.pi / steps_phi)
    weight /= 2.0 * math.pi
    major, minor = rr * np.cos(pp) * s_major, rr * np.sin(pp) * s_minor
    theta = math.radians(pa)
    east = major * math.sin(theta) + minor * math.cos(theta)
    north = major * math.cos(theta) - minor * math.sin(theta)
    disc = math.degrees(math.tan(math.radians(radius_deg)))  # the disc's radius on the plane
    inside = np.hypot(east - centre[0], north - centre[1]) <= disc
    return float(min(weight[inside].sum(), 1.0))


def _bearing(ra0: float, dec0: float, ra: float, dec: float) -> float:
    """Position angle (radians, east of north) of (ra, dec) seen from (ra0, dec0)."""
    r0, d0, r, d = map(math.radians, (ra0, dec0, ra, dec))
    y = math.sin(r - r0) * math.cos(d)
    x = math.cos(d0) * math.sin(d) - math.sin(d0) * math.cos(d) * math.cos(r - r0)
    return math.atan2(y, x)


def max_prob_position(region: Region) -> tuple[float, float]:
    """The most probable position (ra, dec in degrees)."""
    if isinstance(region, SkyMapRegion):
        return region.skymap.max_position
    return region.ra, region.dec


def prob_above_horizon(
    region: Region, lat_deg: float, lon_deg: float, min_alt_deg: float, when: datetime
) -> float:
    """Probability above ``min_alt_deg`` of elevation at a site (east longitude) at ``when``."""
    if not -90.0 <= lat_deg <= 90.0 or not -90.0 <= min_alt_deg < 90.0:
        raise ValueError("latitude must be in [-90, 90] and the elevation limit in [-90, 90)")
    if isinstance(region, SkyMapRegion):
        return region.skymap.prob_above_horizon(lat_deg, lon_deg, min_alt_deg, when)
    return prob_in_fov(region, *zenith(lat_deg, lon_deg, when), 90.0 - min_alt_deg)


def distance(region: Region) -> tuple[float, float] | None:
    """Posterior mean and standard deviation of the distance in Mpc, when the map has them."""
    if isinstance(region, SkyMapRegion):
        skymap = region.skymap
        if skymap.distmean is not None and skymap.diststd is not None:
            return skymap.distmean, skymap.diststd
    return None
