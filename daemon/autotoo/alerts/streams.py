"""Which stream an alert belongs to, from its payload alone: the topic it would have come on.

A message that arrives with its topic (Kafka, MQTT) keeps that topic. A file dropped into a
folder, or handed to ``autotoo replay``, comes without one; yet the payload names its stream
(the VOEvent ``Packet_Type`` and IVORN, the gcn-schema ``$schema``, the IGWN fields), and
rules select alerts by topic. :func:`inferred_topic` is the one place that turns a parsed
alert back into the topic GCN publishes it on, so that a dropped Swift BAT VOEvent reaches
the rules written for ``gcn.classic.voevent.SWIFT_BAT_GRB_POS_ACK``.
"""

from __future__ import annotations

from autotoo.alerts.errors import AlertParseError
from autotoo.alerts.model import NormalizedAlert
from autotoo.alerts.notice_types import PACKET_TYPES
from autotoo.alerts.parse import parse_alert
from autotoo.alerts.topics import IGWN_TOPIC

# gcn-schema names whose Kafka topic is spelt otherwise: GCN publishes the IceCube
# single-neutrino schema on the gold/bronze topic, and Kafka topic names are lower case.
_SCHEMA_TOPICS = {
    "icecube/single_neutrino_alerts": "gcn.notices.icecube.gold_bronze_track_alerts",
}

# SVOM VOEvents come on three GCN topics, one per instrument; the notice type (from the IVORN)
# names the instrument. Retractions are published on the GRM topic and slew notices on the
# ECLAIRs one (tests/data/alerts/gcn-kafka-2026 shows both).
_SVOM_TOPICS = {
    "SVOM_GRM": "gcn.notices.svom.voevent.grm",
    "SVOM_ECLAIRS": "gcn.notices.svom.voevent.eclairs",
    "SVOM_MXT": "gcn.notices.svom.voevent.mxt",
    "SVOM_SLEWING": "gcn.notices.svom.voevent.eclairs",
    "SVOM_NOT_SLEWING": "gcn.notices.svom.voevent.eclairs",
    "SVOM_RETRACTION": "gcn.notices.svom.voevent.grm",
}


def inferred_topic(alert: NormalizedAlert) -> str | None:
    """The GCN/IGWN topic ``alert`` is published on, or ``None`` if its payload does not say.

    IGWN JSON -> ``igwn.gwalert``; a gcn-schema notice -> ``gcn.notices.`` + its schema name
    (``einstein_probe/wxt/alert`` -> ``gcn.notices.einstein_probe.wxt.alert``); a GCN Classic
    VOEvent -> ``gcn.classic.voevent.`` + the name of its ``Packet_Type``; an SVOM VOEvent ->
    the SVOM topic of its instrument.
    """
    if alert.format == "igwn_json":
        return IGWN_TOPIC
    if alert.format == "gcn_json":
        if alert.schema is None or "/" not in alert.notice_type:
            return None  # no $schema: the notice type was guessed, not stated
        name = alert.notice_type
        return _SCHEMA_TOPICS.get(name) or "gcn.notices." + name.replace("/", ".").lower()
    if alert.mission == "svom":
        for prefix, topic in _SVOM_TOPICS.items():
            if alert.notice_type == prefix or alert.notice_type.startswith(prefix + "_"):
                return topic
        return None
    if alert.packet_type is not None and alert.packet_type in PACKET_TYPES:
        return "gcn.classic.voevent." + PACKET_TYPES[alert.packet_type]
    return None


def topic_of_payload(raw: bytes) -> str | None:
    """:func:`inferred_topic` of a raw payload; ``None`` also when it cannot be parsed (the
    pipeline then stores it as unparsed under the topic it came with)."""
    try:
        return inferred_topic(parse_alert(raw))
    except AlertParseError:
        return None
