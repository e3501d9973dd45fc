"""Topic names: one canonical spelling, and what a topic says about its alerts.

GCN Kafka topics are dotted (``gcn.notices.einstein_probe.wxt.alert``); an MQTT bridge
carries the same topics with ``/`` (``gcn/notices/einstein_probe/wxt/alert``). Everything
inside the daemon (rules, store, metrics) uses the dotted Kafka spelling, so the sources and the
rules engine both call :func:`normalize_topic` and never compare raw spellings.
"""

from __future__ import annotations

from dataclasses import dataclass

from autotoo.alerts.notice_types import mission_of_notice
from autotoo.alerts.values import mission_slug, short_string_cache

IGWN_TOPIC = "igwn.gwalert"


def normalize_topic(topic: str) -> str:
    """The dotted Kafka spelling of a Kafka or MQTT topic name.

    ``gcn/notices/einstein_probe/wxt/alert`` and ``gcn.notices.einstein_probe.wxt.alert``
    both become the latter; surrounding whitespace and slashes are dropped. The case is kept:
    classic notice types are upper case in their Kafka names.
    """
    return topic.strip().strip("/").replace("/", ".")


def topic_matches(pattern: str, topic: str) -> bool:
    """MQTT-style match on normalized names: ``+`` is one level, a final ``#`` the rest.

    Both sides are normalized first, so ``gcn/notices/#`` matches
    ``gcn.notices.svom.voevent.grm``.
    """
    want = normalize_topic(pattern).split(".")
    have = normalize_topic(topic).split(".")
    for index, level in enumerate(want):
        if level == "#" and index == len(want) - 1:
            return True
        if index >= len(have) or (level not in {"+", have[index]}):
            return False
    return len(want) == len(have)


def topics_overlap(a: str, b: str) -> bool:
    """Whether some topic matches both MQTT-style patterns (either may be a plain topic).

    ``gcn/#`` and ``gcn.classic.voevent.+`` overlap; ``gcn.notices.icecube.lvk_nu_track_search``
    and ``gcn.notices.icecube.gold_bronze_track_alerts`` do not. check-config uses it to tell a
    rule that no subscription can ever feed.
    """
    left = normalize_topic(a).split(".")
    right = normalize_topic(b).split(".")
    for index in range(max(len(left), len(right))):
        x = left[index] if index < len(left) else None
        y = right[index] if index < len(right) else None
        if (x == "#" and index == len(left) - 1) or (y == "#" and index == len(right) - 1):
            return True
        if x is None or y is None or (x != y and "+" not in {x, y}):
            return False
    return True


@dataclass(frozen=True, slots=True)
class TopicInfo:
    """What the topic alone tells about an alert (any field may be unknown)."""

    topic: str
    mission: str | None = None
    notice_type: str | None = None
    payload_format: str | None = None
    is_test: bool = False


# Sources see a handful of topics; MQTT wildcards could show more, hence the bound.
@short_string_cache(maxsize=1024)
def topic_info(topic: str) -> TopicInfo:
    """Mission, notice type and format implied by a (normalized or MQTT) topic name.

    ``gcn.classic.voevent.SWIFT_BAT_GRB_POS_ACK`` -> swift / ``SWIFT_BAT_GRB_POS_ACK`` /
    voevent; ``gcn.notices.svom.voevent.grm`` -> svom / voevent;
    ``gcn.notices.einstein_probe.wxt.alert`` -> einstein_probe / gcn_json with the schema-style
    notice type ``einstein_probe/wxt/alert``; ``igwn.gwalert`` -> lvk / igwn_json.
    """
    name = normalize_topic(topic)
    parts = name.split(".")
    if name == IGWN_TOPIC:
        return TopicInfo(name, "lvk", None, "igwn_json")
    if len(parts) >= 4 and parts[:2] == ["gcn", "classic"]:
        notice_type = ".".join(parts[3:])
        mission = mission_of_notice(notice_type)
        fmt = "voevent" if parts[2] == "voevent" else None
        is_test = notice_type.endswith("_TEST")
        return TopicInfo(name, mission, notice_type, fmt, is_test)
    if len(parts) >= 3 and parts[:2] == ["gcn", "notices"]:
        mission = mission_slug(parts[2])
        rest = parts[3:]
        is_test = "test" in rest
        if "voevent" in rest:
            return TopicInfo(name, mission, None, "voevent", is_test)
        notice_type = "/".join([parts[2], *[p for p in rest if p != "test"]])
        return TopicInfo(name, mission, notice_type, "gcn_json", is_test)
    return TopicInfo(name)
