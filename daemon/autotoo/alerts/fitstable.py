"""Read the first binary table of a FITS file into numpy arrays, and nothing else.

Sky maps are FITS binary tables (LVK multi-order: ``UNIQ``/``PROBDENSITY``/...; flat HEALPix:
``PROB`` or ``PROBABILITY``, possibly 1024 values per row). astropy.io.fits reads them too,
but its import costs about half a second and its table machinery several milliseconds per
map, while the format needed here is fixed-width big-endian columns behind 2880-byte header
blocks (FITS standard 4.0, sections 4 and 7.3). So this module reads exactly that and refuses
anything else with a reason: variable-length columns are skipped, scaled columns refused.
Character columns (``A``) come back as numpy byte strings (galaxy names of a catalogue).
``tests/alerts/test_skymap.py`` compares it with astropy.io.fits on real maps.
"""

from __future__ import annotations

import gzip
import re
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

BLOCK = 2880
_CARD = 80
_TFORM = re.compile(r"^\s*(\d*)\s*([LXBIJKAEDCMPQ])")
_DTYPES = {"L": "i1", "B": "u1", "I": ">i2", "J": ">i4", "K": ">i8", "E": ">f4", "D": ">f8"}
_BYTES = {"L": 1, "X": 0, "B": 1, "I": 2, "J": 4, "K": 8, "A": 1, "E": 4, "D": 8, "C": 8, "M": 16}
_BYTES |= {"P": 8, "Q": 16}


class FitsError(ValueError):
    """The bytes are not a FITS file this reader understands; the message says why."""


@dataclass(frozen=True, slots=True)
class FitsTable:
    """A binary table: its header cards (keyword -> value) and its numeric columns."""

    header: dict[str, Any]
    columns: dict[str, np.ndarray[Any, Any]] = field(repr=False)
    units: dict[str, str] = field(default_factory=dict)


def _value(text: str) -> Any:
    text = text.strip()
    if text.startswith("'"):
        out, i = [], 1
        while i < len(text):
            if text[i] == "'":
                if text[i + 1 : i + 2] == "'":
                    out.append("'")
                    i += 2
                    continue
                break
            out.append(text[i])
            i += 1
        return "".join(out).rstrip()
    text = text.split("/", 1)[0].strip()
    if text in {"T", "F"}:
        return text == "T"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text.replace("D", "E"))
    except ValueError:
        return text


def _header(data: bytes, start: int) -> tuple[dict[str, Any], int]:
    """The cards of the header at ``start`` and the offset of its data."""
    cards: dict[str, Any] = {}
    at = start
    while True:
        if at + BLOCK > len(data):
            raise FitsError("FITS header ends before its END card")
        block = data[at : at + BLOCK]
        at += BLOCK
        for i in range(0, BLOCK, _CARD):
            card = block[i : i + _CARD].decode("ascii", "replace")
            key = card[:8].strip()
            if key == "END":
                return cards, at
            if card[8:10] == "= " and key not in cards:
                cards[key] = _value(card[10:])


def _int(cards: dict[str, Any], key: str, default: int) -> int:
    value = cards.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**48:
        raise FitsError(f"FITS card {key} is {value!r}, not a count")
    return value


def _data_size(cards: dict[str, Any]) -> int:
    naxis = _int(cards, "NAXIS", 0)
    if naxis == 0:
        return 0
    size = abs(cards.get("BITPIX", 8)) // 8 if isinstance(cards.get("BITPIX", 8), int) else 1
    count = 1
    for n in range(1, min(naxis, 999) + 1):
        count *= _int(cards, f"NAXIS{n}", 0)
    return size * _int(cards, "GCOUNT", 1) * (_int(cards, "PCOUNT", 0) + count)


def _padded(size: int) -> int:
    return -(-size // BLOCK) * BLOCK


def maybe_gunzip(data: bytes, limit: int) -> bytes:
    """Decompress gzip (``.fits.gz``) bytes, refusing more than ``limit`` bytes of output."""
    if data[:2] != b"\x1f\x8b":
        return data
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = decompressor.decompress(data, limit + 1)
    except zlib.error as exc:
        raise FitsError(f"gzip data is corrupt: {exc}") from None
    if len(out) > limit:
        raise FitsError(f"decompressed sky map is larger than {limit} bytes")
    return out


def read_first_table(data: bytes, *, limit: int = 256 * 2**20) -> FitsTable:
    """The first BINTABLE extension of ``data`` (gzip or plain FITS)."""
    try:
        data = maybe_gunzip(data, limit)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise FitsError(f"gzip data is corrupt: {exc}") from None
    if not data.startswith(b"SIMPLE  ="):
        raise FitsError("not a FITS file (no SIMPLE card)")
    cards, at = _header(data, 0)
    at += _padded(_data_size(cards))
    while at < len(data):
        cards, at = _header(data, at)
        if cards.get("XTENSION") == "BINTABLE":
            return _table(data, cards, at)
        at += _padded(_data_size(cards))
    raise FitsError("FITS file has no binary table")


def _table(data: bytes, cards: dict[str, Any], at: int) -> FitsTable:
    try:
        return _columns(data, cards, at)
    except (ValueError, TypeError, OverflowError) as exc:  # numpy's dtype checks, last
        if isinstance(exc, FitsError):
            raise
        raise FitsError(f"binary table is malformed: {exc}") from None


def _columns(data: bytes, cards: dict[str, Any], at: int) -> FitsTable:
    width, rows = _int(cards, "NAXIS1", 0), _int(cards, "NAXIS2", 0)
    if width <= 0 or rows < 0 or at + width * rows > len(data):
        raise FitsError(f"binary table of {rows} rows x {width} bytes does not fit the file")
    names: list[str] = []
    formats: list[str] = []
    offsets: list[int] = []
    units: dict[str, str] = {}
    offset = 0
    for n in range(1, min(_int(cards, "TFIELDS", 0), 999) + 1):
        form = _TFORM.match(str(cards.get(f"TFORM{n}", "")))
        if form is None:
            raise FitsError(f"column {n} has an unreadable TFORM {cards.get(f'TFORM{n}')!r}")
        repeat, code = int(form.group(1) or 1), form.group(2)
        size = (repeat + 7) // 8 if code == "X" else repeat * _BYTES[code]
        name = str(cards.get(f"TTYPE{n}", f"COL{n}")).strip().upper()
        scaled = cards.get(f"TSCAL{n}", 1) != 1 or cards.get(f"TZERO{n}", 0) != 0
        if code == "A" and repeat > 0:
            names.append(name)
            formats.append(f"S{repeat}")
            offsets.append(offset)
        elif code in _DTYPES and repeat > 0 and not scaled:
            names.append(name)
            formats.append(f"({repeat},){_DTYPES[code]}" if repeat > 1 else _DTYPES[code])
            offsets.append(offset)
            if f"TUNIT{n}" in cards:
                units[name] = str(cards[f"TUNIT{n}"])
        offset += size
    if offset != width:
        raise FitsError(f"columns take {offset} bytes of a {width}-byte row")
    dtype = np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": width})
    table = np.frombuffer(data, dtype=dtype, count=rows, offset=at)
    columns = {name: table[name].reshape(-1) for name in names}
    return FitsTable(header=cards, columns=columns, units=units)
