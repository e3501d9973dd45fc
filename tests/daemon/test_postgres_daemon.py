"""The daemon on a PostgreSQL state: an alert through to one TOO at the Swift emulator and
its XRT products at the UKSSDC emulator, and the same alert after a restart sends nothing
again (the idempotency key's UNIQUE constraint, on the server)."""

from __future__ import annotations

import asyncio
import contextlib
import io

import psycopg

from autotoo.cli import main
from autotoo.dashboard import transients as dashboard_transients
from autotoo.metrics import Metrics
from autotoo.store.postgres import open_postgresql
from autotoo.store.repository import Repository
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
    # The read models of the CLI and the dashboard, on the same store.
    config = ["-c", str(daemon.config)]
    for argv, expect in (
        (["status"], f"state        {url}"),
        (["jobs", "list"], "ep-fast"),
        (["alerts", "list"], "einstein_probe"),
        (["transients", "list"], "T:"),
    ):
        code, text = await _cli([*argv, *config])
        assert code == 0 and expect in text, (argv, text)
    key = text.splitlines()[1].split()[1]  # the first transient's key (T:mission:event)
    code, text = await _cli(["transients", "show", key, *config])
    assert code == 0 and "observed" in text, text
    db = await open_postgresql(url, str(postgres_cluster.password_file))
    try:
        repo = Repository(db)
        assert (await dashboard_transients.recent(repo))[0]["key"] == key
        assert await dashboard_transients.timeline(repo, key) is not None
        assert b"autotoo_submissions" in await Metrics(repo).render()
    finally:
        await db.close()
    logs = daemon.logs()
    assert [e["state"] for e in logs if "state" in e and "config" in e] == [url, url]
    assert all(PG_PASSWORD not in str(e) for e in logs)


async def _cli(argv: list[str]) -> tuple[int, str]:
    def run() -> tuple[int, str]:
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            code = main(argv)
        return code, out.getvalue()

    return await asyncio.to_thread(run)  # the CLI runs its own event loop
