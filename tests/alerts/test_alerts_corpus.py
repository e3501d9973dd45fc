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

from autotoo.alerts import AlertParseError, NormalizedAlert, parse_alert
from tests.alerts.alert_corpus import capture_topic, corpus_files, corpus_id
from tests.alerts.corpus_expected import CORPUS_COUNTS, FRAGMENTS, TABLE, Expected

FILES = corpus_files()

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
    """The whole corpus, tallied by mission and kind (the table in docs and reports)."""
    counts: Counter[tuple[str, str]] = Counter()
    for path in FILES:
        if corpus_id(path) in FRAGMENTS:
            continue
        alert = parse_alert(path.read_bytes(), capture_topic(path))
        counts[alert.mission, alert.kind] += 1
    table = {
        mission: (
            counts[mission, "initial"],
            counts[mission, "update"],
            counts[mission, "retraction"],
        )
        for mission in {mission for mission, _ in counts}
    }
    assert table == CORPUS_COUNTS
    assert sum(counts.values()) == 714
