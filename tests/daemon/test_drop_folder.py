"""The real daemon with a drop folder beside its state: it says where things are, a dropped
Swift BAT VOEvent reaches the Swift rule by the topic its payload names, ``status`` names the
state file, drop folder and admin URL, and ``alerts reprocess`` evaluates a stored alert again
without planning anything twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from autotoo.cli import EXIT_OK, main
from autotoo.demo import free_port
from tests.alerts.alert_corpus import CORPUS, REPO_ROOT

BAT = CORPUS / "voevent-classic" / "gwcelery-swift_grb_gcn.xml"
BAT_TOPIC = "gcn.classic.voevent.SWIFT_BAT_GRB_POS_ACK"

# The embedded defaults (dry-run, the example rules, a drop folder named spool beside the
# state file), with the admin server on a free port and the 2022 alert young enough to act on.
CONFIG = """\
rules: ["{rules}"]
sources: [{{kind: directory, name: spool, poll_interval: 0.2s}}]
admin: {{listen: "127.0.0.1:{port}"}}
log: {{format: json}}
max_alert_age: 3650d
"""


def _logs(path: Path) -> list[dict[str, Any]]:
    out = []
    for line in path.read_text().splitlines():
        text = line.split(">", 1)[1] if line.startswith("<") else line
        try:
            out.append(json.loads(text))
        except ValueError:
            continue
    return out


def _until(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[tuple[Path, Path, int]]:
    """The daemon started in an empty folder, as a user would: ``autotoo run -c FILE``."""
    port = free_port()
    config = tmp_path / "autotoo.yaml"
    config.write_text(CONFIG.format(rules=REPO_ROOT / "rules" / "*.yaml", port=port))
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
        yield tmp_path, log, port
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, log.read_text()[-2000:]


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    assert main(list(argv)) == EXIT_OK
    return json.loads(capsys.readouterr().out)


def test_drop_folder_beside_the_state_routes_by_payload_and_reprocess_plans_once(
    daemon: tuple[Path, Path, int], capsys: pytest.CaptureFixture[str]
) -> None:
    workdir, log, port = daemon
    state = workdir / "autotoo-state" / "state.db"
    spool = workdir / "autotoo-state" / "spool"
    # The first log line says where the state, the drop folder and the dashboard are.
    first = _logs(log)[0]
    assert first["event"] == "autotoo starting"
    assert first["state"] == str(state)
    assert first["drop_folders"] == {"spool": str(spool)}
    assert first["admin_url"] == f"http://127.0.0.1:{port}/"
    assert spool.is_dir()  # created: it lives beside the state, which is ours

    (spool / "bat.xml.tmp").write_bytes(BAT.read_bytes())
    (spool / "bat.xml.tmp").rename(spool / "bat.xml")
    db = ["--db", str(state)]

    def processed() -> list[dict[str, Any]]:
        assert main(["alerts", "list", "--json", *db]) == EXIT_OK
        rows = json.loads(capsys.readouterr().out)
        return [r for r in rows if r["status"] == "processed"]

    (row,) = _until(processed)
    assert row["topic"] == BAT_TOPIC
    assert row["event"] == "swift:1123129"
    (job,) = _json(capsys, "jobs", "list", "--json", *db)
    assert (job["rule"], job["api"], job["event"]) == (
        "swift-bat-grb-xrt",
        "ukssdc_xrt",
        "swift:1123129",
    )

    assert main(["status", *db]) == EXIT_OK
    status = capsys.readouterr().out
    assert f"state        {state}\n" in status
    assert f"drop folder  {spool} (source spool)\n" in status
    assert f"admin        http://127.0.0.1:{port}/" in status

    # Evaluated again: a new alert of the same event, the same key, no second request.
    assert main(["alerts", "reprocess", str(row["id"]), *db]) == EXIT_OK
    assert "stored again as #" in capsys.readouterr().out
    _until(lambda: len(processed()) == 2)
    jobs = _json(capsys, "jobs", "list", "--json", *db)
    assert [j["key"] for j in jobs] == [job["key"]]
