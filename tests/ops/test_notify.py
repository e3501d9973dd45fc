"""The notify protocol against real Unix datagram sockets: our ``Notifier`` alone, the
supervisor's liveness check gating WATCHDOG=1, and the real daemon process."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from autotoo.admin import AdminServer
from autotoo.demo import free_port
from autotoo.supervisor import Supervisor
from autotoo.systemd import Notifier, status_line
from tests.fixtures.notify import NotifySocket
from tests.fixtures.runtime import bare_runtime, no_reload


def test_every_message_arrives_as_one_datagram(notify_socket: NotifySocket) -> None:
    notifier = Notifier({"NOTIFY_SOCKET": str(notify_socket.path), "WATCHDOG_USEC": "30000000"})
    assert notifier.enabled
    assert notifier.watchdog_interval == 15.0
    assert notifier.ready("live; 1/1 sources connected")
    assert notifier.reloading()
    assert notifier.status("reloaded")
    assert notifier.watchdog()
    assert notifier.stopping()
    got = notify_socket.wait_for("STOPPING=1")
    assert got == [
        "READY=1\nSTATUS=live; 1/1 sources connected",
        "RELOADING=1\nSTATUS=reloading configuration",
        "STATUS=reloaded",
        "WATCHDOG=1",
        "STOPPING=1\nSTATUS=stopping",
    ]


@pytest.fixture
def abstract_socket() -> Iterator[tuple[str, socket.socket]]:
    name = f"autotoo-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(5)
    yield "@" + name, sock
    sock.close()


def test_abstract_namespace_socket(abstract_socket: tuple[str, socket.socket]) -> None:
    address, sock = abstract_socket
    assert Notifier({"NOTIFY_SOCKET": address}).ready("up")
    assert sock.recv(4096) == b"READY=1\nSTATUS=up"


def test_outside_systemd_nothing_is_sent() -> None:
    notifier = Notifier({})
    assert not notifier.enabled
    assert notifier.watchdog_interval is None
    assert not notifier.ready("up")


def test_a_vanished_socket_is_not_an_error(tmp_path: Path) -> None:
    assert not Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")}).watchdog()


def test_a_receiver_that_stopped_reading_never_blocks_us(notify_socket: NotifySocket) -> None:
    """The notifier runs on the event loop: a full receiver queue must drop the datagram,
    not block (the latency bench's daemon froze ~2 minutes in, when its NOTIFY_SOCKET had
    stopped being read and ~10 heartbeats filled the queue)."""
    notifier = Notifier({"NOTIFY_SOCKET": str(notify_socket.path)})
    sent: list[bool] = []
    sender = threading.Thread(
        target=lambda: sent.extend(notifier.status(f"heartbeat {i}") for i in range(1000)),
        daemon=True,  # a blocking send would hang it for good
    )
    sender.start()
    sender.join(30)  # not a timing: 1,000 non-blocking sends take milliseconds
    assert not sender.is_alive(), "a notify call blocked on a receiver that does not read"
    assert sent[0] is True
    assert sent[-1] is False  # the queue is full: dropped, not waited for
    notify_socket.sock.settimeout(0.2)
    assert notify_socket.sock.recv(65536) == b"STATUS=heartbeat 0"  # the earliest arrived


def test_watchdog_meant_for_another_process_is_ignored(notify_socket: NotifySocket) -> None:
    env = {"NOTIFY_SOCKET": str(notify_socket.path), "WATCHDOG_USEC": "2000000"}
    assert Notifier({**env, "WATCHDOG_PID": str(os.getpid())}).watchdog_interval == 1.0
    assert Notifier({**env, "WATCHDOG_PID": str(os.getpid() + 1)}).watchdog_interval is None


def test_status_line_reads_like_a_sentence() -> None:
    counts = {
        "inbox": {"new": 2, "processed": 9},
        "submissions": {
            "swift_too:tracking": 1,
            "ukssdc_xrt:submitted": 1,
            "swift_too:needs_human": 1,
        },
    }
    line = status_line(mode="live", rules=6, connected=1, sources=2, counts=counts)
    assert line == (
        "live; 1/2 sources connected; 6 rules; 2 alerts waiting; 2 in flight; 1 needs a human"
    )
    # one of each is singular ("1 sources" was printed before)
    counts["inbox"]["new"] = 1
    counts["submissions"]["ukssdc_xrt:needs_human"] = 1
    line = status_line(mode="live", rules=1, connected=1, sources=1, counts=counts)
    assert line == (
        "live; 1/1 source connected; 1 rule; 1 alert waiting; 2 in flight; 2 need a human"
    )


async def _get_json(admin: AdminServer, path: str) -> tuple[int, str, list[str]]:
    async with (
        aiohttp.ClientSession() as session,
        asyncio.timeout(10),
        session.get(f"http://127.0.0.1:{admin.bound_port}{path}") as reply,
    ):
        body = await reply.json()
        return reply.status, body["status"], body["problems"]


async def _drain(sock: NotifySocket) -> None:
    """Read whatever has arrived (the socket is read only while someone waits on it)."""
    with pytest.raises(AssertionError):
        await asyncio.to_thread(sock.wait_for, "never sent", 0.4)


class _Steady:
    """A component that runs until cancelled, as every real one does."""

    intake = False

    def __init__(self, name: str) -> None:
        self.name = name
        self.quit = asyncio.Event()

    async def run(self) -> None:
        await self.quit.wait()  # returning is the failure the liveness check must catch


async def test_watchdog_pings_stop_when_a_component_stops(
    tmp_path: Path, notify_socket: NotifySocket
) -> None:
    async with bare_runtime(tmp_path / "state.db") as runtime:
        worker, other = _Steady("worker"), _Steady("other")
        notifier = Notifier({"NOTIFY_SOCKET": str(notify_socket.path), "WATCHDOG_USEC": "400000"})

        loop = asyncio.get_running_loop()
        admin = AdminServer(
            "127.0.0.1",
            0,
            mode=lambda: "dry-run",
            heartbeat_age=lambda: loop.time() - runtime.heartbeat_at,
            stored_age=lambda: loop.time() - runtime.stored_at,
            sources=list,
            problems=lambda: runtime.live_problems,
        )
        components = [worker, other, admin]
        supervisor = Supervisor(runtime, components, reloader=no_reload, notifier=notifier)
        task = asyncio.create_task(supervisor.run())
        await asyncio.to_thread(notify_socket.wait_for, "WATCHDOG=1", 10, 3)
        assert supervisor.liveness() == []
        assert await _get_json(admin, "/healthz") == (200, "ok", [])
        assert await runtime.repo.get_meta("heartbeat") is not None
        ready = next(m for m in notify_socket.messages if m.startswith("READY=1"))
        assert "STATUS=dry-run" in ready

        # a store that cannot be written (here: another writer holds it) stops the pings
        async with runtime.db.transaction():
            await _drain(notify_socket)  # a ping sent just before the lock was taken
            before = notify_socket.messages.count("WATCHDOG=1")
            await asyncio.sleep(1.2)  # six heartbeat intervals
            await _drain(notify_socket)
            assert notify_socket.messages.count("WATCHDOG=1") == before
        await asyncio.to_thread(notify_socket.wait_for, "WATCHDOG=1", 5, before + 2)

        worker.quit.set()
        await asyncio.to_thread(notify_socket.wait_for, "STATUS=component worker stopped", 10)
        pings = notify_socket.messages.count("WATCHDOG=1")
        await asyncio.sleep(1.0)  # five heartbeat intervals
        await asyncio.to_thread(notify_socket.wait_for, "STATUS=component worker stopped", 5, 2)
        assert notify_socket.messages.count("WATCHDOG=1") == pings
        assert runtime.live_problems == ["component worker stopped"]
        assert await _get_json(admin, "/healthz") == (503, "stale", ["component worker stopped"])
        assert await _get_json(admin, "/readyz") == (503, "not ready", ["component worker stopped"])

        supervisor.request_stop()
        async with asyncio.timeout(10):
            await task
        notify_socket.wait_for("STOPPING=1", 5)


def test_daemon_pings_the_watchdog_and_says_what_it_does(
    tmp_path: Path, notify_socket: NotifySocket
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    port = free_port()
    config = tmp_path / "autotoo.yaml"
    config.write_text(
        f"state: sqlite:///{tmp_path / 'state.db'}\nrules: []\n"
        f"admin: {{listen: '127.0.0.1:{port}'}}\n"
        f"sources: [{{kind: directory, name: spool, path: {spool}}}]\nlog: {{format: json}}\n"
    )
    env = {**os.environ, "NOTIFY_SOCKET": str(notify_socket.path), "WATCHDOG_USEC": "1000000"}
    env.pop("WATCHDOG_PID", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "autotoo", "run", "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        cwd=tmp_path,
    )
    try:
        notify_socket.wait_for("READY=1", 60)
        # READY=1 means the admin server listens: one request, no retry
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as reply:
            assert json.loads(reply.read())["status"] == "ok"
        notify_socket.wait_for("WATCHDOG=1", 10, count=3)  # every 0.5 s: half of WATCHDOG_USEC
        statuses = [
            line for m in notify_socket.messages for line in m.splitlines() if "STATUS=" in line
        ]
        assert "STATUS=dry-run; 1/1 source connected; 0 rules; 0 in flight" in statuses
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    notify_socket.wait_for("STOPPING=1", 5)
