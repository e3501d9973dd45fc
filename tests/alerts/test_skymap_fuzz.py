"""Hostile sky maps: whatever bytes arrive, ``read_skymap`` returns a map or raises
``SkyMapError`` with a reason, never another exception (the map comes from a remote URL or an
alert, and its failure must leave the alert evaluated without it, not crash the reader)."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autotoo.alerts.skymap import SkyMap, SkyMapError, read_skymap
from tests.alerts.skymap_files import flat_map_bytes, lvk_map_bytes

FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
LVK = lvk_map_bytes()
FLAT = flat_map_bytes(np.full(48, 1 / 48), per_row=1)
HEADER_END = LVK.index(b"END" + b" " * 77, 2880)  # the table header's END card


def _read(data: bytes) -> SkyMap | None:
    try:
        skymap = read_skymap(data)
    except SkyMapError as exc:
        assert str(exc)
        assert "\n" not in str(exc)
        return None
    assert skymap.total > 0
    assert math.isfinite(skymap.area_deg2(0.9))
    return skymap


@FUZZ
@given(st.integers(min_value=0, max_value=len(LVK)), st.binary(max_size=64))
def test_truncated_or_extended_maps(cut: int, tail: bytes) -> None:
    _read(LVK[:cut] + tail)


@FUZZ
@given(
    st.sampled_from([LVK, FLAT]),
    st.lists(st.tuples(st.integers(min_value=0), st.binary(min_size=1, max_size=8)), max_size=6),
)
def test_bytes_overwritten_anywhere(base: bytes, patches: list[tuple[int, bytes]]) -> None:
    data = bytearray(base)
    for at, chunk in patches:
        start = at % len(data)
        data[start : start + len(chunk)] = chunk
    _read(bytes(data))


CARDS = [b"NAXIS1  = ", b"NAXIS2  = ", b"TFIELDS = ", b"TFORM1  = ", b"TFORM2  = ", b"TTYPE1  = "]
CARD_VALUES = st.sampled_from(
    [b"'K       '", b"'1024E'", b"'QD(2)'", b"-5", b"99999999999", b"'abc'", b"T", b"0", b"1.5E3"]
)


@FUZZ
@given(st.sampled_from(CARDS), CARD_VALUES)
def test_header_cards_with_hostile_values(card: bytes, value: bytes) -> None:
    start = LVK.index(card, 2880, HEADER_END)
    field = value.ljust(70)[:70]
    data = LVK[: start + 10] + field + LVK[start + 80 :]
    _read(data)
