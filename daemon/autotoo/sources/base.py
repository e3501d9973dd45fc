"""The one shape every alert source has: a message (:class:`Received`) handed to a sink.

Contract (the reason for the shape): a source calls ``await sink(received)`` and, when the
sink *returns*, calls ``await received.ack()``. Returning from the sink therefore means "this
message is durably in the inbox"; raising means "not stored", and the exception leaves
``run()`` unchanged with the message unacknowledged, so the broker (MQTT session), the
consumer group (Kafka) or the drop folder redelivers it after a restart. Kafka and the drop
folder await one sink call before taking the next message; MQTT overlaps up to its receive
maximum of them (started in arrival order, so the inbox can store them in one group commit)
and still acknowledges in arrival order, each only after its own call returned. Awaiting the
sink is the backpressure: a slow inbox slows the source, and the brokers hold the rest (MQTT
stops at the receive maximum, Kafka at the prefetch bound).

One exception is not a failure: :class:`~autotoo.store.errors.StorageUnavailableError`
means "not now" (the state store cannot write: disk full). Sources that hold the message
anyway (MQTT, Kafka, the drop folder) offer it again until it is stored
(:meth:`HealthReporter._store`), so MQTT withholds its PUBACK, Kafka its commit, and the file
stays in the folder; HTTP answers 503 with ``Retry-After``. Nothing is acknowledged meanwhile,
and the daemon does not stop (a restart cannot make space).

The sink may call ``ack()`` itself (for instance right after its commit); acknowledging is
idempotent, so the source's own call afterwards does nothing.

``identity`` is a string that is equal for an exact redelivery of the same message:
``kafka:<topic>:<partition>:<offset>``, ``mqtt:<topic>:sha256:<hex>``,
``file:<name>:sha256:<hex>``, ``http:id:<client id>`` or ``http:sha256:<hex>``. The inbox
computes its own content key (IVORN, or topic + digest) from ``raw`` and ``topic``.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import structlog

from autotoo.sources.settings import Backoff
from autotoo.store.errors import StorageUnavailableError

log = structlog.get_logger(__name__)

PAUSED_RETRY_S = 1.0
"""How often a paused source offers its message again (the inbox refuses at once while the
store is unavailable, so this only bounds how soon intake resumes)."""

AckCallback = Callable[[], Awaitable[None]]
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def payload_digest(raw: bytes) -> str:
    """SHA-256 of the payload, hex: the redelivery key where the transport has none."""
    return hashlib.sha256(raw).hexdigest()


async def _nothing_to_ack() -> None:
    return None


class _Acknowledger:
    """Runs the transport's acknowledgement at most once, however often ``ack()`` is awaited."""

    __slots__ = ("_callback", "_done")

    def __init__(self, callback: AckCallback) -> None:
        self._callback = callback
        self._done = False

    @property
    def done(self) -> bool:
        return self._done

    async def __call__(self) -> None:
        if self._done:
            return
        # Set before awaiting: a second ack() racing the first must not send a second PUBACK
        # or commit; if the transport call fails the message is simply redelivered later.
        self._done = True
        await self._callback()


@dataclass(frozen=True, slots=True, eq=False)
class Received:
    """One message as a transport delivered it, before any parsing."""

    raw: bytes = field(repr=False)
    identity: str
    topic: str
    received_at: datetime
    source: str
    _acknowledger: _Acknowledger = field(repr=False)

    @classmethod
    def create(
        cls,
        *,
        raw: bytes,
        identity: str,
        topic: str,
        received_at: datetime,
        source: str,
        ack: AckCallback | None = None,
    ) -> Received:
        return cls(
            raw=raw,
            identity=identity,
            topic=topic,
            received_at=received_at,
            source=source,
            _acknowledger=_Acknowledger(ack or _nothing_to_ack),
        )

    @property
    def acked(self) -> bool:
        return self._acknowledger.done

    async def ack(self) -> None:
        """Tell the transport the message is stored. Idempotent; never raises for the
        transport (a failed acknowledgement means a redelivery, which the inbox dedupes)."""
        await self._acknowledger()


Sink = Callable[[Received], Awaitable[None]]
"""Stores a message durably, then returns. Raising means "not stored"."""


@dataclass(frozen=True, slots=True)
class SourceStatus:
    """A snapshot of :class:`SourceHealth` for ``/healthz``, metrics and ``STATUS=``."""

    name: str
    kind: str
    connected: bool
    since: datetime | None
    last_message_at: datetime | None
    last_heartbeat_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    connects: int
    messages: int


@dataclass(slots=True)
class SourceHealth:
    """Mutable connection state of one source, updated only from the event loop thread.

    ``since`` is when ``connected`` last changed; ``last_error`` is one line, never a secret
    (transport exception texts name hosts and reason codes, not credentials).
    """

    name: str
    kind: str
    clock: Clock = utc_now
    connected: bool = False
    since: datetime | None = None
    last_message_at: datetime | None = None
    last_heartbeat_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    connects: int = 0
    messages: int = 0

    def mark_connected(self) -> None:
        self.connects += 1
        if not self.connected:
            self.connected = True
            self.since = self.clock()

    def mark_alive(self) -> None:
        """Traffic proves a connection without a connect event (Kafka reconnects inside
        librdkafka, so there is none to count)."""
        if not self.connected:
            self.connected = True
            self.since = self.clock()

    def mark_disconnected(self, error: str | None = None) -> None:
        if self.connected:
            self.connected = False
            self.since = self.clock()
        if error is not None:
            self.mark_error(error)

    def mark_error(self, error: str) -> None:
        self.last_error = " ".join(error.split())
        self.last_error_at = self.clock()

    def mark_message(self, at: datetime) -> None:
        self.messages += 1
        self.last_message_at = at

    def mark_heartbeat(self, at: datetime) -> None:
        self.last_heartbeat_at = at

    def status(self) -> SourceStatus:
        return SourceStatus(
            name=self.name,
            kind=self.kind,
            connected=self.connected,
            since=self.since,
            last_message_at=self.last_message_at,
            last_heartbeat_at=self.last_heartbeat_at,
            last_error=self.last_error,
            last_error_at=self.last_error_at,
            connects=self.connects,
            messages=self.messages,
        )


class HealthReporter:
    """The ``name``/``health`` half of :class:`Source`, shared by the implementations."""

    kind = "source"

    def __init__(self, name: str, clock: Clock = utc_now) -> None:
        self._clock = clock
        self._health = SourceHealth(name, self.kind, clock)

    @property
    def name(self) -> str:
        return self._health.name

    @property
    def health(self) -> SourceHealth:
        return self._health

    def _received(
        self, *, raw: bytes, identity: str, topic: str, ack: AckCallback | None = None
    ) -> Received:
        now = self._clock()
        self._health.mark_message(now)
        return Received.create(
            raw=raw, identity=identity, topic=topic, received_at=now, source=self.name, ack=ack
        )

    async def _hand_over(
        self, sink: Sink, *, raw: bytes, identity: str, topic: str, ack: AckCallback
    ) -> None:
        """The contract in one place: store via the sink, acknowledge only once it returned."""
        received = self._received(raw=raw, identity=identity, topic=topic, ack=ack)
        await self._store(sink, received)
        await received.ack()

    async def _store(self, sink: Sink, received: Received) -> None:
        """``sink(received)``, offered again while the store is unavailable (disk full):
        the message stays unacknowledged in our hands, never lost and never dropped."""
        paused = False
        while True:
            try:
                await sink(received)
            except StorageUnavailableError as exc:
                if not paused:
                    paused = True
                    self._health.mark_error(f"intake paused: {exc.reason}")
                    log.warning("source.paused", source=self.name, reason=exc.reason)
                await asyncio.sleep(min(exc.retry_after, PAUSED_RETRY_S))
                continue
            if paused:
                log.info("source.resumed", source=self.name)
            return


class Source(Protocol):
    """A long-running alert source (MQTT, Kafka, directory).

    ``run`` returns only when cancelled or on an error it cannot retry; transient transport
    failures are retried inside it with backoff and recorded in ``health``.
    """

    @property
    def name(self) -> str: ...

    @property
    def health(self) -> SourceHealth: ...

    async def run(self, sink: Sink) -> None: ...


def describe(exc: BaseException) -> str:
    """One line for logs and health: the exception type and its text (never a secret)."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Retry:
    """Reconnect delays: capped exponential backoff with jitter.

    Jitter (uniform between half the initial delay and the current cap) spreads many daemons
    that lost the same broker without ever spinning at zero delay; the
    delay resets once a connection stayed up ``reset_after`` seconds, so one flap after a day
    of uptime does not wait a minute.
    """

    def __init__(self, backoff: Backoff, rng: random.Random | None = None) -> None:
        self._backoff = backoff
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._attempt = 0

    def next_delay(self, connected_for: float | None) -> float:
        """The delay before the next attempt; ``connected_for`` is the last connection's
        uptime in seconds, ``None`` when the attempt did not connect."""
        if connected_for is not None and connected_for >= self._backoff.reset_after:
            self._attempt = 0
        cap = min(
            self._backoff.maximum,
            self._backoff.initial * self._backoff.multiplier**self._attempt,
        )
        self._attempt += 1
        return self._rng.uniform(self._backoff.initial / 2, cap)
