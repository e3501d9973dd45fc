"""Two real daemons in one GCN Kafka consumer group, on one PostgreSQL database: intake is
split between them by partition; one is SIGKILLed mid-stream, the group rebalances, and the
survivor reads the dead one's partitions from their committed offsets. Counted at the
emulator: every TOO exactly once, every alert stored once (a message the dead one stored
but had not committed comes again and is the same inbox row: its identity is
topic:partition:offset)."""

from __future__ import annotations

import asyncio
import re
import signal
import uuid
from pathlib import Path

import psycopg

from autotoo.emulators.app import create_app
from autotoo.emulators.clock import SimClock
from autotoo.emulators.sky import Sky
from tests.chaos.streams import RULES, ep_alert, tune
from tests.daemon.instances import wait_until
from tests.fixtures.daemon import DaemonHarness
from tests.fixtures.kafka_mock import MockKafka
from tests.fixtures.mosquitto import Broker
from tests.fixtures.postgres import PG_PASSWORD, PgCluster
from tests.pipeline.test_exactly_once import served

TOPIC = "gcn.notices.einstein_probe.wxt.alert"
PARTITIONS = 4  # what the mock cluster gives a topic it creates


def _assigned(daemon: DaemonHarness) -> list[int]:
    """The partition counts this daemon was assigned, in order (its JSON log lines)."""
    return [
        int(found.group(1))
        for log in sorted(daemon.workdir.glob("daemon-*.log"))
        for line in log.read_text(errors="replace").splitlines()
        if '"kafka.assigned"' in line and (found := re.search(r'"partitions": ?(\d+)', line))
    ]


def _produce(cluster: MockKafka, events: range) -> None:
    """One alert per event, spread over every partition."""
    for event in events:
        cluster.produce(TOPIC, ep_alert(event), partition=event % PARTITIONS)


def _inbox(url: str) -> dict[str, int]:
    with psycopg.connect(url, password=PG_PASSWORD) as conn:
        return dict(conn.execute("SELECT status, count(*) FROM inbox GROUP BY status").fetchall())


async def test_a_consumer_group_survives_a_killed_member_and_sends_each_too_once(
    mosquitto: Broker, daemon_factory, postgres_cluster: PgCluster, tmp_path: Path
) -> None:
    cluster = MockKafka()  # a cluster of its own: the topic holds only this test's alerts
    _produce(cluster, range(PARTITIONS))  # one alert per partition makes the topic
    url = postgres_cluster.new_database()
    sky = Sky(SimClock(speed=20_000))
    emulator = await served(create_app(sky=sky), sky)
    group = f"autotoo-{uuid.uuid4().hex[:8]}"
    daemons: list[DaemonHarness] = []
    for _ in range(2):
        d: DaemonHarness = daemon_factory(broker_port=mosquitto.port, emulator_root=emulator.root)
        d.configure(RULES.replace("gcn.notices.einstein_probe.wxt.alert", TOPIC), too_per_day=1000)
        tune(d.config, state=url)
        tune(d.config, store={"password_file": str(postgres_cluster.password_file), "lease": "2s"})
        tune(
            d.config,
            sources=[
                {
                    "kind": "kafka",
                    "name": "gcn",
                    "group_id": group,
                    "topics": [TOPIC],
                    "extra": {
                        "bootstrap.servers": cluster.bootstrap,
                        "security.protocol": "plaintext",
                        # a dead member is noticed in seconds, not GCN's default 45 s
                        "session.timeout.ms": 6000,
                        "heartbeat.interval.ms": 500,
                    },
                }
            ],
        )
        daemons.append(d)
    killed, survivor = daemons

    def toos() -> int:
        return len(emulator.swift.toos)

    try:
        for d in daemons:
            await d.start()
        # the group split the four partitions, two each
        await wait_until(lambda: all(_assigned(d)[-1:] == [2] for d in daemons), timeout=60)
        await asyncio.to_thread(_produce, cluster, range(PARTITIONS, 8))
        await wait_until(lambda: toos() >= 8, timeout=60)
        assert killed.proc is not None
        killed.proc.send_signal(signal.SIGKILL)
        await asyncio.to_thread(_produce, cluster, range(8, 16))
        # the survivor is given all four once the group notices the dead member
        await wait_until(lambda: _assigned(survivor)[-1:] == [PARTITIONS], timeout=60)
        await wait_until(lambda: toos() >= 16, timeout=60)
        await asyncio.sleep(1.0)  # nothing more comes
        assert await survivor.stop() == 0
    finally:
        for d in daemons:
            if d.proc is not None and d.proc.poll() is None:
                d.proc.kill()
        cluster.close()
    posts = [r for r in emulator.swift.received if r.api == "/swift/too"]
    assert (toos(), len(posts)) == (16, 16)
    assert _inbox(url) == {"processed": 16}
    for partition in range(PARTITIONS):  # every message committed, the dead one's included
        assert cluster.committed(group, TOPIC, partition) == 4
