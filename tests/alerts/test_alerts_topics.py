"""Topic spelling and what a topic says about its alerts."""

from __future__ import annotations

import pytest

from autotoo.alerts import normalize_topic, topic_info, topic_matches
from autotoo.alerts.streams import topic_of_payload
from tests.alerts.alert_corpus import CORPUS, capture_topic, corpus_files


@pytest.mark.parametrize(
    ("topic", "canonical"),
    [
        ("gcn.notices.einstein_probe.wxt.alert", "gcn.notices.einstein_probe.wxt.alert"),
        ("gcn/notices/einstein_probe/wxt/alert", "gcn.notices.einstein_probe.wxt.alert"),
        (
            "/gcn/classic/voevent/SWIFT_BAT_GRB_POS_ACK/ ",
            "gcn.classic.voevent.SWIFT_BAT_GRB_POS_ACK",
        ),
        ("igwn.gwalert", "igwn.gwalert"),
    ],
)
def test_normalize_topic(topic: str, canonical: str) -> None:
    assert normalize_topic(topic) == canonical


@pytest.mark.parametrize(
    ("pattern", "topic", "matches"),
    [
        ("gcn/#", "gcn.notices.svom.voevent.grm", True),
        ("gcn.notices.+.voevent.grm", "gcn/notices/svom/voevent/grm", True),
        ("gcn.notices.+.voevent", "gcn.notices.svom.voevent.grm", False),
        ("gcn.notices.einstein_probe.wxt.alert", "gcn/notices/einstein_probe/wxt/alert", True),
        ("gcn.notices.einstein_probe.wxt.alert", "gcn.notices.einstein_probe.wxt", False),
        ("igwn.gwalert", "gcn.notices.svom.voevent.grm", False),
        ("#", "anything.at.all", True),
    ],
)
def test_topic_matches(pattern: str, topic: str, matches: bool) -> None:
    assert topic_matches(pattern, topic) is matches


@pytest.mark.parametrize(
    ("topic", "mission", "notice_type", "payload_format", "is_test"),
    [
        (
            "gcn.classic.voevent.SWIFT_BAT_GRB_POS_ACK",
            "swift",
            "SWIFT_BAT_GRB_POS_ACK",
            "voevent",
            False,
        ),
        ("gcn/classic/voevent/LVC_PRELIMINARY", "lvk", "LVC_PRELIMINARY", "voevent", False),
        (
            "gcn.classic.voevent.ICECUBE_ASTROTRACK_GOLD",
            "icecube",
            "ICECUBE_ASTROTRACK_GOLD",
            "voevent",
            False,
        ),
        ("gcn.classic.voevent.FERMI_GBM_POS_TEST", "fermi", "FERMI_GBM_POS_TEST", "voevent", True),
        ("gcn.classic.text.SWIFT_POINTDIR", "swift", "SWIFT_POINTDIR", None, False),
        ("gcn.notices.svom.voevent.eclairs", "svom", None, "voevent", False),
        (
            "gcn.notices.einstein_probe.wxt.alert",
            "einstein_probe",
            "einstein_probe/wxt/alert",
            "gcn_json",
            False,
        ),
        (
            "gcn.notices.icecube.test.gold_bronze_track_alerts",
            "icecube",
            "icecube/gold_bronze_track_alerts",
            "gcn_json",
            True,
        ),
        ("igwn.gwalert", "lvk", None, "igwn_json", False),
        ("site/private/feed", None, None, None, False),
    ],
)
def test_topic_info(
    topic: str,
    mission: str | None,
    notice_type: str | None,
    payload_format: str | None,
    is_test: bool,
) -> None:
    info = topic_info(topic)
    assert (info.mission, info.notice_type, info.payload_format, info.is_test) == (
        mission,
        notice_type,
        payload_format,
        is_test,
    )
    assert info.topic == normalize_topic(topic)


def test_every_captured_notice_names_the_topic_it_came_on() -> None:
    """The payload alone gives back the Kafka topic of each of the 654 captures (SVOM
    retractions on the GRM topic, slew notices on the ECLAIRs one)."""
    captures = [(path, capture_topic(path)) for path in corpus_files()]
    wrong = [
        (path.name, want, topic_of_payload(path.read_bytes()))
        for path, want in captures
        if want is not None and topic_of_payload(path.read_bytes()) != want
    ]
    assert len([want for _, want in captures if want]) > 600
    assert wrong == []


@pytest.mark.parametrize(
    ("sample", "topic"),
    [
        ("voevent-classic/gwcelery-swift_grb_gcn.xml", "gcn.classic.voevent.SWIFT_BAT_GRB_POS_ACK"),
        ("igwn/MS181101ab-preliminary.json", "igwn.gwalert"),
        (
            "gcn-schema/icecube/single_neutrino_alerts.gold_bronze_track_alerts.example.json",
            "gcn.notices.icecube.gold_bronze_track_alerts",
        ),
        (
            "gcn-schema/icecube/lvk_nu_track_search.example.json",
            "gcn.notices.icecube.lvk_nu_track_search",
        ),
        ("gcn-schema/swift/bat/Guano.example.json", "gcn.notices.swift.bat.guano"),
        ("gcn-schema/core/Localization.example.json", None),
    ],
)
def test_payload_topic(sample: str, topic: str | None) -> None:

    assert topic_of_payload((CORPUS / sample).read_bytes()) == topic
