"""A galaxy catalogue as a FITS binary table (GLADE+, NED-LVS and VizieR subsets come so).

The same columns as the CSV form, found by the same names (case-insensitive: ``ra``,
``dec``, ``distance_mpc`` or ``dist_mpc`` or ``distance``, optional ``name`` and one of
``mass``, ``luminosity``, ``proxy``; :data:`autotoo.alerts.galaxies.ALIASES`), read with the
project's own :mod:`autotoo.alerts.fitstable` from the first binary table. Units, when the
table states them (``TUNITn``), must be degrees and Mpc: a table in radians or kpc is
refused, not silently misread. A blank (NaN) mass or luminosity is unknown, as an empty CSV
cell; anything else that is not a finite number in range names its row.

This imports numpy, so a rule naming a FITS catalogue costs the numpy import (~100 ms) when
the rules load; a CSV catalogue does not.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from autotoo.alerts.fitstable import FitsError, FitsTable, read_first_table
from autotoo.alerts.galaxies import ALIASES, Catalogue, CatalogueError, Galaxy

_UNITS = {
    "ra": ("deg", "degree", "degrees"),
    "dec": ("deg", "degree", "degrees"),
    "distance_mpc": ("mpc",),
}


def _column(table: FitsTable, key: str) -> tuple[str, np.ndarray[Any, Any]] | None:
    for alias in ALIASES[key]:
        if alias.upper() in table.columns:
            return alias.upper(), table.columns[alias.upper()]
    return None


def _numbers(
    table: FitsTable, key: str, where: str, rows: int
) -> tuple[str, np.ndarray[Any, Any]] | None:
    found = _column(table, key)
    if found is None:
        return None
    name, values = found
    if values.dtype.kind not in "iuf" or len(values) != rows:
        raise CatalogueError(f"{where}: column {name} is not one number per row")
    unit = table.units.get(name, "").strip().lower()
    if unit and key in _UNITS and unit not in _UNITS[key]:
        wanted = "deg" if key != "distance_mpc" else "Mpc"
        raise CatalogueError(f"{where}: column {name} is in {unit!r}, not {wanted}")
    return name, values.astype(np.float64)


def _first_bad(where: str, column: str, values: np.ndarray[Any, Any], bad: Any, why: str) -> None:
    if np.any(bad):
        row = int(np.argmax(bad))
        raise CatalogueError(f"{where}: row {row + 1}: {column}: {values[row]} {why}")


def read_fits_catalogue(path: Path, data: bytes) -> Catalogue:
    """The galaxies of the FITS file ``path`` holding ``data``; :class:`CatalogueError` says
    where and why not (``<file>: row N: column: ...`` for a bad value)."""
    where = str(path)
    try:
        table = read_first_table(data)
    except FitsError as exc:
        raise CatalogueError(f"{where}: not a readable FITS galaxy table: {exc}") from None
    rows = int(table.header.get("NAXIS2", 0))
    found = {key: _numbers(table, key, where, rows) for key in ("ra", "dec", "distance_mpc")}
    missing = [key for key, got in found.items() if got is None]
    if missing:
        raise CatalogueError(
            f"{where}: the table needs columns ra, dec and distance_mpc (missing: "
            f"{', '.join(missing)}; it has {', '.join(table.columns) or 'none'}); optional: "
            "name, and one of mass, luminosity, proxy"
        )
    if rows == 0:
        raise CatalogueError(f"{where}: no galaxies (the table has no rows)")
    (_, ra), (_, dec), (_, distance) = (got for got in found.values() if got is not None)
    with np.errstate(invalid="ignore"):
        _first_bad(where, "ra", ra, ~((ra >= 0.0) & (ra <= 360.0)), "is not in [0, 360] degrees")
        _first_bad(
            where, "dec", dec, ~((dec >= -90.0) & (dec <= 90.0)), "is not in [-90, 90] degrees"
        )
        _first_bad(where, "distance_mpc", distance, ~(distance > 0.0), "is not a positive distance")
    proxy_found = _numbers(table, "proxy", where, rows)
    proxies: list[float | None] = [None] * rows
    proxy_column = None
    if proxy_found is not None:
        proxy_column, proxy = proxy_found[0].lower(), proxy_found[1]
        with np.errstate(invalid="ignore"):
            _first_bad(where, "proxy", proxy, np.isinf(proxy) | (proxy < 0.0), "is not >= 0")
        proxies = [None if np.isnan(p) else float(p) for p in proxy]
    names_found = _column(table, "name")
    names = [""] * rows
    if names_found is not None and names_found[1].dtype.kind == "S":
        names = [n.decode("ascii", "replace").strip() for n in names_found[1]]
    galaxies = tuple(
        Galaxy(
            names[i] or f"galaxy {i + 1}",
            float(ra[i]) % 360.0,
            float(dec[i]),
            float(distance[i]),
            proxies[i],
        )
        for i in range(rows)
    )
    return Catalogue(str(path), galaxies, proxy_column, hashlib.sha256(data).hexdigest()[:16])
