"""Throughput: sustained alerts per second, ours versus a bare aiomqtt JSON consumer.

Both sides read the same backlog of distinct EP alerts from a private mosquitto, in this
process, one after the other: the backlog is published first (QoS 1, into a persistent
session), then the consumer connects and drains it, so the publisher never competes for the
CPU. Ours is the daemon's own path: ``MqttSource`` (manual PUBACK after the store) -> ``Inbox``
(the messages in hand inserted together, then one fsync of the WAL before their
PUBACKs) -> ``Processor``
(parse, 100 rules, plan, one commit per batch of alerts), with the JSON logs the daemon
writes (to a file). ``MqttSource`` with a sink that stores nothing is measured too, to show
what the transport alone leaves for the rest of the path. The bare consumer
receives with aiomqtt (QoS 1, automatic PUBACK) and decodes each payload with ``json.loads``.

    uv run python -m bench.throughput [--quick]
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from autotoo.logs import configure
from autotoo.pipeline.intake import Inbox
from autotoo.sources.mqtt import MqttSource
from autotoo.sources.settings import MqttSettings
from bench._common import (
    EP_TOPIC_MQTT,
    InProcess,
    Row,
    commit_ms,
    emit,
    ep_alert,
    mosquitto,
    quick_flag,
)
from bench._durable import durable_consumer

TOPIC = EP_TOPIC_MQTT


def _session_properties() -> Properties:
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call] # paho is untyped
    props.SessionExpiryInterval = 3600
    return props


def _client(port: int, ident: str) -> aiomqtt.Client:
    return aiomqtt.Client(
        "127.0.0.1",
        port,
        identifier=ident,
        protocol=aiomqtt.ProtocolVersion.V5,
        clean_start=False,
        properties=_session_properties(),
    )


async def backlog(port: int, ident: str, payloads: Sequence[bytes]) -> None:
    """Create ``ident``'s persistent session, disconnect, and queue every payload for it."""
    async with _client(port, ident) as client:
        await client.subscribe(TOPIC, qos=1)
    async with aiomqtt.Client("127.0.0.1", port, identifier=f"pub-{ident}") as pub:
        for start in range(0, len(payloads), 10):  # 10 PUBACKs in flight (aiomqtt warns beyond)
            await asyncio.gather(
                *(pub.publish(TOPIC, p, qos=1) for p in payloads[start : start + 10])
            )


async def bare_consumer(port: int, payloads: Sequence[bytes]) -> float:
    """Alerts per second of a consumer that only receives and decodes JSON."""
    ident = f"bare-{uuid.uuid4().hex[:8]}"
    await backlog(port, ident, payloads)
    count, first = 0, 0.0
    async with asyncio.timeout(600), _client(port, ident) as client:
        async for message in client.messages:
            if count == 0:
                first = time.perf_counter()
            assert isinstance(message.payload, bytes)
            json.loads(message.payload)
            count += 1
            if count == len(payloads):
                break
    return (count - 1) / (time.perf_counter() - first)


class _Timed:
    """The inbox, noting when the first message arrived."""

    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox
        self.first: float | None = None

    async def __call__(self, message: object) -> None:
        if self.first is None:
            self.first = time.perf_counter()
        await self.inbox(message)  # type: ignore[arg-type] # a Received, from the source


async def durable(port: int, payloads: Sequence[bytes], workdir: Path) -> float:
    """Alerts/s of the durable floor (``bench/_durable.py``) over the same backlog."""
    ident = f"durable-{uuid.uuid4().hex[:8]}"
    await backlog(port, ident, payloads)
    return await durable_consumer(port, ident, len(payloads), workdir / f"{ident}.db")


async def ours(port: int, payloads: Sequence[bytes], workdir: Path) -> tuple[float, float]:
    """(alerts/s through the whole path, alerts/s into the inbox alone) over the same backlog."""
    ident = f"ours-{uuid.uuid4().hex[:8]}"
    await backlog(port, ident, payloads)
    pipe = await InProcess.open(workdir / f"{ident}.db")
    processor = pipe.processor
    sink = _Timed(pipe.inbox)
    source = MqttSource(
        MqttSettings(name="bench", host="127.0.0.1", port=port, client_id=ident, topics=(TOPIC,))
    )
    n = len(payloads)
    inbox_done: float | None = None
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(source.run(sink)), group.create_task(processor.run())]
            async with asyncio.timeout(1800):
                while processor.counters.parsed + processor.counters.unparsed < n:
                    if inbox_done is None and sink.inbox.counters.received >= n:
                        inbox_done = time.perf_counter()
                    await asyncio.sleep(0.005)
            end = time.perf_counter()
            for task in tasks:
                task.cancel()
    finally:
        await pipe.db.close()
    assert sink.first is not None
    assert processor.counters.parsed == n, processor.counters
    inbox_rate = (n - 1) / ((inbox_done or end) - sink.first)
    return (n - 1) / (end - sink.first), inbox_rate


async def source_alone(port: int, payloads: Sequence[bytes]) -> float:
    """Alerts/s of ``MqttSource`` (manual PUBACK, up to max_inflight in hand) with a sink
    that stores nothing: the ceiling the transport leaves for the rest of our path."""
    ident = f"src-{uuid.uuid4().hex[:8]}"
    await backlog(port, ident, payloads)
    count, first = 0, 0.0
    drained = asyncio.Event()

    async def nothing(_message: object) -> None:
        nonlocal count, first
        if count == 0:
            first = time.perf_counter()
        count += 1
        if count == len(payloads):
            drained.set()

    source = MqttSource(
        MqttSettings(name="bench", host="127.0.0.1", port=port, client_id=ident, topics=(TOPIC,))
    )
    task = asyncio.create_task(source.run(nothing))
    try:
        async with asyncio.timeout(600):
            await drained.wait()
        end = time.perf_counter()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return (count - 1) / (end - first)


async def processor_alone(payloads: Sequence[bytes], workdir: Path) -> float:
    """Alerts/s of the Processor draining an inbox filled beforehand (not timed)."""
    pipe = await InProcess.open(workdir / f"alone-{uuid.uuid4().hex[:8]}.db")
    try:
        run = uuid.uuid4().hex[:4].upper()  # new event keys: not the events of the other runs
        for i, raw in enumerate(payloads):
            await pipe.put(raw.replace(b'"id": ["', f'"id": ["{run}'.encode()), f"alone:{i}")
        started = time.perf_counter()
        while await pipe.processor.step():
            pass
        elapsed = time.perf_counter() - started
        assert pipe.processor.counters.parsed == len(payloads), pipe.processor.counters
    finally:
        await pipe.db.close()
    return len(payloads) / elapsed


async def measure(n: int) -> list[Row]:
    run = uuid.uuid4().hex[:4].upper()
    payloads = [ep_alert(i, run=run) for i in range(n)]
    with mosquitto() as port, tempfile.TemporaryDirectory(prefix="bench-tp-") as tmp:
        log_path = Path(tmp) / "daemon.log"
        with log_path.open("w") as log_stream:
            configure("info", "json", stream=log_stream)  # the daemon logs each alert
            bare = await bare_consumer(port, payloads)
            floor_before = await durable(port, payloads, Path(tmp))
            whole, inbox_only = await ours(port, payloads, Path(tmp))
            transport = await source_alone(port, payloads)
            floor_after = await durable(port, payloads, Path(tmp))
            bare_after = await bare_consumer(port, payloads)
            alone = await processor_alone(payloads, Path(tmp))
        commit = commit_ms(Path(tmp))
    baseline = (bare + bare_after) / 2
    floor = (floor_before + floor_after) / 2
    return [
        Row("alerts/s, source->inbox->processor (100 rules)", whole, "/s", baseline, ">= 0.5",
            whole / baseline >= 0.5),
        Row("the same, against the durable consumer", whole, "/s", floor, "-", None),
        Row("alerts/s into the inbox (processor running alongside)", inbox_only, "/s", baseline,
            "-", None),
        Row("alerts/s, processor alone on a filled inbox (no MQTT)", alone, "/s", baseline, "-",
            None),
        Row("alerts/s, MqttSource alone (a sink that stores nothing)", transport, "/s",
            baseline, ">= 0.8", transport / baseline >= 0.8),
        Row("durable consumer: decode, group commit + fsync, PUBACK after (floor)", floor, "/s",
            baseline, "-", None),
        Row("durable consumer (before / after)", floor_before, "/s", floor_after, "-", None),
        Row("bare aiomqtt + json.loads (before / after)", bare, "/s", bare_after, "-", None),
        Row("one durable SQLite commit on this disk (stdlib, median)", commit, "ms", None, "-",
            None),
    ]  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    quick = quick_flag(argv)
    n = 1000 if quick else 5000
    rows = asyncio.run(measure(n))
    emit(
        f"Throughput ({n} distinct alerts, backlog drained over mosquitto, in one process)",
        rows,
        [
            (
                "ours: MqttSource -> Inbox (group commits, a WAL fsync before the PUBACKs) -> "
                "Processor (parse, 100 rules, plan, a commit per batch), JSON logs to a file; "
                "dry-run mode"
            ),
            (
                "baseline: aiomqtt QoS 1 consumer + json.loads, run first and last; the "
                "ratio uses their mean"
            ),
            (
                "durable floor (bench/_durable.py): the same consumer with manual PUBACK "
                "(Receive Maximum 16, as ours), each message's SHA-256 and raw bytes inserted "
                "in a group commit (stdlib sqlite3, WAL, synchronous=FULL, on a thread), the "
                "PUBACKs after it in arrival order; run second and second to last, mean used"
            ),
        ],
    )
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
