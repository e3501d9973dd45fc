"""The real daemon prunes raw payloads by itself (issue 20): a sky-map alert dropped into its
folder is evaluated, stored as received, and once its event has been quiet for the retention
period its payload goes, while the row and the alert stay; /metrics says so."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from autotoo.cli import EXIT_OK, main
from autotoo.demo import free_port
from tests.alerts.alert_corpus import CORPUS
from tests.daemon.test_drop_folder import _logs, _until
from tests.fixtures.notify import NotifySocket

SKY_MAP = CORPUS / "igwn" / "MS181101ab-preliminary.json"

CONFIG = """\
rules: []
sources: [{{kind: directory, name: spool, poll_interval: 0.2s}}]
admin: {{listen: "127.0.0.1:{port}"}}
log: {{format: json}}
store: {{retention: {{topics: {{"igwn.*": 2s}}, prune_every: 1s}}}}
"""


def _metrics(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    return {
        name: float(value)
        for name, _, value in (
            line.rpartition(" ") for line in text.splitlines() if not line.startswith("#")
        )
    }


def test_the_daemon_prunes_an_old_sky_map_by_itself(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    config = tmp_path / "autotoo.yaml"
    config.write_text(CONFIG.format(port=port))
    log = tmp_path / "daemon.log"
    env = {k: v for k, v in os.environ.items() if k not in {"STATE_DIRECTORY", "NOTIFY_SOCKET"}}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "autotoo", "run", "-c", str(config)],
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        _until(lambda: any(e.get("event") == "ready" for e in _logs(log)))
        spool = tmp_path / "autotoo-state" / "spool"
        (spool / "sky.json.tmp").write_bytes(SKY_MAP.read_bytes())
        (spool / "sky.json.tmp").rename(spool / "sky.json")
        db = ["--db", str(tmp_path / "autotoo-state" / "state.db")]

        def rows() -> list[dict[str, object]]:
            assert main(["alerts", "list", "--json", *db]) == EXIT_OK
            return list(json.loads(capsys.readouterr().out))

        (row,) = _until(lambda: [r for r in rows() if r["status"] == "processed"])
        assert row["event"] == "lvk:MS181101ab" and row["pruned_at"] is None
        held = _metrics(port)
        assert held["autotoo_store_raw_payloads"] == 1
        assert held['autotoo_store_raw_payload_bytes{form="original"}'] == len(SKY_MAP.read_bytes())
        # As received: the inbox never compresses (the processor would wait); the pruner's
        # round compresses what it keeps.
        assert held['autotoo_store_raw_payload_bytes{form="stored"}'] == len(SKY_MAP.read_bytes())

        (row,) = _until(lambda: [r for r in rows() if r["pruned_at"]], timeout=20)
        assert row["status"] == "processed" and row["bytes"] == len(SKY_MAP.read_bytes())
        (line,) = _until(lambda: [e for e in _logs(log) if e.get("event") == "raw payloads pruned"])
        assert line["payloads"] == 1 and line["topics"] == {"igwn.gwalert": 1}
        gone = _metrics(port)
        assert gone["autotoo_store_raw_payloads_pruned_total"] == 1
        assert gone["autotoo_store_raw_payloads"] == 0
        assert gone["autotoo_store_file_bytes"] > 0
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, log.read_text()[-2000:]


def test_an_older_state_file_makes_systemd_wait_for_its_upgrade(
    tmp_path: Path, notify_socket: NotifySocket
) -> None:
    """Migration 4 rebuilds the inbox's index, reading the whole file (~11 s per GB): the
    daemon asks systemd to extend its start timeout before the upgrade, and says why."""
    import sqlite3  # noqa: PLC0415

    from autotoo.store.db import SCHEMA_VERSION, migrations  # noqa: PLC0415

    state = tmp_path / "old" / "state.db"
    state.parent.mkdir()
    with sqlite3.connect(state) as conn:
        for version, _name, sql in migrations()[:3]:
            conn.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version = {version};\nCOMMIT;")
    port = free_port()
    config = tmp_path / "autotoo.yaml"
    config.write_text(
        f"state: sqlite:///{state}\nadmin: {{listen: '127.0.0.1:{port}'}}\nlog: {{format: json}}\n"
    )
    log = tmp_path / "daemon.log"
    env = {k: v for k, v in os.environ.items() if k != "STATE_DIRECTORY"}
    env["NOTIFY_SOCKET"] = str(notify_socket.path)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "autotoo", "run", "-c", str(config)],
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        messages = notify_socket.wait_for("READY=1")
        extend = [i for i, m in enumerate(messages) if m.startswith("EXTEND_TIMEOUT_USEC=")]
        ready = [i for i, m in enumerate(messages) if "READY=1" in m.splitlines()]
        assert extend and extend[0] < ready[0], messages
        usec = int(messages[extend[0]].splitlines()[0].partition("=")[2])
        assert usec >= 30_000_000
        (line,) = [e for e in _logs(log) if e.get("event", "").startswith("upgrading the state")]
        assert line["schema"] == f"3 -> {SCHEMA_VERSION}"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, log.read_text()[-2000:]
    with sqlite3.connect(state) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
