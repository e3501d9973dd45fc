"""Two real daemons on a PostgreSQL primary and its synchronous replica, as docs/postgresql.md
("Two hosts") tells an operator to run them: both hosts in the state URL, the replica
confirming every durable commit. Real alerts arrive over mosquitto before, during and after
a fail-over: the primary crashes while a daemon is in a TOO's POST, and the replica is
promoted a moment later. Counted at the emulators: every TOO and every XRT job exactly once,
every alert processed, nothing left in flight."""

from __future__ import annotations

import asyncio
import time
import uuid

from autotoo.emulators.app import create_app
from autotoo.emulators.clock import SimClock
from autotoo.emulators.sky import Sky
from autotoo.emulators.ukssdc.routes import SERVICE_KEY
from tests.chaos.streams import EP_TOPIC, ep_alert
from tests.daemon.instances import (
    assert_each_once,
    configure_instance,
    finish,
    release,
    rows_in_post,
    slow_swift,
)
from tests.fixtures.daemon import publish
from tests.fixtures.mosquitto import Broker
from tests.fixtures.postgres import PgCluster, both_hosts
from tests.pipeline.test_exactly_once import served

LEASE_S = 2.0
EVENTS = 10


async def test_two_instances_carry_on_on_the_promoted_replica_sending_each_once(
    mosquitto: Broker,
    daemon_factory,  # type: ignore[no-untyped-def]
    replicated_cluster: tuple[PgCluster, PgCluster],
) -> None:
    primary, standby = replicated_cluster
    name = f"t_{uuid.uuid4().hex[:16]}"
    primary.admin(f"CREATE DATABASE {name} TEMPLATE template0")
    url = both_hosts(primary, standby, name)
    sky = Sky(SimClock(speed=20_000))
    app = create_app(sky=sky)
    app.middlewares.append(slow_swift(0.5))  # a POST lasts long enough to crash under it
    emulator = await served(app, sky)
    jobs = app[SERVICE_KEY].jobs
    daemons = [
        configure_instance(
            daemon_factory(broker_port=mosquitto.port, emulator_root=emulator.root),
            url=url,
            password_file=str(primary.password_file),
            lease_s=LEASE_S,
        )
        for _ in range(2)
    ]
    for d in daemons:
        await d.start()
    try:
        for event in range(EVENTS // 2):
            await publish(mosquitto.port, EP_TOPIC, ep_alert(9_000 + event))
        began = time.monotonic()
        while not await asyncio.to_thread(rows_in_post, primary.url(name)):
            assert time.monotonic() - began < 20, "no daemon was ever in a POST"
            await asyncio.sleep(0.02)
        await asyncio.to_thread(primary.crash)  # a daemon is in a POST: its reply is stored after
        for event in range(EVENTS // 2, EVENTS - 2):  # arriving while nothing takes writes
            await publish(mosquitto.port, EP_TOPIC, ep_alert(9_000 + event))
        await asyncio.sleep(1.0)
        await asyncio.to_thread(standby.promote)
        for event in range(EVENTS - 2, EVENTS):
            await publish(mosquitto.port, EP_TOPIC, ep_alert(9_000 + event))
        await finish(daemons, emulator, jobs, EVENTS, LEASE_S)
    finally:
        release(daemons)
    assert_each_once(emulator, jobs, standby.url(name), EVENTS)  # the standby: the primary now
