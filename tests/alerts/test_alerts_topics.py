"""Topic spelling and what a topic says about its alerts."""

from __future__ import annotations

import pytest

from autotoo.alerts import normalize_topic, topic_info, topic_matches


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
