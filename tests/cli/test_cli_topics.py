"""The topic a saved alert file arrived on, from its name (replay) and back (export)."""

from __future__ import annotations

import pytest

from autotoo.replay import export_filename, topic_from_filename
from tests.alerts.alert_corpus import CORPUS, capture_topic


@pytest.mark.parametrize(
    ("name", "topic"),
    [
        (
            "000000000002_3969_gcn_classic_voevent_fermi_gbm_alert.xml",
            "gcn.classic.voevent.FERMI_GBM_ALERT",
        ),
        (
            "000000006117_2003_gcn_classic_voevent_fermi_gbm_gnd_pos.xml",
            "gcn.classic.voevent.FERMI_GBM_GND_POS",
        ),
        ("1_2_gcn_classic_voevent_fermi_gbm_flt_pos.xml", "gcn.classic.voevent.FERMI_GBM_FLT_POS"),
        ("x_gcn_classic_text_swift_bat_grb_pos_ack.txt", None),  # not a numeric prefix
        ("7_gcn_classic_text_SWIFT_BAT_GRB_POS_ACK.txt", "gcn.classic.text.SWIFT_BAT_GRB_POS_ACK"),
        (
            "000000000018_5_gcn_notices_einstein_probe_wxt_alert.json",
            "gcn.notices.einstein_probe.wxt.alert",
        ),
        ("3_4_gcn_notices_svom_voevent_eclairs.xml", "gcn.notices.svom.voevent.eclairs"),
        ("gcn_notices_icecube_lvk_nu_track_search.json", "gcn.notices.icecube.lvk_nu_track_search"),
        (
            "00000012_gcn_notices_icecube_gold_bronze_track_alerts.json",
            "gcn.notices.icecube.gold_bronze_track_alerts",
        ),
        ("5_gcn_notices_superk_sn_alert.json", "gcn.notices.superk.sn_alert"),
        ("5_gcn_notices_swift_bat_guano.json", "gcn.notices.swift.bat.guano"),
        ("00000009_igwn_gwalert.json", "igwn.gwalert"),
        ("MS181101ab-preliminary.json", None),
        ("gwcelery-swift_grb_gcn.xml", None),
        ("00000003_no-topic.json", None),
        ("00000003_directory.json", None),
        ("gcn_notices_.json", None),
    ],
)
def test_topic_from_filename(name: str, topic: str | None) -> None:
    assert topic_from_filename(name) == topic


def test_every_captured_file_name_gives_its_documented_topic() -> None:
    assert CORPUS is not None
    files = sorted((CORPUS / "gcn-kafka-2026").iterdir())
    assert len(files) > 600
    for path in files:
        assert topic_from_filename(path.name) == capture_topic(path), path.name


@pytest.mark.parametrize(
    "topic",
    [
        "gcn.classic.voevent.FERMI_GBM_FIN_POS",
        "gcn.notices.einstein_probe.wxt.alert",
        "gcn.notices.svom.voevent.grm",
        "gcn.notices.icecube.lvk_nu_track_search",
        "igwn.gwalert",
    ],
)
def test_export_names_round_trip(topic: str) -> None:
    name = export_filename(42, topic, b"<?xml version='1.0'?><voe:VOEvent/>")
    assert name.startswith("00000042_")
    assert name.endswith(".xml")
    assert topic_from_filename(name) == topic
    assert export_filename(7, topic, b' {"a": 1}').endswith(".json")


def test_export_names_of_mqtt_spellings_and_missing_topics() -> None:
    mqtt = export_filename(5, "gcn/notices/svom/voevent/mxt", b"<x/>")
    assert mqtt == "00000005_gcn_notices_svom_voevent_mxt.xml"
    assert topic_from_filename(mqtt) == "gcn.notices.svom.voevent.mxt"
    assert export_filename(6, None, b"{}") == "00000006_no-topic.json"
