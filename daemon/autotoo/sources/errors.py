"""Errors of the sources subsystem (MQTT, GCN Kafka, HTTP ingest, directory drop).

SourceError                    root: anything a source raises on purpose
├── SourceConfigError          settings that can never work (also a ValueError); not retried
└── SourceFatalError           the transport reported an unrecoverable state (e.g. a fatal
                               librdkafka error); ``run()`` stops instead of retrying

Transient transport failures (broker down, connection reset, refused subscription) are *not*
raised: the MQTT and Kafka sources retry them forever and record them in their
:class:`~autotoo.sources.base.SourceHealth`. An exception raised by the sink passes through
``run()`` unchanged, so the daemon sees its own storage errors, not a wrapped transport error.
Messages are never lost by an error: nothing is acknowledged unless the sink returned.
"""


class SourceError(Exception):
    """Root of the sources subsystem's errors."""


class SourceConfigError(SourceError, ValueError):
    """Source settings that cannot work (missing topics, a CA file that does not load, ...)."""


class SourceFatalError(SourceError):
    """The transport is in a state that retrying cannot fix."""
