"""``autotoo run --log-level debug`` writes debug lines (issue 16, item 6: the option did
not exist, and the pipeline wrote no debug lines to show). The real CLI process, a real
drop folder, a real alert."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.alerts.alert_corpus import CORPUS

CONFIG = """\
mode: dry-run
state: sqlite:///{state}
rules: ["{rules}"]
sources:
  - {{kind: directory, name: spool, path: "{spool}"}}
admin: {{enabled: false}}
log: {{format: json, level: info}}
"""
RULES = """\
rules:
  - name: ep-notify
    match: {topics: [gcn.notices.einstein_probe.wxt.alert]}
    notify: [mqtt]
"""
EP = next((CORPUS / "gcn-kafka-2026").glob("*einstein_probe_wxt_alert.json"))


def _run(tmp_path: Path, *flags: str) -> list[dict[str, object]]:
    """Start the daemon, drop one alert, wait for its evaluation, stop; its log lines."""
    spool = tmp_path / "spool"
    spool.mkdir()
    (tmp_path / "rules.yaml").write_text(RULES)
    config = tmp_path / "autotoo.yaml"
    config.write_text(
        CONFIG.format(state=tmp_path / "state.db", rules=tmp_path / "rules.yaml", spool=spool)
    )
    out = tmp_path / "out.log"
    with out.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "autotoo", "run", "-c", str(config), *flags],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        try:
            folder = spool / "gcn.notices.einstein_probe.wxt.alert"  # the folder is the topic
            folder.mkdir()
            shutil.copy(EP, folder / EP.name)
            deadline = time.monotonic() + 60
            while b'"alert evaluated"' not in out.read_bytes():
                assert proc.poll() is None, out.read_text()
                assert time.monotonic() < deadline, out.read_text()
                time.sleep(0.1)
            time.sleep(0.3)
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0, out.read_text()
    return [json.loads(line[line.index(">") + 1 :]) for line in out.read_text().splitlines()]


def test_log_level_debug_on_the_command_line_writes_debug_lines(tmp_path: Path) -> None:
    lines = _run(tmp_path, "--log-level", "debug")
    debug = [e for e in lines if e["level"] == "debug"]
    events = {e["event"] for e in debug}
    assert {"alert parsed", "rule decision"} <= events, events
    (decision,) = [e for e in debug if e["event"] == "rule decision"]
    assert decision["rule"] == "ep-notify"
    assert "max_alert_age" in str(decision["reason"])  # an April alert: too old to act on
    assert lines[0]["log_level"] == "debug"


def test_the_config_level_holds_without_the_option(tmp_path: Path) -> None:
    lines = _run(tmp_path)
    assert [e for e in lines if e["level"] == "debug"] == []
