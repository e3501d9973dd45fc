"""The daemon consuming GCN Kafka: the real daemon process reads from a librdkafka mock
cluster (real TCP brokers owned by this test process) through the config's `extra`
settings, stores the alert, and commits the offset only after storing it."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

from tests.alerts.alert_corpus import CORPUS
from tests.fixtures.kafka_mock import MockKafka
from tests.fixtures.notify import NotifySocket

TOPIC = "gcn.notices.einstein_probe.wxt.alert"


async def test_daemon_consumes_kafka_and_commits_after_storing(
    tmp_path: Path, mock_kafka: MockKafka
) -> None:
    raw = min((CORPUS / "gcn-kafka-2026").glob("*einstein_probe*.json")).read_bytes()
    group = f"autotoo-{uuid.uuid4().hex[:8]}"
    before = mock_kafka.committed(group, TOPIC)
    mock_kafka.produce(TOPIC, raw)
    config = tmp_path / "autotoo.yaml"
    config.write_text(
        f"state: sqlite:///{tmp_path}/state.db\n"
        "sources:\n"
        f"  - {{kind: kafka, name: gcn, group_id: {group}, topics: [{TOPIC}],\n"
        f"     extra: {{bootstrap.servers: '{mock_kafka.bootstrap}',"
        " security.protocol: plaintext}}\n"
        "admin: {enabled: false}\nlog: {format: json}\n"
    )
    notify = NotifySocket(tmp_path / "notify.sock")
    env = {**os.environ, "NOTIFY_SOCKET": str(notify.path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "autotoo", "run", "-c", str(config)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        await asyncio.to_thread(notify.wait_for, "READY=1", 60.0)
        deadline = time.monotonic() + 60
        committed = before
        while time.monotonic() < deadline:
            committed = await asyncio.to_thread(mock_kafka.committed, group, TOPIC)
            if committed > max(before, 0):
                break
            await asyncio.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        out, _ = await asyncio.to_thread(proc.communicate, timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        notify.close()
    assert proc.returncode == 0, out.decode(errors="replace")[-2000:]
    with sqlite3.connect(tmp_path / "state.db") as db:
        rows = db.execute("SELECT source, topic, status, raw FROM inbox").fetchall()
    assert [(s, t, st) for s, t, st, _ in rows] == [("gcn", TOPIC, "processed")]
    assert rows[0][3] == raw
    assert committed > max(before, 0)  # committed only once the alert was stored


def test_librdkafka_lines_are_json_log_events(tmp_path: Path) -> None:
    """librdkafka's own log lines (connection failures here; OIDC token refreshes against
    GCN) arrive through our logger: every line on stdout is a journald-prefixed JSON event
    and nothing raw reaches stderr."""
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = tmp_path / "autotoo.yaml"
    config.write_text(
        f"state: sqlite:///{tmp_path}/state.db\n"
        "sources:\n"
        f"  - {{kind: kafka, name: gcn, group_id: g, topics: [{TOPIC}],\n"
        f"     extra: {{bootstrap.servers: '127.0.0.1:{port}', security.protocol: plaintext}}}}\n"
        "admin: {enabled: false}\nlog: {format: json, level: debug}\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "autotoo", "run", "-c", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(4)  # connection attempts fail and are logged meanwhile
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert err == ""
    events = []
    for line in out.splitlines():
        assert re.match(r"^<\d>\{", line), line
        events.append(json.loads(line[3:]))
    fails = [e for e in events if e["event"] == "librdkafka" and e["facility"] == "FAIL"]
    assert fails, [e["event"] for e in events]
    assert fails[0]["client"] == "autotoo-gcn#consumer-1"
    assert "Connection refused" in fails[0]["message"]
    # the same failure is reported once as a warning (error_cb); the FAIL copy is debug
    assert {e["level"] for e in fails} == {"debug"}
    assert any(e["event"] == "kafka.error" and e["level"] == "warning" for e in events)
