"""`autotoo run` as a real subprocess: READY, SIGHUP reload (valid and invalid), SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from tests.fixtures.notify import NotifySocket

VALID = (
    "mode: dry-run\nstate: sqlite:///{state}\nadmin: {{enabled: false}}\nlog: {{format: json}}\n"
)


def _start(config: Path, notify: NotifySocket, tmp_path: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "NOTIFY_SOCKET": str(notify.path), "CREDENTIALS_DIRECTORY": str(tmp_path)}
    return subprocess.Popen(
        [sys.executable, "-m", "autotoo", "run", "-c", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _json_lines(stdout: str) -> list[dict[str, object]]:
    events = []
    for line in stdout.splitlines():
        assert line.startswith("<"), line  # journald priority marker first
        events.append(json.loads(line[line.index(">") + 1 :]))
    return events


def test_run_reload_and_stop(tmp_path: Path, notify_socket: NotifySocket) -> None:
    config = tmp_path / "autotoo.yaml"
    config.write_text(VALID.format(state=tmp_path / "state.db"))
    proc = _start(config, notify_socket, tmp_path)
    try:
        notify_socket.wait_for("READY=1")
        # an invalid config on SIGHUP is refused and the daemon keeps running
        config.write_text("mode: sometimes\n")
        proc.send_signal(signal.SIGHUP)
        notify_socket.wait_for("RELOADING=1")
        notify_socket.wait_for("READY=1", count=2)  # READY=1 again after the refused reload
        assert proc.poll() is None
        # a valid one is taken; the budget applies now, the log level only after a restart
        config.write_text(
            VALID.format(state=tmp_path / "state.db").replace(
                "log: {format: json}", "log: {format: json, level: debug}"
            )
            + "budgets: {too_per_day: 3}\n"
        )
        proc.send_signal(signal.SIGHUP)
        notify_socket.wait_for("READY=1", count=3)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    notify_socket.wait_for("STOPPING=1", timeout=5)
    events = _json_lines(out)
    names = [e["event"] for e in events]
    assert names[0] == "autotoo starting"
    assert events[0]["mode"] == "dry-run"
    refused = [
        e for e in events if e["event"] == "reload refused; keeping the running configuration"
    ]
    assert refused, names
    assert "mode" in str(refused[0]["problems"])
    assert "stopped" in names
    later = [
        e for e in events if e["event"] == "reloaded; these changes take effect at the next restart"
    ]
    assert [e["sections"] for e in later] == [["log"]]
    assert (tmp_path / "state.db").exists()


def test_bad_config_exits_78_before_anything_starts(tmp_path: Path) -> None:
    config = tmp_path / "autotoo.yaml"
    config.write_text("mode: dry-run\nbudgets: {too_per_day: lots}\nstate: sqlite:///x.db\n")
    proc = subprocess.run(
        [sys.executable, "-m", "autotoo", "run", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 78
    assert f"{config}:2:24: budgets.too_per_day: Input should be a valid integer" in proc.stderr
    assert not (tmp_path / "x.db").exists()


def test_unusable_state_directory_exits_non_zero(tmp_path: Path) -> None:
    config = tmp_path / "autotoo.yaml"
    config.write_text("state: sqlite:////proc/autotoo/state.db\nadmin: {enabled: false}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "autotoo", "run", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    assert "cannot open the state store" in proc.stdout


def test_a_taken_admin_port_is_one_clear_line_and_exit_1(tmp_path: Path) -> None:
    """A second daemon on the same admin port (or anything else holding it): one log line that
    names the address and the reason, exit status 1, no TaskGroup traceback."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = tmp_path / "autotoo.yaml"
        config.write_text(
            f"state: sqlite:///{tmp_path / 'state.db'}\nrules: []\n"
            f'admin: {{listen: "127.0.0.1:{port}"}}\nlog: {{format: json}}\n'
            f"sources: [{{kind: directory, name: drop, path: {tmp_path / 'spool'}}}]\n"
        )
        (tmp_path / "spool").mkdir()
        proc = subprocess.run(
            [sys.executable, "-m", "autotoo", "run", "-c", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert proc.stderr == ""
    errors = [e for e in _json_lines(proc.stdout) if e["level"] == "error"]
    assert [e["reason"] for e in errors] == [
        f"cannot listen on 127.0.0.1:{port} (admin.listen): Address already in use"
    ]
