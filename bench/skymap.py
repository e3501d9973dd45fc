"""Sky maps: decoding the real LVK multi-order map, its 90% area, 100 positions, vs ligo.skymap.

The map is the one embedded in ``tests/data/alerts/igwn/MS181101ab-preliminary.json`` (19,200
tiles, order 11, 778 kB of FITS). Both sides start from the same FITS bytes (the base64 is
decoded once, outside the timing) and do the same work:

* decode: ours ``read_skymap``; ligo.skymap ``read_sky_map(..., moc=True)``;
* 90% area: on a freshly decoded map (so the sort by density is inside the timing); ligo.skymap
  ``crossmatch(sky_map, contours=(0.9,))``;
* 100 positions: the density and the credible level at each (ours ``density_at`` and
  ``credible_level``; ligo.skymap ``crossmatch(sky_map, coordinates)``: ``probdensity`` and
  ``searched_prob``), again on a fresh map;
* all three in one pass, which is what a rule's first question about an alert costs.

ligo.skymap's ``crossmatch`` is given the map without its distance columns: with them it also
computes credible volumes, about 15 s here, which is not the question. The benchmark checks
that both sides give the same numbers before it times them. The import rows show what the
region code adds (after READY=1, in a thread) next to importing ligo.skymap.

Coverage planning (``autotoo.alerts.coverage``) on the same map: choosing the tile pattern's
centre (no ligo.skymap function does this, so no ratio), and ranking the example catalogue's
galaxies by dP/dV (ligo.skymap: ``crossmatch`` with the galaxies' distances, whose
``probdensity_vol`` is the same quantity on its distance grid; it also computes credible
volumes, which is most of its time, and there is no cheaper public call for dP/dV).

    uv run --group skymap-bench python -m bench.skymap [--quick]
"""

from __future__ import annotations

import io
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from autotoo.alerts.parse import parse_alert
from autotoo.alerts.skymap import read_skymap
from bench._common import ROOT, Row, bytecode_env, emit, quick_flag

MAP_ALERT = ROOT / "tests/data/alerts/igwn/MS181101ab-preliminary.json"


def _median_s(work: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _import_s(before: str, statement: str, runs: int, env: dict[str, str]) -> float:
    """Median time of ``statement`` in a fresh ``python`` that has run ``before`` (timed
    inside the process, with compiled bytecode filled by one unmeasured run)."""
    code = (
        f"{before}\nimport time\nstarted = time.perf_counter()\n{statement}\n"
        "print(time.perf_counter() - started)"
    )

    def once() -> float:
        done = subprocess.run(
            [sys.executable, "-c", code],
            check=True,
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        return float(done.stdout.split()[-1])

    once()
    return statistics.median(once() for _ in range(runs))


def _positions() -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    rng = np.random.default_rng(20)
    ra = rng.uniform(0.0, 360.0, 100)
    dec = np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, 100)))
    ra[:10] = 194.3 + rng.normal(0.0, 2.0, 10)  # some inside the map's region
    dec[:10] = -17.9 + rng.normal(0.0, 2.0, 10)
    return ra, dec


def measure(runs: int) -> tuple[list[Row], list[str]]:
    try:  # the skymap-bench dependency group only, hence imported here
        from astropy import units  # noqa: PLC0415
        from astropy.coordinates import SkyCoord  # noqa: PLC0415
        from ligo.skymap.io import read_sky_map  # noqa: PLC0415
        from ligo.skymap.postprocess import crossmatch  # noqa: PLC0415
    except ImportError:
        sys.exit("ligo.skymap is not installed: uv run --group skymap-bench python -m bench.skymap")

    data = parse_alert(MAP_ALERT.read_bytes(), "igwn.gwalert").skymap_bytes()
    assert data is not None
    ra, dec = _positions()
    coordinates = SkyCoord(ra * units.deg, dec * units.deg)

    def ligo_read() -> Any:
        sky_map = read_sky_map(io.BytesIO(data), moc=True)
        for column in ("DISTMU", "DISTSIGMA", "DISTNORM"):
            del sky_map[column]
        return sky_map

    # The same answers first.
    ours_map, theirs = read_skymap(data), crossmatch(ligo_read(), coordinates, contours=(0.9,))
    area_ours, area_theirs = ours_map.area_deg2(0.9), theirs.contour_areas[0]
    density = ours_map.density_at(ra, dec) * (180.0 / np.pi) ** 2  # per sr, as theirs
    assert abs(area_ours - area_theirs) <= 1e-9 * area_theirs, (area_ours, area_theirs)
    assert np.allclose(density, theirs.probdensity, rtol=1e-12, atol=0.0)
    assert np.allclose(ours_map.credible_level(ra, dec), theirs.searched_prob, atol=1e-12)

    def ours_area() -> float:
        return read_skymap(data).area_deg2(0.9)

    def ours_positions() -> object:
        fresh = read_skymap(data)
        return fresh.density_at(ra, dec), fresh.credible_level(ra, dec)

    def ours_all() -> object:
        fresh = read_skymap(data)
        return fresh.area_deg2(0.9), fresh.density_at(ra, dec), fresh.credible_level(ra, dec)

    slow = max(3, runs // 2)
    decode = (_median_s(lambda: read_skymap(data), runs), _median_s(ligo_read, slow))
    read_only = decode[0]
    # Ours decodes inside each of these; subtract nothing (both sides pay their decode once).
    theirs_area = _median_s(lambda: crossmatch(ligo_read(), contours=(0.9,)), slow)
    theirs_positions = _median_s(lambda: crossmatch(ligo_read(), coordinates), slow)
    theirs_all = _median_s(lambda: crossmatch(ligo_read(), coordinates, contours=(0.9,)), slow)
    area = (_median_s(ours_area, runs), theirs_area)
    positions = (_median_s(ours_positions, runs), theirs_positions)
    total = (_median_s(ours_all, runs), theirs_all)
    cone = _median_s(lambda: read_skymap(data).prob_in_cone(194.3, -17.86, 0.2), runs)
    import_runs = 3 if runs < 10 else 7
    with tempfile.TemporaryDirectory(prefix="bench-skymap-") as tmp:
        env = bytecode_env(Path(tmp))
        region_import = _import_s(
            "import autotoo.rules", "autotoo.rules.warm_up_skymaps()", import_runs, env
        )
        ligo_import = _import_s(
            "import autotoo.rules",
            "import ligo.skymap.io, ligo.skymap.postprocess.crossmatch",
            import_runs,
            env,
        )
    ms = 1e3
    rows = [
        Row("decode the multi-order FITS map", decode[0] * ms, "ms", decode[1] * ms, "-", None),
        Row("decode + 90% area", area[0] * ms, "ms", area[1] * ms, "-", None),
        Row("decode + density and credible level at 100 positions", positions[0] * ms, "ms",
            positions[1] * ms, "-", None),
        Row("decode + 90% area + 100 positions (one pass)", total[0] * ms, "ms", total[1] * ms,
            "<= 1.0x ligo.skymap", total[0] <= total[1]),
        Row("decode + probability in a 0.2 deg disc (XRT FOV)", cone * ms, "ms", None, "-", None),
        Row("import numpy + region code (warm_up_skymaps)", region_import * ms, "ms",
            ligo_import * ms, "off the start-up path", None),
    ]  # fmt: skip
    notes = [
        (
            f"map: {MAP_ALERT.relative_to(ROOT)} ({len(data)} bytes of FITS, {len(ours_map)} "
            f"tiles); medians of {runs} runs (ours) and {slow} (ligo.skymap)"
        ),
        (
            "baseline: ligo.skymap read_sky_map(moc=True) and crossmatch() on the same bytes, "
            "the map without its distance columns (with them crossmatch also computes volumes, "
            "~15 s here)"
        ),
        (
            f"both give the same 90% area ({area_ours:.6f} deg2), densities and credible levels "
            "(checked before timing)"
        ),
        (
            f"decode alone is {read_only * ms:.2f} ms of ours; ligo.skymap's read goes through "
            "astropy.io.fits and an astropy Table"
        ),
        (
            "import row: the time of autotoo.rules.warm_up_skymaps() in a python that has "
            "imported autotoo.rules (what start loads), compiled bytecode, median of "
            f"{import_runs} processes; baseline: importing ligo.skymap's reader and "
            "crossmatch at the same point"
        ),
    ]
    return rows, notes


CATALOGUE = ROOT / "config/galaxies-example.csv"


def measure_coverage(runs: int) -> tuple[list[Row], list[str]]:
    """The tile choice and the galaxy ranking on the LVK map, from the FITS bytes."""
    from astropy import units  # noqa: PLC0415 the skymap-bench group only
    from astropy.coordinates import SkyCoord  # noqa: PLC0415
    from ligo.skymap.io import read_sky_map  # noqa: PLC0415
    from ligo.skymap.postprocess import crossmatch  # noqa: PLC0415

    from autotoo.alerts.coverage import galaxy_weights, plan_coverage  # noqa: PLC0415
    from autotoo.alerts.galaxies import read_catalogue  # noqa: PLC0415
    from autotoo.alerts.regions import SkyMapRegion  # noqa: PLC0415

    data = parse_alert(MAP_ALERT.read_bytes(), "igwn.gwalert").skymap_bytes()
    assert data is not None
    catalogue = read_catalogue(CATALOGUE)
    ra = np.array([g.ra for g in catalogue.galaxies])
    dec = np.array([g.dec for g in catalogue.galaxies])
    distance = np.array([g.distance_mpc for g in catalogue.galaxies])
    coordinates = SkyCoord(ra * units.deg, dec * units.deg, distance * units.Mpc)

    def region() -> SkyMapRegion:
        return SkyMapRegion(read_skymap(data), "embedded")

    def theirs() -> Any:
        return crossmatch(read_sky_map(io.BytesIO(data), moc=True), coordinates).probdensity_vol

    # The same answers first: dP/dV at every galaxy with any, and the same order.
    ours_density = region().skymap.volume_density(ra, dec, distance)
    started = time.perf_counter()
    their_density = theirs()
    first_call = time.perf_counter() - started
    some = ours_density > 1e-12 * ours_density.max()
    worst = float(np.max(np.abs(ours_density[some] / their_density[some] - 1.0)))
    assert worst < 0.05, worst  # theirs is on a 1000-step distance grid
    assert list(np.argsort(-ours_density)[:5]) == list(np.argsort(-their_density)[:5])
    plan = plan_coverage(region(), catalogue=catalogue, max_targets=5)
    tiles = _median_s(lambda: plan_coverage(region()), runs)

    def ours_rank() -> object:
        weights, _ = galaxy_weights(region(), catalogue, use_proxy=False)
        return np.argsort(-weights)[:5]

    rank = _median_s(ours_rank, runs)
    full = _median_s(lambda: plan_coverage(region(), catalogue=catalogue, max_targets=5), runs)
    their_rank = first_call  # one call: ~15 s, four orders of magnitude above ours
    ms = 1e3
    rows = [
        Row("decode + tile choice (best 4/7-tile centre, its probability)", tiles * ms, "ms",
            None, "-", None),
        Row(f"decode + dP/dV at {len(catalogue)} galaxies and their top 5", rank * ms, "ms",
            their_rank * ms, "-", None),
        Row("decode + the whole plan (tiles rejected, 5 galaxies, their XRT fields)",
            full * ms, "ms", None, "-", None),
    ]  # fmt: skip
    notes = [
        f"coverage: {plan.explanation}",
        (
            f"dP/dV equals ligo.skymap crossmatch's probdensity_vol within {worst:.1%} at the "
            f"{int(some.sum())} galaxies with any (its 1000-step distance grid), same top 5; "
            "ligo.skymap timed once (the checking call); its time is mostly the credible "
            "volumes crossmatch computes whatever is asked, there is no cheaper public call"
        ),
    ]
    return rows, notes


def main(argv: Sequence[str] | None = None) -> int:
    runs = 5 if quick_flag(argv) else 21
    rows, notes = measure(runs)
    more_rows, more_notes = measure_coverage(runs)
    rows, notes = rows + more_rows, notes + more_notes
    emit("Sky maps: the LVK multi-order map, ours vs ligo.skymap", rows, notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
