"""Alerts: the normalized model every rule sees, and the parsers that produce it."""

from autotoo.alerts.errors import AlertError, AlertParseError
from autotoo.alerts.model import Ellipse, Kind, Messenger, NormalizedAlert, Reference
from autotoo.alerts.parse import parse_alert
from autotoo.alerts.topics import normalize_topic, topic_info, topic_matches

__all__ = [
    "AlertError",
    "AlertParseError",
    "Ellipse",
    "Kind",
    "Messenger",
    "NormalizedAlert",
    "Reference",
    "normalize_topic",
    "parse_alert",
    "topic_info",
    "topic_matches",
]
