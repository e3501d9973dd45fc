"""Every file of the shared alert corpus parses, with mission, kind, event key, position.

Expectations come from outside the parser: a hand-checked table for the illustrative and
sample files, and, for the 654 Kafka captures, the file name (topic) and plain regular
expressions over the payload (TrigID / Burst_Id / C1 / C2 / Packet_Type / citations).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest
from tests.alerts.alert_corpus import CORPUS, capture_topic, corpus_files, corpus_id

from autotoo.alerts import AlertParseError, NormalizedAlert, parse_alert

FILES = corpus_files()

# path -> (mission, kind, event_key, (ra, dec) or None, is_test)
Expected = tuple[str, str, str, tuple[float, float] | None, bool]
_CHIME = (346.77850859547, 12.632485229956252)
_MAXI = (346.56, 18.61)
_SVOM = (143.2478, -68.0289)
TABLE: dict[str, Expected] = {
    "gcn-schema/boom/alert.example.json": ("boom", "initial", "ZTF25acffkdr", None, False),
    "gcn-schema/burstcube/alert.example.json": (
        "burstcube",
        "initial",
        "240601000",
        (232.0, -53.1),
        False,
    ),
    "gcn-schema/burstcube/test.example.json": (
        "burstcube",
        "initial",
        "240601000",
        (232.0, -53.1),
        True,
    ),
    "gcn-schema/chime/frb.detection.example.json": ("chime", "initial", "427325191", _CHIME, False),
    "gcn-schema/chime/frb.retraction.example.json": (
        "chime",
        "retraction",
        "427325191",
        None,
        False,
    ),
    "gcn-schema/chime/frb.subsequent.example.json": (
        "chime",
        "initial",
        "427325192",
        _CHIME,
        False,
    ),
    "gcn-schema/chime/frb.update.example.json": ("chime", "update", "427325191", None, False),
    "gcn-schema/dsa110/frb.detection.example.json": (
        "dsa110",
        "initial",
        "240918aaaa",
        _CHIME,
        False,
    ),
    "gcn-schema/dsa110/frb.retraction.example.json": (
        "dsa110",
        "retraction",
        "240918aaaa",
        None,
        False,
    ),
    "gcn-schema/dsa110/frb.subsequent.example.json": (
        "dsa110",
        "initial",
        "240918aaaa",
        _CHIME,
        False,
    ),
    "gcn-schema/dsa110/frb.update.example.json": ("dsa110", "update", "240918aaaa", None, False),
    "gcn-schema/einstein_probe/wxt/alert.example.json": (
        "einstein_probe",
        "initial",
        "01708973486",
        (120.0, 40.0),
        False,
    ),
    "gcn-schema/fermi/gbm/trigger.alert.example.json": (
        "fermi",
        "initial",
        "745121685",
        None,
        False,
    ),
    "gcn-schema/fermi/gbm/trigger.final.example.json": (
        "fermi",
        "update",
        "745121685",
        (29.24, -63.62),
        False,
    ),
    "gcn-schema/fermi/gbm/trigger.flight1.example.json": (
        "fermi",
        "update",
        "745121685",
        (136.917, -78.117),
        False,
    ),
    "gcn-schema/fermi/gbm/trigger.flight2.example.json": (
        "fermi",
        "update",
        "745121685",
        (236.783, 66.633),
        False,
    ),
    "gcn-schema/fermi/gbm/trigger.flight3.example.json": (
        "fermi",
        "update",
        "745121685",
        (235.883, 68.683),
        False,
    ),
    "gcn-schema/fermi/gbm/trigger.ground1.example.json": (
        "fermi",
        "update",
        "745121685",
        (92.17, -66.98),
        False,
    ),
    "gcn-schema/fermi/gbm/trigger.ground2.example.json": (
        "fermi",
        "update",
        "745121685",
        (90.56, -67.87),
        False,
    ),
    "gcn-schema/fermi/lat/flare.example.json": (
        "fermi",
        "initial",
        "OQ 334",
        (215.62657, 32.38623),
        False,
    ),
    "gcn-schema/glowbug/Alert.example.json": ("glowbug", "initial", "BUG230423.789", None, False),
    "gcn-schema/heasarc/archive_alert.example.json": (
        "heasarc",
        "initial",
        "01001099",
        None,
        False,
    ),
    "gcn-schema/icecube/lvk_nu_track_search.example.json": (
        "icecube",
        "initial",
        "S230914ak",
        None,
        False,
    ),
    "gcn-schema/icecube/single_neutrino_alerts.gold_bronze_track_alerts.example.json": (
        "icecube",
        "initial",
        "137840_57034692",
        (345.82, 9.01),
        False,
    ),
    "gcn-schema/km3net/alert.example.json": ("km3net", "initial", "1", (10.82, 20.01), False),
    "gcn-schema/km3net/alert.multiplet.example.json": (
        "km3net",
        "initial",
        "2",
        (13.81, 18.85),
        False,
    ),
    "gcn-schema/maxi/gsc.known.example.json": (
        "maxi",
        "initial",
        "0858800020",
        (285.6, -9.2),
        False,
    ),
    "gcn-schema/maxi/gsc.known.retraction.example.json": (
        "maxi",
        "retraction",
        "0858800020",
        None,
        False,
    ),
    "gcn-schema/maxi/gsc.unknown.circle.example.json": (
        "maxi",
        "update",
        "9995289617",
        _MAXI,
        False,
    ),
    "gcn-schema/maxi/gsc.unknown.ellipse.example.json": (
        "maxi",
        "update",
        "9995289617",
        _MAXI,
        False,
    ),
    "gcn-schema/maxi/gsc.unknown.noerror.example.json": (
        "maxi",
        "initial",
        "9995289617",
        _MAXI,
        False,
    ),
    "gcn-schema/maxi/gsc.unknown.rectangle.example.json": (
        "maxi",
        "update",
        "9995289617",
        _MAXI,
        False,
    ),
    "gcn-schema/maxi/gsc.unknown.retraction.example.json": (
        "maxi",
        "retraction",
        "9995289617",
        None,
        False,
    ),
    "gcn-schema/superk/sn_alert.real.example.json": (
        "superk",
        "initial",
        "SN.095001.000001",
        (270.82, 31.46),
        False,
    ),
    "gcn-schema/superk/sn_alert.test.example.json": (
        "superk",
        "initial",
        "SN.095001.000001",
        (270.82, 31.46),
        True,
    ),
    "gcn-schema/svom/eclairs/trigger.catalog.example.json": (
        "svom",
        "initial",
        "sb24022203",
        _SVOM,
        True,
    ),
    "gcn-schema/svom/eclairs/trigger.not-slewing.example.json": (
        "svom",
        "update",
        "sb24022203",
        _SVOM,
        True,
    ),
    "gcn-schema/svom/eclairs/trigger.slewing.example.json": (
        "svom",
        "update",
        "sb24022203",
        _SVOM,
        True,
    ),
    "gcn-schema/svom/eclairs/trigger.wakeup.example.json": (
        "svom",
        "initial",
        "sb24022203",
        _SVOM,
        True,
    ),
    "gcn-schema/svom/grm/trigger.example.json": ("svom", "initial", "sb24022203", _SVOM, True),
    "gcn-schema/swift/bat/Guano.Retraction.example.json": (
        "swift",
        "retraction",
        "694215995",
        None,
        False,
    ),
    "gcn-schema/swift/bat/Guano.example.json": ("swift", "initial", "694215995", None, False),
    "gcn-schema/swift/bat/guano.loc_arc_min.example.json": (
        "swift",
        "update",
        "694215995",
        (336.26, 25.139),
        False,
    ),
    "gcn-schema/swift/bat/guano.loc_map.example.json": (
        "swift",
        "update",
        "694215995",
        None,
        False,
    ),
    "igwn/MS181101ab-earlywarning.json": ("lvk", "initial", "MS181101ab", None, True),
    "igwn/MS181101ab-preliminary.json": ("lvk", "initial", "MS181101ab", None, True),
    "igwn/MS181101ab-initial.json": ("lvk", "update", "MS181101ab", None, True),
    "igwn/MS181101ab-update.json": ("lvk", "update", "MS181101ab", None, True),
    "igwn/MS181101ab-ext-update.json": ("lvk", "update", "MS181101ab", None, True),
    "igwn/MS181101ab-retraction.json": ("lvk", "retraction", "MS181101ab", None, True),
    "voevent-classic/gwcelery-agile_grb_gcn.xml": (
        "agile",
        "initial",
        "2019-03-05T19:40:33.67Z",
        (0.0, 4.3526),
        False,
    ),
    "voevent-classic/gwcelery-fermi_grb_gcn.xml": (
        "fermi",
        "update",
        "548848711",
        (140.05, -39.0499),
        False,
    ),
    "voevent-classic/gwcelery-fermi_initial_grb_gcn.xml": (
        "fermi",
        "initial",
        "548841234",
        None,
        False,
    ),
    "voevent-classic/gwcelery-fermi_noise_gcn.xml": (
        "fermi",
        "update",
        "598032876",
        (222.7167, 81.1667),
        False,
    ),
    "voevent-classic/gwcelery-fermi_noise_gcn_2.xml": (
        "fermi",
        "update",
        "598032876",
        (222.7167, 81.1667),
        False,
    ),
    "voevent-classic/gwcelery-fermi_subthresh_grb_gcn.xml": (
        "fermi",
        "initial",
        "578679123",
        (143.53, 38.0799),
        False,
    ),
    "voevent-classic/gwcelery-integral_grb_gcn.xml": (
        "integral",
        "initial",
        "2017-05-23T12:03:23.68Z",
        (1.2343, 2.3455),
        True,
    ),
    "voevent-classic/gwcelery-snews_gcn.xml": ("snews", "initial", "1000194", None, False),
    "voevent-classic/gwcelery-snews_gcn_test.xml": ("snews", "initial", "1000194", None, True),
    "voevent-classic/gwcelery-swift_grb_gcn.xml": (
        "swift",
        "initial",
        "1123129",
        (268.87, -20.3153),
        False,
    ),
}

# gcn-schema's core/ examples are schema fragments (a Pointing, a Statistics block...), not
# notices any topic carries: they must be refused with that reason, not parsed.
FRAGMENTS = {
    f"gcn-schema/core/{n}.example.json"
    for n in (
        "Localization",
        "Pointing",
        "Reporter",
        "Spectral",
        "Statistics",
    )
}

_PARAM = r'<Param\s+name="{}"\s+value="([^"]*)"'


def _param(text: str, name: str) -> str | None:
    match = re.search(_PARAM.format(name), text)
    return match.group(1) if match else None


def _capture_expectation(path: Path) -> Expected:
    """Expected fields of a Kafka capture, from its topic and regexes over the payload."""
    topic = capture_topic(path)
    assert topic is not None
    text = path.read_text()
    if path.suffix == ".json":
        obj = json.loads(text)
        return ("einstein_probe", "initial", obj["id"][0], (obj["ra"], obj["dec"]), False)
    packet = _param(text, "Packet_Type")
    if "FERMI" in topic:
        kind = "initial" if topic.endswith("FERMI_GBM_ALERT") else "update"
        key = _param(text, "TrigID")
        mission = "fermi"
    else:
        mission = "svom"
        key = _param(text, "Burst_Id")
        if packet == "219":
            kind = "retraction"
        else:
            kind = "update" if 'cite="followup"' in text else "initial"
    c1 = re.search(r"<C1>([^<]+)</C1>", text)
    c2 = re.search(r"<C2>([^<]+)</C2>", text)
    has_position = (
        c1 is not None
        and c2 is not None
        and kind != "retraction"
        and _param(text, "Coords_Type") != "0"
    )
    position = (float(c1.group(1)), float(c2.group(1))) if has_position and c1 and c2 else None
    assert key is not None
    return (mission, kind, key, position, False)


def _check(alert: NormalizedAlert, expected: Expected) -> None:
    mission, kind, key, position, is_test = expected
    assert (alert.mission, alert.kind, alert.event_key, alert.is_test) == (
        mission,
        kind,
        key,
        is_test,
    )
    if position is None:
        assert alert.ra is None
        assert alert.dec is None
        assert alert.error_deg is None
    else:
        assert (alert.ra, alert.dec) == pytest.approx(position)
    assert alert.trigger_time is None or alert.trigger_time.utcoffset() is not None
    assert alert.notice_type
    assert alert.raw is not None


def test_corpus_is_present() -> None:
    assert CORPUS is not None, "shared/alerts not found beside the repository"
    assert len(FILES) == 719  # 49 gcn-schema + 6 igwn + 10 voevent-classic + 654 captures


@pytest.mark.parametrize("path", FILES, ids=corpus_id)
def test_corpus_file(path: Path) -> None:
    name = corpus_id(path)
    raw = path.read_bytes()
    if name in FRAGMENTS:
        with pytest.raises(AlertParseError, match="core fragment"):
            parse_alert(raw)
        return
    topic = capture_topic(path)
    expected = TABLE[name] if topic is None else _capture_expectation(path)
    alert = parse_alert(raw, topic)
    _check(alert, expected)
    assert alert.topic == topic
    if topic is not None:
        # Same alert over an MQTT bridge, and with no topic at all: payload inference agrees.
        mqtt = parse_alert(raw, topic.replace(".", "/"))
        assert mqtt.to_json_dict() == alert.to_json_dict()
        bare = parse_alert(raw).to_json_dict()
        assert {**bare, "topic": topic} == alert.to_json_dict()


def test_corpus_counts_by_mission_and_kind() -> None:
    """The whole corpus, tallied: the table in the report comes from this test."""
    counts: Counter[tuple[str, str]] = Counter()
    for path in FILES:
        if corpus_id(path) in FRAGMENTS:
            continue
        alert = parse_alert(path.read_bytes(), capture_topic(path))
        counts[alert.mission, alert.kind] += 1
    assert sum(counts.values()) == 714
    assert counts["svom", "retraction"] == 3
    assert counts["fermi", "initial"] == 154 + 1 + 2 + 1  # captures, JSON, gwcelery alert+subthresh
    assert counts["einstein_probe", "initial"] == 19
    assert counts["lvk", "retraction"] == 1
    retractions = sum(n for (_, kind), n in counts.items() if kind == "retraction")
    assert retractions == 9  # svom 3, maxi 2, chime, dsa110, swift GUANO, lvk
