"""MQTT 5 source on aiomqtt 2.5 with a persistent session and manual acknowledgement.

Why each setting (verified against mosquitto): a fixed client identifier,
``clean_start=False`` *and* a SessionExpiryInterval make the broker keep our subscriptions and
every unacknowledged QoS 1 message while the daemon is down; without any one of the three a
restart silently loses messages. aiomqtt 2.x lets paho send PUBACK as soon as a message is
queued, so we switch paho to manual acknowledgement (a private attribute, guarded by
``tests/sources/test_mqtt.py``) and send PUBACK only after the sink stored the message.

A new :class:`aiomqtt.Client` is built for every connection attempt: its message queue and
packet identifiers belong to that one connection, and acknowledgements for a connection that
has gone are dropped (the broker redelivers those messages; the inbox dedupes them).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from typing import TYPE_CHECKING, Any

import aiomqtt
import structlog
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from autotoo.sources.base import (
    Clock,
    HealthReporter,
    Retry,
    describe,
    payload_digest,
    utc_now,
)
from autotoo.sources.errors import SourceConfigError
from autotoo.store.errors import StorageUnavailableError

if TYPE_CHECKING:
    import random
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

    import paho.mqtt.client as paho

    from autotoo.sources.base import Received, Sink
    from autotoo.sources.settings import MqttSettings

log = structlog.get_logger(__name__)

QOS = 1
"""At-least-once: QoS 1 with manual PUBACK; QoS 2 adds a round trip and buys nothing here
because the inbox dedupes redeliveries anyway."""

_REFUSED = 0x80  # SUBACK reason codes >= 0x80 are refusals (MQTT 5 §3.9.3)


def mqtt_identity(topic: str, raw: bytes) -> str:
    """MQTT has no identifier that survives redelivery, so the payload digest is the key."""
    return f"mqtt:{topic}:sha256:{payload_digest(raw)}"


def build_tls_context(settings: MqttSettings) -> ssl.SSLContext | None:
    """A verifying TLS context from the CA file (or the system store); blocking file I/O."""
    if not settings.tls:
        return None
    cafile = None if settings.ca_file is None else str(settings.ca_file)
    try:
        return ssl.create_default_context(cafile=cafile)
    except (OSError, ssl.SSLError) as exc:
        raise SourceConfigError(
            f"mqtt source {settings.name!r}: CA file {settings.ca_file} does not load: "
            f"{describe(exc)}"
        ) from None


class _SubscribeRefusedError(aiomqtt.MqttError):
    """The broker refused a topic filter (ACL, bad filter): retried like a lost connection."""


_TRANSPORT_ERRORS = (aiomqtt.MqttError, TimeoutError, OSError)


class _ConnectionLostError(Exception):
    """A transport failure, kept apart from sink failures (which may be the same types)."""


@contextlib.contextmanager
def _transport(step: str) -> Iterator[None]:
    try:
        yield
    except _TRANSPORT_ERRORS as exc:
        raise _ConnectionLostError(f"{step}: {describe(exc)}") from exc


class MqttSource(HealthReporter):
    """Subscribes with QoS 1 and hands each message to the sink, acknowledging afterwards."""

    kind = "mqtt"

    def __init__(
        self,
        settings: MqttSettings,
        *,
        clock: Clock = utc_now,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(settings.name, clock)
        self._settings = settings
        self._rng = rng
        # The paho client of the live connection; an ack for any other one is stale.
        self._current: paho.Client | None = None
        # While the store refuses writes (disk full) new messages go to the acknowledger,
        # which stores them one by one behind the refused ones: the inbox keeps their order.
        self._held = False

    async def run(self, sink: Sink) -> None:
        """Connect, subscribe and deliver until cancelled; reconnect forever on MQTT errors.

        Sink exceptions and :class:`SourceConfigError` propagate; ``CancelledError`` is never
        caught (it is not an :class:`aiomqtt.MqttError`), so shutdown is immediate.
        """
        # Loading a CA bundle reads files: off the loop, once, and a bad file is fatal.
        tls_context = await asyncio.to_thread(build_tls_context, self._settings)
        retry = Retry(self._settings.backoff, self._rng)
        loop = asyncio.get_running_loop()
        while True:
            connected_at: float | None = None
            try:
                async with self._connect(tls_context) as client:
                    connected_at = loop.time()
                    await self._deliver(client, sink)
            except _ConnectionLostError as exc:
                self._health.mark_disconnected(str(exc))
                log.warning("mqtt.disconnected", source=self.name, error=str(exc))
            finally:
                self._health.mark_disconnected()
            uptime = None if connected_at is None else loop.time() - connected_at
            delay = retry.next_delay(uptime)
            log.info("mqtt.reconnect_wait", source=self.name, delay=round(delay, 3))
            await asyncio.sleep(delay)

    def _new_client(self, tls_context: ssl.SSLContext | None) -> aiomqtt.Client:
        settings = self._settings
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call] # paho leaves __init__ unannotated
        properties.SessionExpiryInterval = settings.session_expiry
        # The broker stops sending once this many QoS 1 messages await our PUBACK; that
        # bounds aiomqtt's in-memory queue (which must stay unbounded: a full queue drops).
        properties.ReceiveMaximum = settings.max_inflight
        password = None if settings.password is None else settings.password.get_secret_value()
        client = aiomqtt.Client(
            settings.host,
            settings.port,
            username=settings.username,
            password=password,
            identifier=settings.client_id,
            protocol=aiomqtt.ProtocolVersion.V5,
            clean_start=False,  # never discard the stored session, not even on first connect
            properties=properties,
            tls_context=tls_context,
            keepalive=settings.keepalive,
            timeout=settings.timeout,
        )
        # Private API, deliberately (aiomqtt 2.x has no public switch, empicano/aiomqtt#345):
        # without it paho sends PUBACK when aiomqtt merely queued the message. It must be set
        # before connecting, because the session's stored messages arrive with the CONNACK.
        client._client.manual_ack_set(on=True)  # noqa: SLF001 - see comment above
        return client

    @contextlib.asynccontextmanager
    async def _connect(self, tls_context: ssl.SSLContext | None) -> AsyncIterator[aiomqtt.Client]:
        client = self._new_client(tls_context)
        stack = contextlib.AsyncExitStack()
        with _transport("connect"):
            # aiomqtt waits for CONNACK with its own timeout, but the TCP/TLS connect runs in
            # an executor thread that only the socket timeout bounds; cap the whole entry.
            async with asyncio.timeout(self._settings.timeout):
                await stack.enter_async_context(client)
        try:
            # Acknowledgements are only valid on this connection's paho client.
            self._current = client._client  # noqa: SLF001 - aiomqtt exposes no accessor
            with _transport("subscribe"):
                await self._subscribe(client)
            self._health.mark_connected()
            log.info("mqtt.connected", source=self.name, host=self._settings.host)
            yield client
        finally:
            self._current = None
            # A failing DISCONNECT must not replace the error that got us here (a sink
            # failure, a lost connection); the session is kept by the broker either way.
            try:
                async with asyncio.timeout(self._settings.timeout):
                    await stack.aclose()
            except _TRANSPORT_ERRORS as exc:
                log.info("mqtt.disconnect_failed", source=self.name, error=describe(exc))

    async def _subscribe(self, client: aiomqtt.Client) -> None:
        # Re-subscribing on every connect is idempotent with a stored session and repairs a
        # session the broker expired or lost.
        # Retained messages only for a subscription the broker did not have: every
        # reconnect would otherwise replay the retained alert (deduped, but noise).
        options = SubscribeOptions(qos=QOS, retainHandling=SubscribeOptions.RETAIN_SEND_IF_NEW_SUB)
        group = self._settings.share_group
        for wanted in self._settings.topics:
            # A shared subscription's messages still carry their own topic (MQTT 5 §4.8.2).
            topic = wanted if group is None else f"$share/{group}/{wanted}"
            async with asyncio.timeout(self._settings.timeout):
                codes = await client.subscribe(topic, options=options)
            if any(int(_code_value(code)) >= _REFUSED for code in codes):
                raise _SubscribeRefusedError(f"subscription to {topic!r} refused: {codes}")

    async def _deliver(self, client: aiomqtt.Client, sink: Sink) -> None:
        """Hand messages to the sink as they arrive and acknowledge them in arrival order.

        The sink calls overlap (up to ``max_inflight``, the Receive Maximum the broker
        honours), so the inbox can store them in one durable transaction (a group commit)
        instead of one fsync each; PUBACKs still go out only after the message's own sink
        call returned, and in the order the PUBLISHes came (MQTT 5 §4.6 requires it).
        """
        loop = asyncio.get_running_loop()
        messages = client.messages
        handed: asyncio.Queue[tuple[asyncio.Future[None] | None, Received]] = asyncio.Queue(
            self._settings.max_inflight
        )
        acker = asyncio.ensure_future(self._acknowledge_in_order(handed, sink))
        receiving: asyncio.Future[aiomqtt.Message] | None = None
        try:
            while True:
                # Only the transport's own calls are classified as connection loss: a sink
                # that raises OSError or TimeoutError must stop run(), not look like a
                # broker flap. Waiting for the acker as well surfaces a sink failure at
                # once, not at the next message (which may not come for hours).
                if acker.done():
                    acker.result()  # the sink's exception, as it was raised
                # A message already queued (a backlog draining) is taken at once: waiting
                # for it through a task and asyncio.wait, twice (ours and aiomqtt's own
                # iterator), cost more per message than all the rest of the source. The
                # queue is aiomqtt's own, the one its iterator reads.
                queued = client._queue  # noqa: SLF001 - see the comment above
                if not queued.empty():
                    message = queued.get_nowait()
                else:
                    receiving = asyncio.ensure_future(anext(messages))
                    await asyncio.wait((receiving, acker), return_when=asyncio.FIRST_COMPLETED)
                    if acker.done():
                        receiving.cancel()
                        acker.result()  # the sink's exception, as it was raised
                    with _transport("receive"):
                        message = await receiving
                raw = message.payload if isinstance(message.payload, bytes) else b""
                topic = message.topic.value
                received = self._received(
                    raw=raw,
                    identity=mqtt_identity(topic, raw),
                    topic=topic,
                    ack=self._acknowledge_later(client._client, message, loop),  # noqa: SLF001 - as above
                )
                stored = None if self._held else asyncio.ensure_future(sink(received))
                await handed.put((stored, received))
        finally:
            # Whatever is still in hand is not acknowledged: the broker redelivers it.
            left: list[asyncio.Future[Any]] = [acker]
            if receiving is not None:
                left.append(receiving)
            while not handed.empty():
                if (pending := handed.get_nowait()[0]) is not None:
                    left.append(pending)
            for future in left:
                future.cancel()
            await asyncio.gather(*left, return_exceptions=True)

    def _acknowledge_later(
        self, paho_client: paho.Client, message: aiomqtt.Message, loop: asyncio.AbstractEventLoop
    ) -> Callable[[], Awaitable[None]]:
        mid, qos = message.mid, message.qos

        def send_puback() -> None:
            if paho_client is not self._current or not paho_client.is_connected():
                # The connection this packet id belongs to is gone; the broker will redeliver
                # the message on the new one, and that copy gets acknowledged instead.
                log.debug("mqtt.stale_ack", source=self.name, mid=mid)
                return
            rc = paho_client.ack(mid, qos)
            if rc != 0:
                log.info("mqtt.ack_failed", source=self.name, mid=mid, rc=int(rc))

        async def ack() -> None:
            # paho and aiomqtt are driven by this loop's socket callbacks; an ack awaited on
            # another loop or thread is handed over rather than touching paho concurrently.
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:  # pragma: no cover - ack() is a coroutine, a loop runs it
                running = None
            if running is loop:
                send_puback()
                return
            # A closed loop means the connection is gone too: the broker redelivers.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(send_puback)

        return ack

    async def _acknowledge_in_order(
        self, handed: asyncio.Queue[tuple[asyncio.Future[None] | None, Received]], sink: Sink
    ) -> None:
        """Await each sink call in arrival order, then acknowledge it; a failure ends the
        loop with the sink's exception, leaving that message and every later one
        unacknowledged.

        "Not now" from the store (StorageUnavailableError) is no failure: the message is
        offered again here until stored, without its PUBACK meanwhile (the broker stops at
        the receive maximum), and every later one is stored here after it, in order (a
        message stored first would be evaluated first: a retraction before its alert).
        """
        while True:
            stored, received = await handed.get()
            if stored is None:  # arrived while held: stored here, behind the earlier ones
                await self._store(sink, received)
            else:
                try:
                    await stored
                except StorageUnavailableError:
                    self._held = True
                    await self._store(sink, received)
            if self._held and handed.empty():
                self._held = False  # every message so far is stored: back to overlapping
            await received.ack()


def _code_value(code: object) -> int:
    """SUBACK entries are paho ``ReasonCode`` objects (v5) or plain granted-QoS ints."""
    value = getattr(code, "value", code)
    return value if isinstance(value, int) else _REFUSED
