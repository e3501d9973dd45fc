"""Two real daemons on one PostgreSQL database: each one's dashboard (``/api/status`` and the
page), ``/metrics`` and ``autotoo status`` list both instances with their heartbeat, their
live leases and whether they are live; one is SIGKILLed in the middle of a POST and is shown
holding its lease at once, then stale (its lease gone) once the lease has run out."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from autotoo.emulators.app import create_app
from autotoo.emulators.clock import SimClock
from autotoo.emulators.sky import Sky
from tests.chaos.streams import EP_TOPIC, RULES, ep_alert, tune
from tests.daemon.instances import rows_in_post, slow_swift
from tests.daemon.test_postgres_daemon import _cli
from tests.fixtures.browser import dump_dom
from tests.fixtures.daemon import DaemonHarness, publish
from tests.fixtures.mosquitto import Broker, free_ports
from tests.fixtures.postgres import PgCluster
from tests.pipeline.test_exactly_once import served

LEASE_S = 4.0


async def _get(port: int, path: str) -> Any:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}{path}", timeout=aiohttp.ClientTimeout(10)) as reply,
    ):
        assert reply.status == 200, await reply.text()
        return await reply.json() if path.startswith("/api/") else await reply.text()


async def _instances(port: int) -> dict[int, dict[str, Any]]:
    """The dashboard's instances by pid."""
    status = await _get(port, "/api/status")
    return {i["pid"]: i for i in status["instances"]}


async def _metrics(port: int) -> dict[tuple[str, str], float]:
    """The per-instance gauges of ``/metrics``, by (name, instance id)."""
    text = await _get(port, "/metrics")
    assert "autotoo_submissions{" in text  # this process's metrics are all still there
    return {
        (s.name, s.labels["instance_id"]): s.value
        for family in text_string_to_metric_families(text)
        if family.name.startswith("autotoo_instance_")
        for s in family.samples
    }


async def test_every_instance_in_status_dashboard_and_metrics(
    mosquitto: Broker, daemon_factory, postgres_cluster: PgCluster, tmp_path: Path
) -> None:
    url = postgres_cluster.new_database()
    sky = Sky(SimClock(speed=20_000))
    app = create_app(sky=sky)
    app.middlewares.append(slow_swift(1.5))  # a POST lasts long enough to be killed in it
    emulator = await served(app, sky)
    ports = free_ports(2)
    daemons: list[DaemonHarness] = []
    for port in ports:
        d: DaemonHarness = daemon_factory(broker_port=mosquitto.port, emulator_root=emulator.root)
        d.configure(RULES, too_per_day=1000)
        tune(d.config, state=url, admin={"enabled": True, "listen": f"127.0.0.1:{port}"})
        tune(
            d.config,
            store={"password_file": str(postgres_cluster.password_file), "lease": f"{LEASE_S}s"},
        )
        tune(d.config, swift={"timeout": "20s"})
        daemons.append(d)
    for d in daemons:
        await d.start()
    pids = [d.proc.pid for d in daemons if d.proc is not None]
    try:
        # beats are more frequent than the lease: both stay live, each marks itself
        await asyncio.sleep(LEASE_S + 1)
        for port, pid in zip(ports, pids, strict=True):
            seen = await _instances(port)
            assert set(seen) == set(pids), seen
            assert all(i["state"] == "live" for i in seen.values()), seen
            assert [p for p, i in seen.items() if i["this"]] == [pid], seen

        await publish(mosquitto.port, EP_TOPIC, ep_alert(9_000))
        began = time.monotonic()
        while not (sending := await asyncio.to_thread(rows_in_post, url)):
            assert time.monotonic() - began < 30, "the TOO was never being sent"
            await asyncio.sleep(0.02)
        [(_, victim_pid)] = sending
        victim = daemons[pids.index(victim_pid)]
        survivor_pid = next(p for p in pids if p != victim_pid)
        port = ports[pids.index(survivor_pid)]
        victim.proc.send_signal(signal.SIGKILL)  # type: ignore[union-attr]
        killed_at = time.monotonic()
        seen = await _instances(port)
        # at once: its lease is live (it may still be sending, for all anyone knows)
        assert time.monotonic() - killed_at < LEASE_S - 1.5, "too slow to see the lease"
        assert seen[victim_pid]["leases"] == 1, seen

        await asyncio.sleep(max(0.0, killed_at + LEASE_S + 0.5 - time.monotonic()))
        seen = await _instances(port)
        dead, alive = seen[victim_pid], seen[survivor_pid]
        assert (dead["state"], dead["leases"], dead["this"]) == ("stale", 0, False), dead
        assert dead["heartbeat_age_s"] >= LEASE_S, dead
        assert (alive["state"], alive["this"]) == ("live", True), alive
        assert alive["heartbeat_age_s"] < LEASE_S, alive

        gauges = await _metrics(port)
        assert gauges[("autotoo_instance_up", dead["id"])] == 0
        assert gauges[("autotoo_instance_up", alive["id"])] == 1
        assert gauges[("autotoo_instance_leases", dead["id"])] == 0
        assert gauges[("autotoo_instance_heartbeat_age_seconds", dead["id"])] >= LEASE_S
        assert gauges[("autotoo_instance_heartbeat_age_seconds", alive["id"])] < LEASE_S

        survivor = daemons[pids.index(survivor_pid)]
        code, text = await _cli(["status", "--json", "-c", str(survivor.config)])
        assert code == 0, text
        listed = {i["pid"]: i for i in json.loads(text)["instances"]}
        assert (listed[victim_pid]["state"], listed[victim_pid]["leases"]) == ("stale", 0)
        assert listed[survivor_pid]["state"] == "live"
        code, text = await _cli(["status", "-c", str(survivor.config)])
        lines = [line for line in text.splitlines() if line.startswith("instance ")]
        assert any(f":{victim_pid}:" in line and "STALE" in line for line in lines), text
        assert any(f":{survivor_pid}:" in line and "live" in line for line in lines), text

        dom = await asyncio.to_thread(
            dump_dom, f"http://127.0.0.1:{port}/", tmp_path / "chromium-profile"
        )
        rows = dom.split('<table id="instances">', 1)[1].split("</table>", 1)[0]
        assert rows.count('<tr class="instance') == 2, rows
        assert f'data-pid="{victim_pid}"' in rows and "stale" in rows, rows
        assert "this instance" in rows, rows
        assert await survivor.stop() == 0
    finally:
        for d in daemons:
            if d.proc is not None and d.proc.poll() is None:
                await d.kill()
