"""Alert sources: MQTT, GCN Kafka, HTTP ingest and a drop directory, one interface.

Every source hands :class:`~autotoo.sources.base.Received` messages to a sink and
acknowledges each only after the sink returned (see :mod:`autotoo.sources.base`). The
transport modules (``mqtt``, ``kafka``, ``http``, ``directory``) are imported by name so that
a daemon without Kafka never loads librdkafka.
"""

from autotoo.sources.base import Clock, Received, Sink, Source, SourceHealth, SourceStatus, utc_now
from autotoo.sources.errors import SourceConfigError, SourceError, SourceFatalError
from autotoo.sources.settings import DirectorySettings, KafkaSettings, MqttSettings

SourceSettings = MqttSettings | KafkaSettings | DirectorySettings
"""Settings of the sources that run on their own; HTTP ingest is mounted on the admin app
with :func:`autotoo.sources.http.setup_ingest_routes` instead."""


def create_source(settings: SourceSettings, *, clock: Clock = utc_now) -> Source:
    """The source for ``settings``; each transport module is imported only when used."""
    # Local imports keep librdkafka and paho out of processes that do not use them.
    if isinstance(settings, MqttSettings):
        from autotoo.sources.mqtt import MqttSource  # noqa: PLC0415 - see above

        return MqttSource(settings, clock=clock)
    if isinstance(settings, KafkaSettings):
        from autotoo.sources.kafka import KafkaSource  # noqa: PLC0415 - see above

        return KafkaSource(settings, clock=clock)
    from autotoo.sources.directory import DirectorySource  # noqa: PLC0415 - see above

    return DirectorySource(settings, clock=clock)


__all__ = [
    "Received",
    "Sink",
    "Source",
    "SourceConfigError",
    "SourceError",
    "SourceFatalError",
    "SourceHealth",
    "SourceSettings",
    "SourceStatus",
    "create_source",
]
