"""Alerts: the normalized model every rule sees, and the parsers that produce it."""

from autotoo.alerts.errors import AlertError, AlertParseError
from autotoo.alerts.model import Ellipse, Kind, Messenger, NormalizedAlert, Reference

__all__ = [
    "AlertError",
    "AlertParseError",
    "Ellipse",
    "Kind",
    "Messenger",
    "NormalizedAlert",
    "Reference",
]
