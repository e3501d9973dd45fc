"""Region functions for conditions and templates: ``area``, ``contains``, ``prob_in_fov``...

They take a *region*: an alert map (``alert``, ``event.best``, ``event.previous``...) or what
``region(alert)`` returns, and read from it what the alert states: its sky map (through the
alert's ``skymap`` field, a reference into this evaluation's alerts), else its ellipse,
circle or position (:func:`autotoo.alerts.skymaps.region_of`). A map that cannot be read
makes the alert fall back to what else it states; with nothing else, the function fails and
the rule fails closed with the reason (``sky map unreadable: ...``), which the decision
keeps. ``region(alert).skymap_error`` says it too.

numpy (through :mod:`autotoo.alerts.regions`) is imported on the first call, or at start by
:func:`warm_up_skymaps` when a loaded rule uses one of these functions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from autotoo.alerts.model import NormalizedAlert
from autotoo.alerts.skymaps import SKYMAPS, region_of, skymap_url

if TYPE_CHECKING:
    from autotoo.alerts.regions import Region

#: The alert fields these functions read when given an alert map (see :mod:`.needs`).
REGION_FIELDS = frozenset({"ra", "dec", "error_deg", "error_confidence", "ellipse", "skymap"})


def skymap_field(alert: NormalizedAlert) -> dict[str, Any] | None:
    """The alert's ``skymap`` field: a reference to its map, or null when it has none.

    Nothing is decoded here (this is built for every alert view); ``ref`` names the alert
    within the evaluation, ``source`` is ``embedded`` or the URL.
    """
    if alert.skymap_b64 is not None:
        return {"ref": id(alert), "source": "embedded"}
    url = skymap_url(alert)
    return {"ref": id(alert), "source": url} if url is not None else None


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{what} must be a number, got {value!r}")  # noqa: TRY004 CEL reports it
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{what} must be finite, got {value!r}")
    return number


def _described(region: Region | None, error: str | None) -> dict[str, Any]:
    from autotoo.alerts import regions  # noqa: PLC0415 numpy: lazily

    out: dict[str, Any] = {"kind": None, "skymap_error": error}
    if isinstance(region, regions.SkyMapRegion):
        ra, dec = region.skymap.max_position
        out |= {"kind": "skymap", "ra": ra, "dec": dec, "source": region.source}
    elif isinstance(region, regions.EllipseRegion):
        out |= {"kind": "ellipse", "ra": region.ra, "dec": region.dec, "level": region.level}
        out |= {"a_deg": region.a_deg, "b_deg": region.b_deg, "pa_deg": region.pa_deg}
    elif isinstance(region, regions.CircleRegion):
        out |= {"kind": "circle", "ra": region.ra, "dec": region.dec, "level": region.level}
        out["radius_deg"] = region.radius_deg
    elif isinstance(region, regions.PointRegion):
        out |= {"kind": "point", "ra": region.ra, "dec": region.dec}
    return out


def _from_map(arg: dict[str, Any]) -> Region:
    """A region from a plain map: ``region(...)``'s output or an alert map without a sky map."""
    from autotoo.alerts import regions  # noqa: PLC0415 numpy: lazily

    if arg.get("ra") is None or arg.get("dec") is None:
        why = arg.get("skymap_error")
        raise ValueError(why or "the region has no position and no sky map")
    ra, dec = _number(arg["ra"], "ra"), _number(arg["dec"], "dec")
    level = arg.get("level") or arg.get("error_confidence") or regions.DEFAULT_LEVEL
    stated = arg.get("ellipse")
    ellipse: dict[str, Any] = stated if isinstance(stated, dict) else arg
    if ellipse.get("a_deg") is not None and ellipse.get("b_deg") is not None:
        a, b = _number(ellipse["a_deg"], "a_deg"), _number(ellipse["b_deg"], "b_deg")
        pa = _number(ellipse.get("pa_deg") or 0.0, "pa_deg")
        return regions.EllipseRegion(ra, dec, a, b, pa, _number(level, "level"))
    radius = arg.get("radius_deg", arg.get("error_deg"))
    if radius is not None:
        return regions.CircleRegion(ra, dec, _number(radius, "radius"), _number(level, "level"))
    return regions.PointRegion(ra, dec)


class _Functions:
    """The region functions of one evaluation: its time and its event's alerts."""

    def __init__(self, now: datetime, alerts: Sequence[NormalizedAlert]) -> None:
        self.now = now
        self.by_ref = {id(a): a for a in alerts}

    def resolve(self, arg: Any) -> tuple[Region | None, str | None]:
        if not isinstance(arg, dict):
            raise ValueError(f"a region is an alert or region(alert), got {type(arg).__name__}")  # noqa: TRY004 CEL reports it
        ref = arg.get("skymap")
        if not isinstance(ref, dict):
            return _from_map(arg), None
        alert = self.by_ref.get(ref.get("ref"))  # type: ignore[arg-type] # any value: a miss is None
        if alert is None:
            raise ValueError("the sky map reference is not one of this event's alerts")
        return region_of(alert, SKYMAPS)

    def region_or_fail(self, arg: Any) -> Region:
        found, error = self.resolve(arg)
        if found is None:
            raise ValueError(error or "the alert has no position and no sky map")
        return found

    def region(self, arg: Any) -> dict[str, Any]:
        """What the region is (``kind`` null when the alert states no place at all)."""
        if isinstance(arg, dict) and arg.get("skymap") is None and arg.get("ra") is None:
            return _described(None, arg.get("skymap_error"))
        found, error = self.resolve(arg)
        described = _described(found, error)
        if isinstance(arg, dict) and isinstance(arg.get("skymap"), dict):
            described["skymap"] = arg["skymap"]  # so region(alert) is itself a region
        return described

    def area(self, arg: Any, level: Any) -> float:
        from autotoo.alerts import regions  # noqa: PLC0415 numpy: lazily

        return regions.area(self.region_or_fail(arg), _number(level, "level"))

    def contains(self, arg: Any, ra: Any, dec: Any, level: Any) -> bool:
        from autotoo.alerts import regions  # noqa: PLC0415 numpy: lazily

        where = _number(ra, "ra"), _number(dec, "dec")
        return regions.contains(self.region_or_fail(arg), *where, _number(level, "level"))

    def prob_in_fov(self, arg: Any, ra: Any, dec: Any, radius_deg: Any) -> float:
        from autotoo.alerts import regions  # noqa: PLC0415 numpy: lazily

        where = _number(ra, "ra"), _number(dec, "dec")
        radius = _number(radius_deg, "radius")
        return regions.prob_in_fov(self.region_or_fail(arg), *where, radius)

    def max_prob_position(self, arg: Any) -> dict[str, float]:
        from autotoo.alerts import regions  # noqa: PLC0415 numpy: lazily

        ra, dec = regions.max_prob_position(self.region_or_fail(arg))
        return {"ra": ra, "dec": dec}

    def prob_above_horizon(self, arg: Any, lat: Any, lon: Any, min_alt: Any, *when: Any) -> float:
        from autotoo.alerts import regions  # noqa: PLC0415 numpy: lazily

        if len(when) > 1:
            raise ValueError("prob_above_horizon takes a region, lat, lon, elevation[, time]")
        at = when[0] if when else self.now
        if isinstance(at, str):
            at = datetime.fromisoformat(at)
        if not isinstance(at, datetime):
            raise ValueError(f"prob_above_horizon: the time must be a timestamp, got {at!r}")  # noqa: TRY004 CEL reports it
        site = _number(lat, "lat"), _number(lon, "lon"), _number(min_alt, "elevation limit")
        at = at if at.tzinfo else at.replace(tzinfo=UTC)
        return regions.prob_above_horizon(self.region_or_fail(arg), *site, at)

    def distance(self, arg: Any) -> dict[str, float]:
        from autotoo.alerts import regions  # noqa: PLC0415 numpy: lazily

        found = regions.distance(self.region_or_fail(arg))
        if found is None:
            raise ValueError("distance: the region has no distance (only LVK sky maps carry one)")
        return {"mean": found[0], "std": found[1]}


def make_region_helpers(
    now: datetime, alerts: Sequence[NormalizedAlert]
) -> dict[str, Callable[..., Any]]:
    """The region functions, bound to one evaluation (its time and its event's alerts)."""
    functions = _Functions(now, alerts)
    return {
        "region": functions.region,
        "area": functions.area,
        "contains": functions.contains,
        "prob_in_fov": functions.prob_in_fov,
        "max_prob_position": functions.max_prob_position,
        "prob_above_horizon": functions.prob_above_horizon,
        "distance": functions.distance,
    }


REGION_HELPERS = frozenset(make_region_helpers(datetime(2000, 1, 1, tzinfo=UTC), ()))


def warm_up_skymaps() -> None:
    """Import numpy and the region code (a few hundred ms): at start, off the event loop,
    when a loaded rule uses a region function, so that the first sky map does not stall it."""
    from autotoo.alerts import regions  # noqa: F401, PLC0415 the import is the point
