"""The emulators' name resolver: a catalogue of names and J2000 positions, read from files.

The real services resolve names through SIMBAD and friends; the emulators cannot reach them, so
they answer from ``data/names.csv`` (shipped with the package: a few hundred well-known
high-energy sources, their counterparts, and recent GRBs) plus any files a user adds
(``autotoo emulate --names FILE``; later files win on a shared name). A name that is in no
file is unknown, and each service answers it as it answers an unresolvable name.

File format (CSV, ``#`` starts a comment line): ``name,ra,dec[,kind][,aliases]``. RA is decimal
degrees or sexagesimal hours (``19:13:03.50`` or ``19 13 03.50``); Dec decimal degrees or
sexagesimal degrees. Aliases are separated by ``|``. Names match case- and space-insensitively,
so ``NGC4151`` finds ``NGC 4151`` and ``grb 221009a`` finds ``GRB 221009A``.
"""

from __future__ import annotations

import csv
import functools
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

_SEXAGESIMAL = re.compile(r"^\s*([+-]?)(\d+)[:\s]+(\d+)[:\s]+(\d+(?:\.\d*)?)\s*$")


@dataclass(frozen=True, slots=True)
class Named:
    name: str
    ra: float  # J2000 degrees
    dec: float
    kind: str = ""
    aliases: tuple[str, ...] = ()


def norm(name: str) -> str:
    """The form names are compared in: lower case, no whitespace."""
    return "".join(name.lower().split())


def _angle(text: str, *, hours: bool) -> float:
    match = _SEXAGESIMAL.match(text)
    if match is None:
        return float(text)
    sign = -1.0 if match.group(1) == "-" else 1.0
    value = int(match.group(2)) + int(match.group(3)) / 60.0 + float(match.group(4)) / 3600.0
    return sign * value * (15.0 if hours else 1.0)


def parse(text: str, *, source: str = "<names>") -> list[Named]:
    """Entries of one catalogue file; a malformed line is a ``ValueError`` naming the line."""
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    out: list[Named] = []
    for number, row in enumerate(csv.reader(io.StringIO("\n".join(lines))), start=1):
        if not row or not "".join(row).strip() or row[0].strip() == "name":
            continue
        try:
            name, ra_text, dec_text = (cell.strip() for cell in row[:3])
            ra = _angle(ra_text, hours=True)
            dec = _angle(dec_text, hours=False)
        except ValueError as exc:
            raise ValueError(f"{source}: row {number}: {','.join(row)!r}: {exc}") from None
        if not (name and 0.0 <= ra < 360.0 and -90.0 <= dec <= 90.0):
            raise ValueError(f"{source}: row {number}: {','.join(row)!r}: bad name or position")
        kind = row[3].strip() if len(row) > 3 else ""
        aliases = tuple(a.strip() for a in row[4].split("|") if a.strip()) if len(row) > 4 else ()
        out.append(Named(name, ra, dec, kind, aliases))
    return out


class NameResolver:
    """Names to positions, from the packaged catalogue and any extra files."""

    def __init__(self, entries: Iterable[Named] = ()) -> None:
        self._by_name: dict[str, Named] = {}
        self.add(entries)

    @classmethod
    def packaged(cls, *extra: Path) -> NameResolver:
        """The shipped catalogue, then each ``extra`` file in order."""
        resolver = cls(_packaged_entries())
        for path in extra:
            resolver.add(parse(path.read_text("utf-8"), source=str(path)))
        return resolver

    def add(self, entries: Iterable[Named]) -> None:
        for entry in entries:
            for name in (entry.name, *entry.aliases):
                self._by_name[norm(name)] = entry

    def resolve(self, name: str) -> Named | None:
        return self._by_name.get(norm(name))

    def __len__(self) -> int:
        return len({id(e) for e in self._by_name.values()})


@functools.cache
def _packaged_entries() -> tuple[Named, ...]:
    """The shipped catalogue, parsed once per process (every ``Sky`` starts from it)."""
    text = resources.files("autotoo.emulators").joinpath("data/names.csv").read_text("utf-8")
    return tuple(parse(text, source="names.csv"))
