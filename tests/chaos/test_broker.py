"""The broker goes away mid-stream: mosquitto is stopped and restarted (persistence on) at
seeded random moments while alerts arrive and the daemon publishes status messages.

Alert producers retry until the broker acknowledges (as GCN's own publisher does), the daemon
keeps a persistent MQTT session, and the status collector too. Counted afterwards: every
alert in the inbox, one TOO and one XRT job per matching event, every result published.
"""

from __future__ import annotations

import asyncio
import json
import random

import aiomqtt

from tests.chaos.conftest import Record, scale
from tests.chaos.streams import RULES, Stream, finish, make_stream, tune, verify
from tests.fixtures.daemon import DaemonHarness, StatusCollector
from tests.fixtures.mosquitto import Broker


class ReconnectingCollector(StatusCollector):
    """A status subscriber with a persistent session that reconnects after a broker restart
    (the broker queues QoS 1 messages for it meanwhile)."""

    async def _run(self) -> None:
        while True:
            try:
                async with aiomqtt.Client(
                    "127.0.0.1", self.port, identifier="chaos-collector", clean_session=False
                ) as client:
                    await client.subscribe("autotoo/#", qos=1)
                    self._ready.set()
                    async for message in client.messages:
                        payload = message.payload
                        assert isinstance(payload, bytes | bytearray)
                        self.messages.append((str(message.topic), json.loads(payload)))
            except aiomqtt.MqttError:
                await asyncio.sleep(0.2)  # the broker is restarting; try again


async def publish_until_acked(port: int, stream: Stream, rng: random.Random) -> int:
    """Publish every message at least once; returns how many attempts failed."""
    failures = 0
    for topic, raw in stream.messages:
        while True:
            try:
                async with (
                    asyncio.timeout(5),
                    aiomqtt.Client("127.0.0.1", port) as client,
                ):
                    await client.publish(topic, raw, qos=1)
                break
            except (aiomqtt.MqttError, TimeoutError):
                failures += 1
                await asyncio.sleep(0.2)
        await asyncio.sleep(rng.uniform(0.0, 0.3))
    return failures


async def test_broker_restarted_mid_stream_loses_nothing(
    make_emulator, mosquitto_factory, daemon_factory, chaos_seed: int, chaos_record: Record
) -> None:
    rng = random.Random(chaos_seed)
    restarts = scale("broker_restarts", 3)
    emulator = await make_emulator(speed=20_000)
    broker: Broker = mosquitto_factory()
    daemon: DaemonHarness = daemon_factory(broker_port=broker.port, emulator_root=emulator.root)
    daemon.configure(RULES, too_per_day=1000)
    tune(daemon.config, pipeline={"reconcile_delay": "0.5s", "retry_not_sent": "0.5s"})
    stream = make_stream(rng, fast=scale("fast_events", 4), settled=1, ignored=3)
    downtimes: list[float] = []
    async with ReconnectingCollector(broker.port) as status:
        await daemon.start()
        sender = asyncio.create_task(publish_until_acked(broker.port, stream, rng))
        for _ in range(restarts):
            await asyncio.sleep(rng.uniform(0.3, 2.0))
            downtimes.append(round(rng.uniform(0.2, 1.5), 3))
            await asyncio.to_thread(broker.stop)  # SIGTERM: mosquitto saves its persistence
            await asyncio.sleep(downtimes[-1])
            await asyncio.to_thread(broker.start)
        failed_publishes = await sender
        unfinished = await finish(status, stream, daemon, timeout=90)
    counts, violations = verify(emulator, daemon.state, status, stream)
    violations = unfinished + violations
    reconnects = sum(1 for e in daemon.logs() if e.get("event") == "mqtt.reconnect_wait")
    chaos_record(
        "mosquitto stopped and restarted mid-stream",
        broker_restarts=restarts,
        downtimes_s=downtimes,
        producer_publish_retries=failed_publishes,
        daemon_source_reconnect_waits=reconnects,
        violations=violations,
        **counts,
    )
    assert violations == []
    assert reconnects >= 1  # the outage really reached the daemon
