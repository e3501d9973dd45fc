"""A galaxy catalogue the user provides, for covering regions too large to tile.

A FITS binary table (:mod:`autotoo.alerts.galaxies_fits`, the same columns), or a CSV
file: ``#`` lines are comments, the first other line names the columns
(case-insensitive, any order): ``ra`` and ``dec`` (degrees, J2000), ``distance_mpc`` (also
``dist_mpc`` or ``distance``), optionally ``name`` and one proxy of the stellar mass or
luminosity (``mass``, ``luminosity`` or ``proxy``; any unit, only ratios matter; a blank
cell is unknown). A CSV is read at rule load in plain Python (no numpy: the loader is on the
daemon's start-up path), and every problem names its line: an unreadable catalogue is a
load-time error of the rule that names it, never a surprise on the first sky map.
"""

from __future__ import annotations

import csv
import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

#: The column names each field is found by, in the order tried (CSV and FITS alike).
ALIASES = {
    "ra": ("ra",),
    "dec": ("dec",),
    "distance_mpc": ("distance_mpc", "dist_mpc", "distance"),
    "name": ("name",),
    "proxy": ("mass", "luminosity", "proxy"),
}
MAX_BYTES = 256 * 2**20  # a GLADE+-size subset is fine; a whole sky survey is not meant here


class CatalogueError(ValueError):
    """A catalogue that cannot be used; the message starts with ``file:line:`` when it can."""


@dataclass(frozen=True, slots=True)
class Galaxy:
    name: str
    ra: float
    dec: float
    distance_mpc: float
    proxy: float | None  # stellar mass or luminosity, None when the catalogue has none


@dataclass(frozen=True, slots=True)
class Catalogue:
    path: str
    galaxies: tuple[Galaxy, ...]
    proxy_column: str | None  # the column the proxy came from, e.g. "mass"
    digest: str  # SHA-256 of the file, so a rule's digest changes with its catalogue

    def __len__(self) -> int:
        return len(self.galaxies)


def _columns(header: list[str], where: str) -> dict[str, int]:
    names = [h.strip().lower() for h in header]
    found: dict[str, int] = {}
    for key, aliases in ALIASES.items():
        for alias in aliases:
            if alias in names:
                found[key] = names.index(alias)
                break
    missing = [k for k in ("ra", "dec", "distance_mpc") if k not in found]
    if missing:
        raise CatalogueError(
            f"{where}: the header needs columns ra, dec and distance_mpc (missing: "
            f"{', '.join(missing)}); optional: name, and one of mass, luminosity, proxy"
        )
    return found


def _number(cells: list[str], index: int, column: str, where: str) -> float:
    text = cells[index].strip() if index < len(cells) else ""
    try:
        value = float(text)
    except ValueError:
        raise CatalogueError(f"{where}: {column}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise CatalogueError(f"{where}: {column}: {text!r} is not finite")
    return value


def _galaxy(cells: list[str], at: dict[str, int], where: str, row: int) -> Galaxy:
    ra = _number(cells, at["ra"], "ra", where)
    dec = _number(cells, at["dec"], "dec", where)
    distance = _number(cells, at["distance_mpc"], "distance_mpc", where)
    if not 0.0 <= ra <= 360.0:
        raise CatalogueError(f"{where}: ra: {ra} is not in [0, 360] degrees")
    if not -90.0 <= dec <= 90.0:
        raise CatalogueError(f"{where}: dec: {dec} is not in [-90, 90] degrees")
    if distance <= 0.0:
        raise CatalogueError(f"{where}: distance_mpc: {distance} is not positive")
    proxy: float | None = None
    if "proxy" in at and at["proxy"] < len(cells) and cells[at["proxy"]].strip():
        proxy = _number(cells, at["proxy"], "proxy", where)
        if proxy < 0.0:
            raise CatalogueError(f"{where}: proxy: {proxy} is negative")
    name = cells[at["name"]].strip() if "name" in at and at["name"] < len(cells) else ""
    return Galaxy(name or f"galaxy {row}", ra % 360.0, dec, distance, proxy)


def read_catalogue(path: Path) -> Catalogue:
    """Read a CSV or FITS catalogue; :class:`CatalogueError` says where and why not.

    FITS is recognised by its content (``SIMPLE  =``, or gzip), whatever the file's name."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CatalogueError(f"{path}: cannot read the galaxy catalogue: {exc.strerror}") from None
    if len(data) > MAX_BYTES:
        raise CatalogueError(f"{path}: larger than {MAX_BYTES // 2**20} MiB")
    if data.startswith((b"SIMPLE  =", b"\x1f\x8b")):
        from autotoo.alerts.galaxies_fits import read_fits_catalogue  # noqa: PLC0415 numpy

        return read_fits_catalogue(path, data)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CatalogueError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    at: dict[str, int] | None = None
    header: list[str] = []
    galaxies: list[Galaxy] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cells = next(csv.reader([line]))
        where = f"{path}:{number}"
        if at is None:
            at, header = _columns(cells, where), cells
            continue
        galaxies.append(_galaxy(cells, at, where, len(galaxies) + 1))
    if at is None or not galaxies:
        raise CatalogueError(f"{path}: no galaxies (a header line, then one line per galaxy)")
    proxy = header[at["proxy"]].strip().lower() if "proxy" in at else None
    digest = hashlib.sha256(data).hexdigest()[:16]
    return Catalogue(str(path), tuple(galaxies), proxy, digest)
