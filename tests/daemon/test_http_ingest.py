"""POST /alerts on the real daemon's admin server: bearer token from a credential file."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import aiohttp

from tests.alerts.alert_corpus import CORPUS
from tests.fixtures.mosquitto import free_port
from tests.fixtures.notify import NotifySocket

SHARED = CORPUS


async def test_http_ingest_stores_alerts_and_refuses_bad_tokens(tmp_path: Path) -> None:
    port = free_port()
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "ingest-token").write_text("t0ken-for-the-test\n")
    config = tmp_path / "autotoo.yaml"
    config.write_text(
        f"state: sqlite:///{tmp_path}/state.db\n"
        "sources: [{kind: http, name: web, token_file: ingest-token}]\n"
        f"admin: {{listen: '127.0.0.1:{port}'}}\n"
        "log: {format: json}\nmax_alert_age: 3650d\n"
    )
    notify = NotifySocket(tmp_path / "notify.sock")
    env = {**os.environ, "NOTIFY_SOCKET": str(notify.path), "CREDENTIALS_DIRECTORY": str(creds)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "autotoo", "run", "-c", str(config)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        await asyncio.to_thread(notify.wait_for, "READY=1", 60.0)
        raw = min((SHARED / "gcn-kafka-2026").glob("*einstein_probe*.json")).read_bytes()
        url = f"http://127.0.0.1:{port}/alerts?topic=gcn.notices.einstein_probe.wxt.alert"
        async with aiohttp.ClientSession() as session:
            async with session.post(url, data=raw, headers={"Authorization": "Bearer wrong"}) as r:
                assert r.status == 401
            auth = {"Authorization": "Bearer t0ken-for-the-test"}
            for _ in range(2):  # the second is a duplicate: stored once
                async with session.post(url, data=raw, headers=auth) as r:
                    assert r.status == 202
            async with session.get(f"http://127.0.0.1:{port}/readyz") as r:
                ready = await r.json()
        assert ready["mode"] == "dry-run"
        assert [s["kind"] for s in ready["sources"]] == []  # HTTP ingest has no connection
        proc.send_signal(signal.SIGTERM)
        out, _ = await asyncio.to_thread(proc.communicate, timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        notify.close()
    assert proc.returncode == 0
    assert b"t0ken-for-the-test" not in out
    with sqlite3.connect(tmp_path / "state.db") as db:
        rows = db.execute("SELECT topic, status, seen_count, raw FROM inbox").fetchall()
    assert len(rows) == 1
    topic, status, seen, stored = rows[0]
    # without an X-Alert-Id the HTTP identity is the payload digest: the second POST is an
    # exact redelivery, recognised by identity before its content is looked at (not counted)
    assert (topic, status, seen) == ("gcn.notices.einstein_probe.wxt.alert", "processed", 1)
    assert stored == raw
