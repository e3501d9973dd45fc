"""Three real daemons on one PostgreSQL database and one mosquitto share a stream of real
alerts (docs/postgresql.md, "Several instances on one database"). One is SIGKILLed and one
SIGSTOPped mid-stream, each in the middle of a POST; the server is restarted once (as a
crash); the paused one is SIGCONTed after the others took its work over.
Counted at the emulators: every TOO and every XRT job exactly once, nothing lost, and the
survivor finished within the lease (plus the reconciliation of a row that was 'submitting')
of the signals."""

from __future__ import annotations

import asyncio
import signal
import time
from datetime import UTC, datetime

import psycopg

from autotoo.emulators.app import create_app
from autotoo.emulators.clock import SimClock
from autotoo.emulators.sky import Sky
from autotoo.emulators.ukssdc.routes import SERVICE_KEY
from autotoo.store.rows import utcnow
from tests.chaos.streams import EP_TOPIC, UKSSDC_USER, ep_alert
from tests.daemon.instances import (
    configure_instance,
    rows_in_post,
    slow_swift,
    states_of,
    wait_until,
)
from tests.daemon.test_postgres_daemon import _cli
from tests.fixtures.daemon import DaemonHarness, publish
from tests.fixtures.mosquitto import Broker
from tests.fixtures.postgres import PG_PASSWORD, PgCluster
from tests.pipeline.test_exactly_once import served

LEASE_S = 2.0
EVENTS = 12


async def test_three_instances_killed_and_paused_send_each_once(
    mosquitto: Broker, daemon_factory, postgres_cluster: PgCluster
) -> None:
    url = postgres_cluster.new_database()
    sky = Sky(SimClock(speed=20_000))
    app = create_app(sky=sky)
    app.middlewares.append(slow_swift(0.5))
    emulator = await served(app, sky)
    daemons: list[DaemonHarness] = []
    for _ in range(3):
        d: DaemonHarness = daemon_factory(broker_port=mosquitto.port, emulator_root=emulator.root)
        daemons.append(
            configure_instance(
                d, url=url, password_file=str(postgres_cluster.password_file), lease_s=LEASE_S
            )
        )
    for d in daemons:
        await d.start()
    by_pid = {d.proc.pid: d for d in daemons if d.proc is not None}
    jobs = app[SERVICE_KEY].jobs

    def toos() -> int:
        return len(emulator.swift.toos)

    def posts() -> int:
        return len([r for r in emulator.swift.received if r.api == "/swift/too"])

    try:
        for event in range(EVENTS // 2):
            await publish(mosquitto.port, EP_TOPIC, ep_alert(8_000 + event))
        # Two instances each in the middle of a POST: one is killed, one paused.
        victims: list[tuple[int, int]] = []
        began = time.monotonic()
        while len({pid for _, pid in victims}) < 2:
            assert time.monotonic() - began < 20, "never two instances sending at once"
            sending = await asyncio.to_thread(rows_in_post, url)
            victims = list({pid: (sub, pid) for sub, pid in sending}.values())[:2]
            await asyncio.sleep(0.02)
        (held_by_killed, killed_pid), (held_by_paused, paused_pid) = victims
        killed, paused = by_pid[killed_pid], by_pid[paused_pid]
        killed.proc.send_signal(signal.SIGKILL)  # type: ignore[union-attr]
        paused.proc.send_signal(signal.SIGSTOP)  # type: ignore[union-attr]
        signalled, signalled_at = time.monotonic(), utcnow()
        for event in range(EVENTS // 2, EVENTS - 3):
            await publish(mosquitto.port, EP_TOPIC, ep_alert(8_000 + event))
        taken = [held_by_killed, held_by_paused]
        done = {"submitted", "tracking", "done"}
        while not set(await asyncio.to_thread(states_of, url, taken)) <= done:
            assert time.monotonic() - signalled < 90, "the rows were never taken over"
            await asyncio.sleep(0.05)
        settled = time.monotonic() - signalled
        # The server restarted once mid-stream (as a crash: every connection cut).
        await asyncio.to_thread(postgres_cluster.restart)
        for event in range(EVENTS - 3, EVENTS):
            await publish(mosquitto.port, EP_TOPIC, ep_alert(8_000 + event))
        await wait_until(lambda: toos() >= EVENTS, timeout=60)
        await wait_until(lambda: len(jobs.of_user(UKSSDC_USER)) >= EVENTS, timeout=60)
        paused.proc.send_signal(signal.SIGCONT)  # type: ignore[union-attr]
        await asyncio.sleep(LEASE_S + 1.5)  # it must not act on the leases it lost
        # `autotoo status` lists every instance not stopped, the killed one included
        code, text = await _cli(["status", "-c", str(killed.config)])
        listed = [line for line in text.splitlines() if line.startswith("instance ")]
        assert code == 0 and len(listed) == 3, text
        assert any(f":{killed_pid}:" in line for line in listed), listed
        for d in daemons:
            if d is not killed:
                assert await d.stop() == 0
    finally:
        for d in daemons:
            if d.proc is not None and d.proc.poll() is None:
                d.proc.send_signal(signal.SIGCONT)
    assert (toos(), posts()) == (EVENTS, EVENTS)
    names = [j.name for j in jobs.of_user(UKSSDC_USER)]
    assert len(names) == len(set(names)) == EVENTS
    with psycopg.connect(url, password=PG_PASSWORD) as conn:
        states = dict(
            conn.execute("SELECT state, count(*) FROM submissions GROUP BY state").fetchall()
        )
        inbox = conn.execute("SELECT status, count(*) FROM inbox GROUP BY status").fetchall()
        instances = conn.execute("SELECT count(*) FROM instances").fetchone()
        # the first takeover of each (a row whose POST outlives its lease later, e.g. while
        # the server restarts, is taken over again: reconciled, never re-sent)
        takeovers = conn.execute(
            "SELECT min(at) FROM submission_log WHERE submission_id IN (%s, %s) "
            "AND detail LIKE 'taken over by%%' GROUP BY submission_id",
            taken,
        ).fetchall()
    assert set(states) <= done, states
    assert dict(inbox) == {"processed": EVENTS}, inbox
    assert instances == (3,)
    assert len(takeovers) == 2, takeovers
    # Taken over within the lease (renewed when the row went 'submitting') plus one second
    # of the signals; reconciled (found in the listing) when the survivor's queue reaches it.
    failover = max(
        (datetime.strptime(at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC) - signalled_at)
        for (at,) in takeovers
    ).total_seconds()
    assert failover < LEASE_S + 1.0, failover
    print(f"taken over {failover:.2f} s after the signals, settled after {settled:.2f} s")
