"""Hostile payloads: whatever arrives, ``parse_alert`` returns an alert or raises
``AlertParseError`` with a one-line reason — never another exception, never a parser bug.

Each parsed result must also satisfy the model's invariants (coordinates in range, finite
numbers, UTC times) and serialise as strict JSON, because the CLI and the store do that next.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autotoo.alerts import AlertParseError, NormalizedAlert, parse_alert
from autotoo.alerts.values import MAX_PAYLOAD_BYTES
from tests.alerts.alert_corpus import CORPUS, capture_topic, corpus_files

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Small real payloads of every family (the 1 MB IGWN files are covered by the corpus test).
SEEDS = [p for p in corpus_files() if p.stat().st_size < 20_000]
SEED_XML = [p for p in SEEDS if p.suffix == ".xml"]
SEED_JSON = [p for p in SEEDS if p.suffix == ".json" and "/core/" not in str(p)]
EP = next((p for p in SEED_JSON if "einstein_probe_wxt_alert" in p.name), None)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _outcome(raw: bytes, topic: str | None = None) -> NormalizedAlert | AlertParseError:
    """Parse; any exception other than AlertParseError fails the test by propagating."""
    try:
        alert = parse_alert(raw, topic)
    except AlertParseError as exc:
        error = exc
    else:
        _check_invariants(alert)
        return alert
    assert error.reason
    assert "\n" not in error.reason
    assert not error.reason.startswith("internal parser error"), error.reason
    return error


def _check_invariants(alert: NormalizedAlert) -> None:
    if alert.ra is not None or alert.dec is not None:
        assert alert.ra is not None
        assert alert.dec is not None
        assert 0.0 <= alert.ra < 360.0
        assert -90.0 <= alert.dec <= 90.0
    if alert.error_deg is not None:
        assert math.isfinite(alert.error_deg)
        assert 0.0 < alert.error_deg < 180.0
    for number in (alert.rate_snr, alert.image_snr, alert.far, alert.p_astro, alert.rate_signif):
        assert number is None or math.isfinite(number)
    for when in (alert.trigger_time, alert.issued_time):
        assert when is None or when.utcoffset() is not None
    assert alert.kind in {"initial", "update", "retraction"}
    assert alert.event_key
    json.dumps(alert.to_json_dict(), allow_nan=False)


@FUZZ
@given(st.binary(max_size=2000))
def test_random_bytes(raw: bytes) -> None:
    _outcome(raw)


@FUZZ
@given(st.sampled_from(SEEDS), st.data())
def test_truncated_real_payloads(path: Any, data: st.DataObject) -> None:
    raw = path.read_bytes()
    cut = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
    result = _outcome(raw[:cut], capture_topic(path))
    if raw[cut:].strip():
        # A document cut before its end is never well formed, whatever the topic says.
        assert isinstance(result, AlertParseError)


@FUZZ
@given(st.sampled_from(SEEDS), st.data())
def test_corrupted_bytes_of_real_payloads(path: Any, data: st.DataObject) -> None:
    raw = bytearray(path.read_bytes())
    for _ in range(data.draw(st.integers(min_value=1, max_value=8))):
        index = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
        raw[index] = data.draw(st.integers(min_value=0, max_value=255))
    _outcome(bytes(raw), capture_topic(path))


GCN_FIELDS = [
    "$schema", "mission", "instrument", "messenger", "alert_type", "alert_tense",
    "alert_datetime", "record_number", "id", "event_name", "trigger_time", "ra", "dec",
    "ra_dec_error", "position_a_error", "position_b_error", "position_error_pa",
    "rectangular_error_corners", "containment_probability", "rate_snr", "image_snr", "far",
    "p_astro", "classification", "properties", "ref_ID", "reference", "follow_up_event",
    "healpix_file", "data", "obs_id",
]  # fmt: skip


@FUZZ
@given(
    st.sampled_from(SEED_JSON),
    st.dictionaries(st.sampled_from(GCN_FIELDS), json_values, min_size=1, max_size=4),
)
def test_gcn_json_fields_with_wrong_types(path: Any, changes: dict[str, Any]) -> None:
    obj = json.loads(path.read_bytes()) | changes
    _outcome(json.dumps(obj).encode(), capture_topic(path))


IGWN_PRELIMINARY = None if CORPUS is None else CORPUS / "igwn" / "MS181101ab-preliminary.json"


@FUZZ
@given(
    st.dictionaries(
        st.sampled_from(["alert_type", "superevent_id", "time_created", "external_coinc"]),
        json_values,
        max_size=3,
    ),
    st.dictionaries(
        st.sampled_from(
            ["time", "far", "classification", "properties", "instruments", "search", "skymap"]
        ),
        json_values,
        max_size=3,
    ),
)
def test_igwn_fields_with_wrong_types(top: dict[str, Any], event: dict[str, Any]) -> None:
    assert IGWN_PRELIMINARY is not None
    obj = json.loads(IGWN_PRELIMINARY.read_bytes())
    obj["event"]["skymap"] = "U0lNUExF"  # keep the example small; the map is never decoded here
    obj["event"] |= event
    obj |= top
    _outcome(json.dumps(obj).encode(), "igwn.gwalert")


@FUZZ
@given(st.sampled_from(SEED_XML), st.data())
def test_voevent_param_values_replaced(path: Any, data: st.DataObject) -> None:
    text = path.read_text()
    names = ["Packet_Type", "Pkt_Ser_Num", "TrigID", "Burst_Id", "Coords_Type", "FAR"]
    for name in data.draw(st.lists(st.sampled_from(names), min_size=1, max_size=3)):
        marker = f'name="{name}"'
        start = text.find(marker)
        if start < 0:
            continue
        value_at = text.find('value="', start) + len('value="')
        value_end = text.find('"', value_at)
        new = data.draw(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=12))
        escaped = new.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")
        text = text[:value_at] + escaped + text[value_end:]
    _outcome(text.encode(), capture_topic(path))


def _replace_element(text: str, tag: str, value: str) -> str:
    start = text.index(f"<{tag}>") + len(tag) + 2
    return text[:start] + value + text[text.index(f"</{tag}>", start) :]


@FUZZ
@given(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(allow_nan=True, allow_infinity=True),
)
def test_coordinates_of_any_float(ra: float, dec: float, error: float) -> None:
    """In range -> parsed as given; NaN, infinite or out of range -> refused naming the axis."""
    assert EP is not None
    obj = json.loads(EP.read_bytes()) | {"ra": ra, "dec": dec, "ra_dec_error": error}
    result = _outcome(json.dumps(obj).encode())
    ra_ok = math.isfinite(ra) and 0.0 <= ra <= 360.0
    dec_ok = math.isfinite(dec) and -90.0 <= dec <= 90.0
    error_ok = math.isfinite(error)
    if ra_ok and dec_ok and error_ok:
        assert isinstance(result, NormalizedAlert)
        if error < 180.0:
            assert (result.ra, result.dec) == ((0.0 if ra == 360.0 else ra), dec)
        else:
            assert result.ra is None  # an error circle covering the sky is no position
    else:
        assert isinstance(result, AlertParseError)
        assert any(axis in result.reason for axis in ("ra", "dec"))

    xml = next(p for p in SEED_XML if "swift_grb" in p.name).read_text()
    for tag, value in (("C1", ra), ("C2", dec), ("Error2Radius", error)):
        xml = _replace_element(xml, tag, repr(value))
    result = _outcome(xml.encode())
    if not (ra_ok and dec_ok and error_ok):
        assert isinstance(result, AlertParseError)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"pad": "' + b"a" * (10 * 1024 * 1024) + b'"}',
        b"<VOEvent>" + b"<Param/>" * (10 * 1024 * 1024 // 8) + b"</VOEvent>",
        b" " * (10 * 1024 * 1024) + b"{}",
    ],
    ids=["json-10MB", "xml-10MB", "blank-10MB"],
)
def test_ten_megabyte_bodies_are_refused_before_decoding(raw: bytes) -> None:
    assert len(raw) > MAX_PAYLOAD_BYTES
    with pytest.raises(AlertParseError, match="exceeds"):
        parse_alert(raw)


def test_quadratic_blowup_entity_is_refused() -> None:
    entity = "A" * 50_000
    raw = (
        f'<?xml version="1.0"?><!DOCTYPE v [<!ENTITY a "{entity}">]>'
        f'<VOEvent ivorn="x"><What><Param name="TrigID" value="{"&a;" * 5000}"/></What></VOEvent>'
    ).encode()
    with pytest.raises(AlertParseError, match="hardened parser"):
        parse_alert(raw)
