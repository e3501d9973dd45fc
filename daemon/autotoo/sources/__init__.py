"""Alert sources: MQTT, GCN Kafka, HTTP ingest and a drop directory, one interface.

Every source hands :class:`~autotoo.sources.base.Received` messages to a sink and
acknowledges each only after the sink returned (see :mod:`autotoo.sources.base`). The
transport modules (``mqtt``, ``kafka``, ``http``, ``directory``) are imported by name so that
a daemon without Kafka never loads librdkafka.
"""

from autotoo.sources.base import Received, Sink, Source, SourceHealth, SourceStatus
from autotoo.sources.errors import SourceConfigError, SourceError, SourceFatalError

__all__ = [
    "Received",
    "Sink",
    "Source",
    "SourceConfigError",
    "SourceError",
    "SourceFatalError",
    "SourceHealth",
    "SourceStatus",
]
