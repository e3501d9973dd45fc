"""Several instances under random faults: three real daemons share one PostgreSQL database
and one MQTT shared subscription while a stream of real alerts arrives. At random moments
(``chaos_seed``) one is SIGKILLed and started again, one is paused (SIGSTOP) for a random
while, or the server crashes and restarts. Counted at the emulators at the end: every TOO
and every XRT job exactly once, every alert stored once, nothing left in flight.

The fixed-moment proof of the same properties is ``tests/daemon/test_instances_daemon.py``;
this one lets the moments fall where they fall (in a POST, a commit, an evaluation, a
poll). ``AUTOTOO_CHAOS_EVENTS`` and ``AUTOTOO_CHAOS_FAULTS`` scale it (bench/chaos.py)."""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import time

import psycopg

from autotoo.emulators.app import create_app
from autotoo.emulators.clock import SimClock
from autotoo.emulators.sky import Sky
from autotoo.emulators.ukssdc.routes import SERVICE_KEY
from tests.chaos.conftest import Record, scale
from tests.chaos.streams import EP_TOPIC, RULES, UKSSDC_USER, ep_alert, tune
from tests.daemon.instances import release, slow_swift, wait_until
from tests.fixtures.daemon import DaemonHarness, publish
from tests.fixtures.mosquitto import Broker
from tests.fixtures.postgres import PG_PASSWORD, PgCluster
from tests.pipeline.test_exactly_once import served

LEASE_S = 2.0


async def _fault(
    rng: random.Random,
    daemons: dict[DaemonHarness, asyncio.Lock],
    cluster: PgCluster,
    log: list[str],
) -> None:
    """One random fault, undone before it returns (a killed daemon is started again).
    Faults on one daemon take turns (a daemon killed again while it starts would leave its
    first restart waiting for a READY that never comes), and a server crash waits for
    every daemon to be up: a daemon that cannot reach the server at start exits for
    systemd to start it again, which this harness does not do."""
    kind = rng.choice(["kill", "kill", "pause", "pause", "server"])
    d = rng.choice(list(daemons))
    if kind == "server":
        async with contextlib.AsyncExitStack() as held:
            for lock in daemons.values():
                await held.enter_async_context(lock)
            await asyncio.to_thread(cluster.restart)
        log.append("server crash+restart")
        return
    async with daemons[d]:
        assert d.proc is not None
        if kind == "kill":
            d.proc.send_signal(signal.SIGKILL)
            await asyncio.to_thread(d.proc.wait)
            await asyncio.sleep(rng.uniform(0.0, 2.0))
            await d.start()
            log.append(f"kill+restart {d.ident}")
        else:
            held_s = rng.uniform(0.5, 2.5 * LEASE_S)
            d.proc.send_signal(signal.SIGSTOP)
            await asyncio.sleep(held_s)
            d.proc.send_signal(signal.SIGCONT)
            log.append(f"pause {d.ident} {held_s:.1f}s")


async def test_three_instances_under_random_faults_do_everything_once(
    mosquitto: Broker,
    daemon_factory,  # type: ignore[no-untyped-def]
    postgres_cluster: PgCluster,
    chaos_seed: int,
    chaos_record: Record,
) -> None:
    rng = random.Random(chaos_seed)
    events, faults = scale("events", 15), scale("faults", 4)
    url = postgres_cluster.new_database()
    sky = Sky(SimClock(speed=20_000))
    app = create_app(sky=sky)
    app.middlewares.append(slow_swift(0.2))  # POSTs last long enough to be hit
    emulator = await served(app, sky)
    jobs = app[SERVICE_KEY].jobs
    daemons: list[DaemonHarness] = []
    for _ in range(3):
        d: DaemonHarness = daemon_factory(broker_port=mosquitto.port, emulator_root=emulator.root)
        d.configure(RULES, too_per_day=1000)
        tune(d.config, state=url)
        tune(d.config, store={"password_file": str(postgres_cluster.password_file), "lease": "2s"})
        tune(d.config, pipeline={"reconcile_delay": "0.5s", "retry_not_sent": "0.5s"})
        tune(d.config, swift={"timeout": "20s"})
        tune(
            d.config,
            sources=[
                {
                    "kind": "mqtt",
                    "name": "bus",
                    "url": f"mqtt://127.0.0.1:{mosquitto.port}",
                    "client_id": f"autotoo-{d.ident}",
                    "topics": ["gcn/#"],
                    "share_group": "autotoo",
                }
            ],
        )
        daemons.append(d)
    for d in daemons:
        await d.start()
    locks = {d: asyncio.Lock() for d in daemons}

    def toos() -> int:
        return len(emulator.swift.toos)

    # Alerts and faults interleaved at random: each alert after a random pause, a fault
    # started at a random alert and running beside the stream.
    at = sorted(rng.sample(range(events), k=min(faults, events)))
    done: list[str] = []
    running: list[asyncio.Task[None]] = []
    began = time.monotonic()
    try:
        for event in range(events):
            if event in at:
                fault = _fault(rng, locks, postgres_cluster, done)
                running.append(asyncio.create_task(fault))
            await publish(mosquitto.port, EP_TOPIC, ep_alert(12_000 + event))
            await asyncio.sleep(rng.uniform(0.0, 0.6))
            if running and rng.random() < 0.5:  # sometimes one fault at a time, sometimes two
                await running.pop(0)
        for task in running:
            await task
        await wait_until(lambda: toos() >= events, timeout=120)
        await wait_until(lambda: len(jobs.of_user(UKSSDC_USER)) >= events, timeout=120)
        await asyncio.sleep(LEASE_S + 1.0)  # nothing more comes (a late takeover, a repeat)
        for d in daemons:
            assert await d.stop() == 0
    finally:
        release(daemons)
    posts = len([r for r in emulator.swift.received if r.api == "/swift/too"])
    names = [j.name for j in jobs.of_user(UKSSDC_USER)]
    with psycopg.connect(url, password=PG_PASSWORD) as conn:
        inbox = dict(conn.execute("SELECT status, count(*) FROM inbox GROUP BY status").fetchall())
        states = dict(
            conn.execute("SELECT state, count(*) FROM submissions GROUP BY state").fetchall()
        )
    chaos_record(
        "instances",
        events=events,
        faults=done,
        toos=toos(),
        posts=posts,
        xrt_jobs=len(names),
        seconds=round(time.monotonic() - began, 1),
    )
    context = f"seed {chaos_seed}, faults {done}"
    assert (toos(), posts) == (events, events), context
    assert len(names) == len(set(names)) == events, context
    assert inbox == {"processed": events}, (inbox, context)
    assert set(states) <= {"submitted", "tracking", "done"}, (states, context)
