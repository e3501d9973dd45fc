"""The daemon on a PostgreSQL state: an alert through to one TOO at the Swift emulator and
its XRT products at the UKSSDC emulator, and the same alert after a restart sends nothing
again (the idempotency key's UNIQUE constraint, on the server)."""

from __future__ import annotations

import asyncio

import psycopg

from tests.chaos.streams import EP_TOPIC, RULES, ep_alert, tune
from tests.fixtures.daemon import DaemonHarness, StatusCollector, publish
from tests.fixtures.mosquitto import Broker
from tests.fixtures.postgres import PG_PASSWORD, PgCluster


async def test_an_alert_becomes_one_too_with_its_products_on_postgresql(
    make_emulator, mosquitto: Broker, daemon_factory, postgres_cluster: PgCluster
) -> None:
    url = postgres_cluster.new_database()
    emulator = await make_emulator(speed=20_000)
    daemon: DaemonHarness = daemon_factory(broker_port=mosquitto.port, emulator_root=emulator.root)
    daemon.configure(RULES, too_per_day=10)
    tune(daemon.config, store={"password_file": str(postgres_cluster.password_file)})
    tune(daemon.config, state=url)
    async with StatusCollector(mosquitto.port) as status:
        await daemon.start()
        await publish(mosquitto.port, EP_TOPIC, ep_alert(7_022))
        await status.wait_for(
            lambda: bool(
                status.actions(rule="ep-fast", action="xrt_products", state="complete", reason=None)
            ),
            timeout=90,
        )
        assert await daemon.stop() == 0
        await daemon.start()  # the same alert again, after a restart: nothing new is sent
        await publish(mosquitto.port, EP_TOPIC, ep_alert(7_022))
        await status.wait_for(
            lambda: any(e.get("event") == "duplicate ignored" for e in daemon.logs()), timeout=30
        )
        await asyncio.sleep(1.0)  # anything it would plan is due at once
        assert await daemon.stop() == 0
    assert len(emulator.swift.toos) == 1
    assert not (daemon.workdir / "state.db").exists()  # nothing went to a SQLite file
    with psycopg.connect(url, password=PG_PASSWORD) as conn:
        rows = conn.execute(
            "SELECT api, state FROM submissions WHERE rule = 'ep-fast' ORDER BY id"
        ).fetchall()
        inbox = conn.execute("SELECT count(*) FROM inbox").fetchone()
    assert rows == [("swift_too", "done"), ("ukssdc_xrt", "done")]
    assert inbox == (1,)  # stored once
    logs = daemon.logs()
    assert [e["state"] for e in logs if "state" in e and "config" in e] == [url, url]
    assert all(PG_PASSWORD not in str(e) for e in logs)
