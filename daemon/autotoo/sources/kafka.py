"""GCN Kafka source: a confluent-kafka consumer in its own thread, committing only on ack.

Why a thread: confluent-kafka's consumer blocks, and
aiokafka does not re-authenticate GCN's expiring OIDC tokens. The consumer object is touched
by that one thread only (its methods are not safe to call concurrently), so the event loop
never calls it: acknowledgements travel to the thread as commit requests on a queue, and the
thread commits between polls. Messages travel the other way through the loop's
``call_soon_threadsafe``; a semaphore of ``prefetch`` credits, returned when the loop has
finished a message, is the backpressure.

Offsets: ``enable.auto.commit`` is off and ``group.id`` explicit, so a restarted daemon
resumes at the first message whose ``ack()`` never ran. ``gcn.heartbeat`` (one record a
second) is consumed for liveness only: it updates ``health.last_heartbeat_at`` and is
committed by the thread every ``heartbeat_commit_interval`` seconds so a restart does not
re-read days of heartbeats.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import confluent_kafka
import gcn_kafka
import structlog

from autotoo.sources.base import Clock, HealthReporter, describe, utc_now
from autotoo.sources.errors import SourceConfigError, SourceFatalError

if TYPE_CHECKING:
    from collections.abc import Callable

    from autotoo.sources.base import Sink
    from autotoo.sources.settings import KafkaSettings

log = structlog.get_logger(__name__)
_librdkafka_log = logging.getLogger("autotoo.sources.kafka.librdkafka")

_CLOSE_TIMEOUT = 30.0


def kafka_identity(topic: str, partition: int, offset: int) -> str:
    """Kafka coordinates: equal exactly when the broker redelivers the same record."""
    return f"kafka:{topic}:{partition}:{offset}"


@dataclass(frozen=True, slots=True)
class _Record:
    topic: str
    partition: int
    offset: int
    value: bytes


@dataclass(frozen=True, slots=True)
class _Heartbeat:
    pass


@dataclass(frozen=True, slots=True)
class _State:
    connected: bool | None  # None: no change, only an error to record
    error: str | None = None


@dataclass(frozen=True, slots=True)
class _Stopped:
    error: BaseException | None


_Delivery = _Record | _Stopped
"""Goes through the queue, in order, one at a time: what the sink must see."""
_Report = _State | _Heartbeat
"""Applied to the health at once, never queued behind a message a slow sink is holding."""


def consumer_config(settings: KafkaSettings, on_error: Any) -> dict[str, Any]:
    """librdkafka settings; gcn_kafka adds SASL/OIDC and the domain's brokers unless
    ``extra_config`` already names them (the mock cluster in tests)."""
    return {
        "group.id": settings.group_id,
        "enable.auto.commit": False,
        "auto.offset.reset": settings.auto_offset_reset,
        "client.id": f"autotoo-{settings.name}",
        "error_cb": on_error,
        "logger": _librdkafka_log,
        **settings.extra_config,
    }


class _ConsumerThread(threading.Thread):
    """Owns the consumer: polls, commits, closes. Talks to the loop only through events."""

    def __init__(
        self,
        settings: KafkaSettings,
        loop: asyncio.AbstractEventLoop,
        deliveries: asyncio.Queue[_Delivery],
        report: Callable[[_Report], None],
    ) -> None:
        super().__init__(name=f"kafka-{settings.name}", daemon=True)
        self._settings = settings
        self._loop = loop
        self._deliveries = deliveries
        self._report_on_loop = report
        self.credits = threading.Semaphore(settings.prefetch)
        self.commits: queue.SimpleQueue[_Record] = queue.SimpleQueue()
        self.stopping = threading.Event()
        self._heartbeat: Any = None
        self._fatal: str | None = None
        self._heartbeat_committed_at = 0.0

    def _post(self, event: _Delivery) -> None:
        # The loop may already be gone when a shutdown races a last error callback.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._deliveries.put_nowait, event)

    def _report(self, event: _Report) -> None:
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._report_on_loop, event)

    def _on_error(self, error: confluent_kafka.KafkaError) -> None:
        """librdkafka's error_cb, called from inside poll() on this thread."""
        down = error.code() in {
            confluent_kafka.KafkaError._ALL_BROKERS_DOWN,  # noqa: SLF001 - public error code
            confluent_kafka.KafkaError._TRANSPORT,  # noqa: SLF001 - public error code
        }
        self._report(_State(connected=False if down else None, error=error.str()))
        if error.fatal():
            self._fatal = error.str()
            self.stopping.set()

    def _on_assign(self, _consumer: Any, partitions: list[Any]) -> None:
        self._report(_State(connected=True))
        log.info("kafka.assigned", source=self._settings.name, partitions=len(partitions))

    def run(self) -> None:
        settings = self._settings
        try:
            consumer = gcn_kafka.Consumer(
                consumer_config(settings, self._on_error),
                client_id=_reveal(settings.client_id),
                client_secret=_reveal(settings.client_secret),
                domain=settings.domain,
            )
        except (confluent_kafka.KafkaException, ValueError, TypeError) as exc:
            self._post(_Stopped(SourceConfigError(f"kafka source {settings.name!r}: {exc}")))
            return
        failure: BaseException | None = None
        try:
            topics = [*settings.topics]
            if settings.heartbeat_topic is not None:
                topics.append(settings.heartbeat_topic)
            consumer.subscribe(topics, on_assign=self._on_assign)
            failure = self._poll_until_stopped(consumer)
            if failure is None and self._fatal is not None:
                failure = SourceFatalError(f"kafka fatal error: {self._fatal}")
        except confluent_kafka.KafkaException as exc:
            failure = SourceFatalError(f"kafka source {settings.name!r}: {describe(exc)}")
        except Exception as exc:  # noqa: BLE001 - a thread cannot raise to the loop; hand it over
            failure = exc
        finally:
            self._commit_pending(consumer)
            self._commit_heartbeat(consumer, force=True)
            try:
                consumer.close()  # leaves the group now instead of at the session timeout
            except confluent_kafka.KafkaException as exc:
                log.info("kafka.close_failed", source=settings.name, error=describe(exc))
            self._post(_Stopped(failure))

    def _poll_until_stopped(self, consumer: Any) -> BaseException | None:
        interval = self._settings.poll_interval
        while not self.stopping.is_set():
            self._commit_pending(consumer)
            self._commit_heartbeat(consumer, force=False)
            if not self.credits.acquire(timeout=interval):
                continue  # the loop is busy with `prefetch` messages; offer commits again
            message = consumer.poll(interval)
            if message is None:
                self.credits.release()
                continue
            error = message.error()
            if error is not None:
                self.credits.release()
                if error.fatal():
                    return SourceFatalError(f"kafka fatal error: {error.str()}")
                self._report(_State(connected=None, error=error.str()))
            elif message.topic() == self._settings.heartbeat_topic:
                self.credits.release()
                self._heartbeat = message
                self._report(_Heartbeat())
            else:
                # The credit is returned by the loop once the sink is done with it.
                self._post(
                    _Record(
                        message.topic(),
                        message.partition(),
                        message.offset(),
                        message.value() or b"",
                    )
                )
        return None

    def _commit_pending(self, consumer: Any) -> None:
        while True:
            try:
                record = self.commits.get_nowait()
            except queue.Empty:
                return
            # Kafka stores the *next* offset to read.
            offset = confluent_kafka.TopicPartition(
                record.topic, record.partition, record.offset + 1
            )
            try:
                consumer.commit(offsets=[offset], asynchronous=False)
            except confluent_kafka.KafkaException as exc:
                # Typically a rebalance took the partition: the new owner re-reads the record
                # and the inbox recognises it. Nothing is lost, so record and carry on.
                self._report(_State(connected=None, error=f"commit failed: {describe(exc)}"))

    def _commit_heartbeat(self, consumer: Any, *, force: bool) -> None:
        due = time.monotonic() - self._heartbeat_committed_at
        if self._heartbeat is None or (
            not force and due < self._settings.heartbeat_commit_interval
        ):
            return
        message, self._heartbeat = self._heartbeat, None
        self._heartbeat_committed_at = time.monotonic()
        with contextlib.suppress(confluent_kafka.KafkaException):
            consumer.commit(message=message, asynchronous=not force)


def _reveal(secret: Any) -> str | None:
    return None if secret is None else str(secret.get_secret_value())


class KafkaSource(HealthReporter):
    """Delivers GCN Kafka records to the sink and commits each after the sink returned."""

    kind = "kafka"

    def __init__(self, settings: KafkaSettings, *, clock: Clock = utc_now) -> None:
        super().__init__(settings.name, clock)
        self._settings = settings

    async def run(self, sink: Sink) -> None:
        """Consume until cancelled. librdkafka reconnects by itself (GCN asks clients not to
        restart to "fix" connectivity), so only fatal and configuration errors end ``run``."""
        deliveries: asyncio.Queue[_Delivery] = asyncio.Queue()
        loop = asyncio.get_running_loop()
        thread = _ConsumerThread(self._settings, loop, deliveries, self._apply_report)
        thread.start()
        try:
            await self._handle_deliveries(thread, deliveries, sink)
        finally:
            thread.stopping.set()
            self._health.mark_disconnected()
            # Joining blocks, so it runs in the executor; close() leaves the group cleanly,
            # which lets a restarted consumer rejoin without waiting for a session timeout.
            async with asyncio.timeout(_CLOSE_TIMEOUT + self._settings.timeout):
                await asyncio.to_thread(thread.join, _CLOSE_TIMEOUT)

    async def _handle_deliveries(
        self, thread: _ConsumerThread, deliveries: asyncio.Queue[_Delivery], sink: Sink
    ) -> None:
        while True:
            event = await deliveries.get()
            if isinstance(event, _Stopped):
                if event.error is not None:
                    self._health.mark_disconnected(describe(event.error))
                    raise event.error
                raise SourceFatalError(f"kafka source {self.name!r}: consumer stopped")
            try:
                await self._deliver(thread, event, sink)
            finally:
                thread.credits.release()

    def _apply_report(self, event: _Report) -> None:
        if isinstance(event, _Heartbeat):
            self._health.mark_heartbeat(self._clock())
            self._health.mark_alive()
            return
        if event.connected is True:
            self._health.mark_connected()
        elif event.connected is False:
            self._health.mark_disconnected(event.error)
        elif event.error is not None:
            self._health.mark_error(event.error)
        if event.error is not None:
            log.warning("kafka.error", source=self.name, error=event.error)

    async def _deliver(self, thread: _ConsumerThread, record: _Record, sink: Sink) -> None:
        async def ack() -> None:
            # Only enqueue: the consumer thread commits between polls (see module docstring).
            thread.commits.put(record)

        self._health.mark_alive()
        await self._hand_over(
            sink,
            raw=record.value,
            identity=kafka_identity(record.topic, record.partition, record.offset),
            topic=record.topic,
            ack=ack,
        )
