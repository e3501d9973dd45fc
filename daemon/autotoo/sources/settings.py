"""What each source needs, as plain frozen dataclasses.

The daemon's config layer (pydantic, YAML) maps onto these; the sources know nothing about
YAML. Secrets are :class:`pydantic.SecretStr` read by :func:`autotoo.credentials.read_credential`
so that no repr or log line shows them. ``__post_init__`` refuses only what can never work;
reachability is the source's business at run time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Literal

from pydantic import SecretStr

from autotoo.sources.errors import SourceConfigError

KafkaDomain = Literal["gcn.nasa.gov", "test.gcn.nasa.gov", "dev.gcn.nasa.gov"]
KafkaConfigValue = str | int | float | bool

DEFAULT_MAX_BYTES = 8 * 1024 * 1024
"""GCN caps Kafka messages at about 4 MiB; LVK notices with sky maps are about 1 MB."""

# Keys whose override would break "commit only after the inbox insert" or resuming.
_KAFKA_RESERVED_KEYS = frozenset(
    {"group.id", "enable.auto.commit", "enable.auto.offset.store", "enable.partition.eof"}
)


@dataclass(frozen=True, slots=True)
class Backoff:
    """Capped exponential backoff with full jitter, reset once a connection stayed up."""

    initial: float = 1.0
    maximum: float = 60.0
    multiplier: float = 2.0
    reset_after: float = 60.0

    def __post_init__(self) -> None:
        if not 0 < self.initial <= self.maximum or self.multiplier < 1:
            raise SourceConfigError("backoff needs 0 < initial <= maximum and multiplier >= 1")


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise SourceConfigError(message)


@dataclass(frozen=True, slots=True)
class MqttSettings:
    """An MQTT 5 subscription that survives restarts.

    ``client_id`` must be fixed and unique per instance: the broker keeps the session (the
    subscriptions and every unacknowledged QoS 1 message) under it for ``session_expiry``
    seconds. ``max_inflight`` is sent as the CONNECT Receive Maximum, so the broker never has
    more unacknowledged messages outstanding to us than that.
    """

    name: str
    host: str
    client_id: str
    topics: tuple[str, ...]
    port: int = 1883
    username: str | None = None
    password: SecretStr | None = None
    tls: bool = False
    ca_file: Path | None = None
    session_expiry: int = 7 * 24 * 3600
    keepalive: int = 60
    max_inflight: int = 16
    timeout: float = 10.0
    backoff: Backoff = field(default_factory=Backoff)
    # MQTT 5 shared subscription: every topic is subscribed as $share/<group>/<topic>, and
    # the broker delivers each message to one member of the group (several instances).
    share_group: str | None = None

    def __post_init__(self) -> None:
        _require(bool(self.topics), f"mqtt source {self.name!r}: no topics")
        _require(bool(self.client_id), f"mqtt source {self.name!r}: client_id is required")
        _require(
            0 < self.session_expiry <= 0xFFFFFFFF,
            f"mqtt source {self.name!r}: session_expiry must be 1..4294967295 seconds",
        )
        _require(0 < self.max_inflight <= 65535, f"mqtt source {self.name!r}: max_inflight")
        _require(self.ca_file is None or self.tls, f"mqtt source {self.name!r}: ca_file needs tls")
        _require(
            self.password is None or self.username is not None,
            f"mqtt source {self.name!r}: a password needs a username",
        )


@dataclass(frozen=True, slots=True)
class KafkaSettings:
    """A GCN Kafka consumer group member.

    Production passes ``domain`` and the OIDC ``client_id``/``client_secret``; tests pass no
    credentials and ``extra_config`` with ``bootstrap.servers`` of a librdkafka mock cluster
    and ``security.protocol: plaintext``. Both go through the same ``gcn_kafka.Consumer``.
    ``prefetch`` bounds the messages polled but not yet acknowledged; while all are out the
    consumer does not poll, so a sink stuck longer than librdkafka's ``max.poll.interval.ms``
    (300 s) makes the consumer leave and rejoin its group and re-read (the inbox dedupes).
    ``auto_offset_reset`` applies only to a group without committed offsets: "earliest" (the
    GCN FAQ's advice) reads the few days the brokers keep when a group first starts.
    """

    name: str
    group_id: str
    topics: tuple[str, ...]
    domain: KafkaDomain = "gcn.nasa.gov"
    client_id: SecretStr | None = None
    client_secret: SecretStr | None = None
    heartbeat_topic: str | None = "gcn.heartbeat"
    auto_offset_reset: Literal["earliest", "latest"] = "earliest"
    extra_config: Mapping[str, KafkaConfigValue] = field(
        default_factory=lambda: MappingProxyType({})
    )
    prefetch: int = 8
    poll_interval: float = 0.2
    heartbeat_commit_interval: float = 30.0
    timeout: float = 10.0

    def __post_init__(self) -> None:
        _require(bool(self.topics), f"kafka source {self.name!r}: no topics")
        _require(bool(self.group_id), f"kafka source {self.name!r}: group_id is required")
        _require(
            self.heartbeat_topic not in self.topics,
            f"kafka source {self.name!r}: the heartbeat topic is not an alert topic",
        )
        reserved = sorted(_KAFKA_RESERVED_KEYS & set(self.extra_config))
        _require(not reserved, f"kafka source {self.name!r}: may not override {reserved}")
        _require(self.prefetch > 0, f"kafka source {self.name!r}: prefetch must be > 0")
        _require(
            (self.client_id is None) == (self.client_secret is None),
            f"kafka source {self.name!r}: give both client_id and client_secret or neither",
        )


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """``POST /alerts`` on the daemon's admin server."""

    token: SecretStr
    max_bytes: int = DEFAULT_MAX_BYTES
    default_topic: str | None = None
    name: str = "http"

    def __post_init__(self) -> None:
        _require(bool(self.token.get_secret_value()), "http ingest: empty token")
        _require(self.max_bytes > 0, "http ingest: max_bytes must be > 0")


@dataclass(frozen=True, slots=True)
class DirectorySettings:
    """A drop folder: write ``x.tmp`` (or ``.x``), then rename it to its final name.

    Files in a first-level subfolder get the subfolder's name as topic
    (``path/gcn.classic.voevent.SWIFT_BAT_GRB_POS_ACK/a.xml``). Files directly in ``path``
    get ``topic`` when it is set, else the topic their payload names
    (:func:`autotoo.alerts.streams.topic_of_payload`), else ``"directory"``.
    """

    name: str
    path: Path
    topic: str | None = None
    poll_interval: float = 1.0
    max_bytes: int = DEFAULT_MAX_BYTES

    def __post_init__(self) -> None:
        _require(self.poll_interval > 0, f"directory source {self.name!r}: poll_interval")
        _require(self.max_bytes > 0, f"directory source {self.name!r}: max_bytes")
