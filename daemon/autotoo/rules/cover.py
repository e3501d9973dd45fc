"""Rendering a TOO with ``cover: auto``: the plan of :mod:`autotoo.alerts.coverage` as bodies.

The rule's request fields are rendered as usual; this fills in where to point:

* ``single``: ``ra``/``dec`` at the best position, no tiling fields;
* ``tiling``: the pattern's centre, ``tiling: true``, ``number_of_tiles`` (text, as the TOO
  form takes it), the rule's ``exposure_time_per_tile``, and ``tiling_justification`` (the
  rule's, else the plan's explanation);
* ``galaxies``: one body per galaxy (``source_name`` gets the galaxy's name appended), no
  tiling fields, ``poserr`` 0 (the galaxy's position is known; the source may lie anywhere
  in it, well inside one XRT field for galaxies beyond a few Mpc).

Every body is a complete TOO request; the first is also :attr:`PlannedActions.too`, so a
planner that knows only one TOO per rule submits the best target.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from autotoo.alerts.galaxies import Catalogue
from autotoo.alerts.model import NormalizedAlert
from autotoo.rules.models import TooActionBase

_TILING_ONLY = ("tiling", "number_of_tiles", "exposure_time_per_tile", "tiling_justification")


@dataclass(frozen=True, slots=True)
class Covered:
    """The TOO bodies to send (best first) and the plan that chose them (JSON)."""

    bodies: list[dict[str, Any]]
    plan: dict[str, Any]


def _arcmin(degrees: float) -> float:
    return float(f"{degrees * 60.0:.10g}")  # as the engine writes poserr: what was stated


def cover(
    request: dict[str, Any],
    spec: TooActionBase,
    catalogue: Catalogue | None,
    alert: NormalizedAlert,
) -> Covered:
    """Plan the coverage of ``alert``'s region; ValueError (the reason) when there is none."""
    from autotoo.alerts.coverage import plan_coverage  # noqa: PLC0415 numpy: lazily
    from autotoo.alerts.regions import SkyMapRegion  # noqa: PLC0415
    from autotoo.alerts.skymaps import region_of  # noqa: PLC0415

    region, error = region_of(alert)
    if region is None:
        raise ValueError(error or "the alert has no position and no sky map")
    plan = plan_coverage(
        region,
        patterns=tuple(spec.tile_patterns),
        catalogue=catalogue,
        max_targets=spec.max_targets,
        use_proxy=spec.weight_by_proxy,
    )
    if plan.choice == "none":
        raise ValueError(f"cover: {plan.explanation}")
    plain = {k: v for k, v in request.items() if k not in _TILING_ONLY}
    if plan.choice == "galaxies":
        name = str(request.get("source_name", ""))
        bodies = [
            {**plain, "source_name": f"{name} {t.name}".strip(), "ra": t.ra, "dec": t.dec}
            | {"poserr": 0.0}
            for t in plan.targets
        ]
        return Covered(bodies, plan.to_json())
    assert plan.ra is not None
    assert plan.dec is not None
    # The alert's own error when it states one; a map's: the radius of a disc of its 90% area.
    radius = alert.error_deg or 0.0
    if isinstance(region, SkyMapRegion):
        radius = math.sqrt(plan.area90_deg2 / math.pi)
    body = {**plain, "ra": plan.ra, "dec": plan.dec, "poserr": _arcmin(radius)}
    if plan.choice == "tiling":
        body |= {
            "tiling": True,
            "number_of_tiles": str(plan.tiles),
            "exposure_time_per_tile": request.get("exposure_time_per_tile"),
            "tiling_justification": request.get("tiling_justification") or plan.explanation,
        }
    return Covered([body], plan.to_json())
