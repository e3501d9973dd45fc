"""`autotoo status` about a real daemon subprocess: running, killed with -9, stopped cleanly,
and each source's health, read from the store by another process as a person would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.fixtures.notify import NotifySocket

CONFIG = """\
mode: dry-run
state: sqlite:///{state}
rules: []
admin: {{enabled: false}}
log: {{format: json}}
sources:
  - {{kind: directory, name: drop, path: "{spool}", poll_interval: 0.2s}}
"""


def _start(tmp_path: Path, notify: NotifySocket) -> subprocess.Popen[str]:
    (tmp_path / "spool").mkdir(exist_ok=True)
    config = tmp_path / "autotoo.yaml"
    config.write_text(CONFIG.format(state=tmp_path / "state.db", spool=tmp_path / "spool"))
    env = {**os.environ, "NOTIFY_SOCKET": str(notify.path)}
    return subprocess.Popen(
        [sys.executable, "-m", "autotoo", "run", "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )


def _status(tmp_path: Path) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "autotoo", "status", "--db", str(tmp_path / "state.db")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return proc.stdout


def _line(out: str, head: str) -> str:
    return next(line for line in out.splitlines() if line.startswith(head))


def test_status_knows_at_once_that_a_killed_daemon_is_gone(
    tmp_path: Path, notify_socket: NotifySocket
) -> None:
    proc = _start(tmp_path, notify_socket)
    try:
        notify_socket.wait_for("READY=1")
        out = _status(tmp_path)
        assert _line(out, "daemon ").startswith(f"daemon       running (pid {proc.pid})"), out
        assert _line(out, "source ") == "source       drop (directory): connected; 0 messages", out
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        # at once, not after the 30 s it takes the heartbeat to go stale
        out = _status(tmp_path)
        daemon = _line(out, "daemon ")
        assert daemon.startswith(f"daemon       NOT RUNNING: process {proc.pid} is gone"), out
        assert "(as of the last heartbeat)" in _line(out, "source ")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_status_says_a_cleanly_stopped_daemon_stopped(
    tmp_path: Path, notify_socket: NotifySocket
) -> None:
    proc = _start(tmp_path, notify_socket)
    try:
        notify_socket.wait_for("READY=1")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    out = _status(tmp_path)
    assert _line(out, "daemon ").startswith("daemon       stopped (cleanly, at "), out
