"""The state filesystem fills up while the daemon runs (issue 16, item 3).

The real daemon keeps its state on a small real tmpfs (3 MiB); alerts flow over a real
mosquitto and over HTTP; a filler file takes every free block for a while, then is removed,
``AUTOTOO_CHAOS_DISK_EPISODES`` times. During each episode: the process stays up, HTTP
answers 503 with ``Retry-After``, ``/readyz`` is 503 and names the full disk, and a
``needs_human`` status message about the daemon reaches MQTT (publishing needs no disk).
Afterwards every alert published (over MQTT, and over HTTP by a client that sends again
after a 503) is in the inbox once and evaluated, and the TOOs and XRT jobs are exactly one
per matching event. The second test stops the daemon while the disk is full, frees it, and
starts it again on the same state.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from tests.chaos.conftest import Record, scale
from tests.chaos.state_fs import fill, tmpfs
from tests.chaos.streams import EP_TOPIC, RULES, Stream, ep_alert, finish, make_stream, tune
from tests.chaos.streams import verify as verify_stream
from tests.chaos.test_broker import ReconnectingCollector, publish_until_acked
from tests.fixtures.daemon import DaemonHarness
from tests.fixtures.mosquitto import free_port

TOKEN = "disk-full-token"
HTTP_TOPIC = EP_TOPIC.replace("/", ".")


class Episode:
    """What one disk-full episode showed."""

    def __init__(self) -> None:
        self.http_503: int = 0
        self.retry_after: set[str] = set()
        self.readyz: dict[str, Any] = {}
        self.readyz_status = 0
        self.status: subprocess.CompletedProcess[str] | None = None
        self.notified: list[str] = []  # what reached NOTIFY_SOCKET during the episode
        self.metrics = ""


def setup(daemon: DaemonHarness, port: int) -> None:
    """State on the tmpfs, an HTTP source and the admin server on ``port``."""
    daemon.state = daemon.workdir / "state" / "state.db"
    daemon.configure(RULES, too_per_day=1000)
    (daemon.workdir / "ingest-token").write_text(TOKEN + "\n")
    tune(
        daemon.config,
        pipeline={"reconcile_delay": "0.5s", "retry_not_sent": "0.5s"},
        admin={"enabled": True, "listen": f"127.0.0.1:{port}"},
    )
    data = yaml.safe_load(daemon.config.read_text())
    data["sources"].append(
        {"kind": "http", "name": "web", "token_file": str(daemon.workdir / "ingest-token")}
    )
    daemon.config.write_text(yaml.safe_dump(data, sort_keys=False))


async def post_until_stored(
    session: aiohttp.ClientSession, port: int, raw: bytes, refused: Callable[[str], None]
) -> None:
    """A well-behaved HTTP client: on 503 it waits ``Retry-After`` and sends again."""
    url = f"http://127.0.0.1:{port}/alerts?topic={HTTP_TOPIC}"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    while True:
        try:
            async with session.post(url, data=raw, headers=headers) as reply:
                if reply.status == 202:
                    return
                assert reply.status == 503, reply.status
                retry = reply.headers.get("Retry-After", "")
                refused(retry)
                await asyncio.sleep(min(float(retry or 1), 2.0))
        except aiohttp.ClientConnectionError:
            await asyncio.sleep(0.5)  # between a stop and a start


async def http_stream(
    session: aiohttp.ClientSession, port: int, numbers: list[int], refused: Callable[[str], None]
) -> None:
    for number in numbers:
        await post_until_stored(session, port, ep_alert(number, error=0.9), refused)
        await asyncio.sleep(0.05)


async def readyz(session: aiohttp.ClientSession, port: int) -> tuple[int, dict[str, Any]]:
    async with session.get(f"http://127.0.0.1:{port}/readyz") as reply:
        return reply.status, await reply.json()


async def resumed(session: aiohttp.ClientSession, port: int, timeout: float = 30) -> float:
    """Seconds until /readyz says the store writes again (the daemon resumed by itself)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while True:
        status, body = await readyz(session, port)
        if body.get("storage") == "ok" and body.get("store_writable"):
            return loop.time() - start
        assert loop.time() - start < timeout, f"not resumed within {timeout} s: {status} {body}"
        await asyncio.sleep(0.2)


async def full_episode(
    daemon: DaemonHarness,
    session: aiohttp.ClientSession,
    port: int,
    seconds: float,
    episode: Episode,
) -> None:
    """Take every free block for ``seconds``; look at the daemon meanwhile."""
    filler = daemon.state.parent / "filler"
    drain_notify(daemon)
    await asyncio.to_thread(fill, filler)
    deadline = asyncio.get_running_loop().time() + seconds
    probe = 0
    while asyncio.get_running_loop().time() < deadline:
        assert daemon.proc is not None and daemon.proc.poll() is None, "the daemon exited"
        # A sentinel post: the WAL may hold a few writes, then the store refuses.
        url = f"http://127.0.0.1:{port}/alerts?topic={HTTP_TOPIC}"
        probe += 1
        async with session.post(
            url,
            data=ep_alert(900_000 + probe, error=0.9),
            headers={"Authorization": f"Bearer {TOKEN}", "X-Alert-Id": f"probe-{probe}"},
        ) as reply:
            if reply.status == 503:
                episode.http_503 += 1
                episode.retry_after.add(reply.headers.get("Retry-After", ""))
        status, body = await readyz(session, port)
        if status == 503 and body.get("storage", "ok") != "ok":
            episode.readyz_status, episode.readyz = status, body
            async with session.get(f"http://127.0.0.1:{port}/metrics") as reply:
                episode.metrics = await reply.text()
        await asyncio.sleep(0.2)
    # `autotoo status` reads the store on the full disk, and says what is wrong.
    episode.status = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "autotoo", "status", "--db", str(daemon.state)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    episode.notified = drain_notify(daemon)
    await asyncio.to_thread(filler.unlink)


def drain_notify(daemon: DaemonHarness) -> list[str]:
    """Every datagram the daemon sent to its NOTIFY_SOCKET since the last drain."""
    assert daemon.notify is not None
    sock, lines = daemon.notify.sock, []
    sock.setblocking(False)
    try:
        while True:
            try:
                lines.append(sock.recv(65536).decode())
            except BlockingIOError:
                return lines
    finally:
        sock.settimeout(0.2)


def evaluated_once(state: Path) -> list[str]:
    """Every inbox row evaluated exactly once (one alert row, or marked unparsed)."""
    with contextlib.closing(sqlite3.connect(f"file:{state}?mode=ro", uri=True)) as db:
        rows = db.execute(
            "SELECT i.id, i.status, count(a.id) FROM inbox i "
            "LEFT JOIN alerts a ON a.inbox_id = i.id GROUP BY i.id"
        ).fetchall()
    return [f"inbox {i} {state} has {n} alerts" for i, state, n in rows if n > 1 or state == "new"]


def http_digests(numbers: list[int]) -> set[str]:
    return {hashlib.sha256(ep_alert(n, error=0.9)).hexdigest() for n in numbers}


def only_ours(violations: list[str]) -> list[str]:
    """verify() wants the inbox to equal the MQTT stream; here HTTP adds alerts of its own
    (checked apart: every one stored, none lost)."""
    return [v for v in violations if v != "inbox differs from the published alerts"]


def inbox_digests(state: Path) -> set[str]:
    with contextlib.closing(sqlite3.connect(f"file:{state}?mode=ro", uri=True)) as db:
        return {row[0] for row in db.execute("SELECT digest FROM inbox")}


async def test_disk_full_while_alerts_flow(
    tmp_path: Path,
    make_emulator: Any,
    mosquitto_factory: Any,
    daemon_factory: Any,
    chaos_seed: int,
    chaos_record: Record,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = random.Random(chaos_seed)
    episodes = scale("disk_episodes", 1)
    # As under systemd's WatchdogSec=2: a ping every second while the liveness check passes.
    monkeypatch.setenv("WATCHDOG_USEC", "2000000")
    emulator = await make_emulator(speed=20_000)
    broker = mosquitto_factory()
    daemon: DaemonHarness = daemon_factory(broker_port=broker.port, emulator_root=emulator.root)
    port = free_port()
    setup(daemon, port)
    stream: Stream = make_stream(rng, fast=scale("fast_events", 3), settled=1, ignored=2)
    http_numbers = [800_000 + chaos_seed % 1000 * 100 + i for i in range(12 * episodes)]
    refused: list[str] = []
    seen: list[Episode] = []
    with tmpfs(daemon.state.parent, "3m"):
        async with (
            ReconnectingCollector(broker.port) as status,
            aiohttp.ClientSession() as session,
        ):
            await daemon.start()
            mqtt = asyncio.create_task(publish_until_acked(broker.port, stream, rng))
            http = asyncio.create_task(http_stream(session, port, http_numbers, refused.append))
            for _ in range(episodes):
                await asyncio.sleep(rng.uniform(0.5, 2.0))
                episode = Episode()
                await full_episode(daemon, session, port, rng.uniform(3.0, 5.0), episode)
                seen.append(episode)
            await asyncio.wait_for(asyncio.gather(mqtt, http), 120)
            resumed_after = await resumed(session, port)
            assert daemon.proc is not None and daemon.proc.poll() is None, "the daemon exited"
            unfinished = await finish(status, stream, daemon, timeout=120)
        exit_code = daemon.proc.returncode
        counts, violations = verify_stream(emulator, daemon.state, status, stream)
        wanted = http_digests(http_numbers) | stream.distinct
        lost_http = wanted - inbox_digests(daemon.state)
        violations = only_ours(violations) + unfinished + evaluated_once(daemon.state)
    daemon_notices = status.actions(action="daemon")
    chaos_record(
        "state filesystem full while running",
        disk_full_episodes=episodes,
        exits=int(exit_code != 0),
        lost_alerts=len(lost_http),
        http_503_during_episodes=sum(e.http_503 for e in seen),
        http_client_resends=len(refused),
        resumed_after_last_episode_s=round(resumed_after, 1),
        daemon_needs_human_notices=sum(1 for m in daemon_notices if m["state"] == "needs_human"),
        violations=violations,
        **counts,
    )
    assert violations == []
    assert not lost_http
    for episode in seen:
        assert episode.http_503 > 0, "HTTP intake never answered 503 while the disk was full"
        assert episode.retry_after and all(r.isdigit() for r in episode.retry_after)
        assert episode.readyz_status == 503
        assert "database or disk is full" in episode.readyz["storage"]
        assert episode.readyz["store_writable"] is False
        assert "\nautotoo_store_writable 0.0\n" in episode.metrics
        assert episode.status is not None
        assert episode.status.returncode == 0, episode.status.stderr
        assert "STORAGE FULL" in episode.status.stdout, episode.status.stdout
        # systemd would not restart it: the pings go on, and STATUS= says why.
        pings = sum("WATCHDOG=1" in m.splitlines() for m in episode.notified)
        assert pings >= 2, episode.notified
        paused = "STATUS=intake paused, the state store cannot write"
        assert any(paused in m for m in episode.notified), episode.notified
    # One needs_human per outage the daemon saw, each followed by 'resumed' (episodes close
    # together may be one outage to the daemon: it resumes once space stays free).
    states = [m["state"] for m in daemon_notices]
    assert states and states == ["needs_human", "resumed"] * (len(states) // 2), states


@pytest.mark.parametrize("stop", ["sigterm", "sigkill"])
async def test_restart_after_the_full_disk_was_freed(
    stop: str,
    tmp_path: Path,
    make_emulator: Any,
    mosquitto_factory: Any,
    daemon_factory: Any,
    chaos_seed: int,
    chaos_record: Record,
) -> None:
    """Stopped (SIGTERM, or SIGKILL) while the disk is full, started again once it was freed:
    it reaches READY on the same state and works through everything, the MQTT alerts the
    broker held and the HTTP alerts a client sends again after its 503s."""
    rng = random.Random(chaos_seed)
    emulator = await make_emulator(speed=20_000)
    broker = mosquitto_factory()
    daemon: DaemonHarness = daemon_factory(broker_port=broker.port, emulator_root=emulator.root)
    port = free_port()
    setup(daemon, port)
    stream = make_stream(rng, fast=2, settled=1, ignored=2)
    http_numbers = [700_000 + chaos_seed % 1000 * 100 + i for i in range(10)]
    with tmpfs(daemon.state.parent, "3m"):
        async with (
            ReconnectingCollector(broker.port) as status,
            aiohttp.ClientSession() as session,
        ):
            await daemon.start()
            http = asyncio.create_task(http_stream(session, port, http_numbers, lambda _: None))
            mqtt = asyncio.create_task(publish_until_acked(broker.port, stream, rng))
            await asyncio.sleep(1.0)
            filler = daemon.state.parent / "filler"
            await asyncio.to_thread(fill, filler)
            await asyncio.sleep(2.0)
            if stop == "sigterm":
                stopped = await daemon.stop()
            else:
                await daemon.kill()
                stopped = 0
            await asyncio.to_thread(filler.unlink)
            await daemon.start()  # READY=1 within 60 s, or this raises
            await asyncio.wait_for(asyncio.gather(mqtt, http), 120)
            unfinished = await finish(status, stream, daemon, timeout=120)
        counts, violations = verify_stream(emulator, daemon.state, status, stream)
        wanted = http_digests(http_numbers) | stream.distinct
        lost_http = wanted - inbox_digests(daemon.state)
        violations = only_ours(violations) + unfinished + evaluated_once(daemon.state)
    chaos_record(
        f"restart after the full state filesystem was freed ({stop})",
        exits=int(stopped != 0),
        lost_alerts=len(lost_http),
        violations=violations,
        **counts,
    )
    assert stopped == 0
    assert violations == []
    assert not lost_http
