"""The daemon and `autotoo replay` decide an alert the same way, whenever they run.

The Sun and Moon helpers use the alert's time, not the evaluation clock: here the daemon's
pipeline evaluates a 2026-04-30 Einstein Probe alert with its clock at the wall clock (months
later, whenever the suite runs), replay evaluates it at its own time, and both find the Moon
too close for the example rule (docs/rules.md, "Helper functions").
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from autotoo.cli import EXIT_OK, main

ROOT = Path(__file__).resolve().parents[2]
EP = ROOT / "daemon" / "autotoo" / "samples" / "ep_wxt_alert.json"
TOPIC = "gcn.notices.einstein_probe.wxt.alert"
MOON = "condition is false [moon_distance(alert) > 23.0]"


async def test_the_daemon_and_replay_agree_on_the_moon(
    make_emulator, make_pipeline, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = (ROOT / "rules" / "ep-wxt.yaml").read_text()
    p = await make_pipeline(await make_emulator(speed=1.0), rules)
    await p.feed(EP.read_bytes(), TOPIC)
    [alert] = await p.repo.recent_alerts(limit=1)
    daemon = (await p.repo.decisions_for_alerts([alert["id"]]))[alert["id"]]
    assert [(d["rule"], d["matched"], d["reason"]) for d in daemon] == [
        ("ep-wxt-bright", False, MOON)
    ]
    config = tmp_path / "replay.yaml"
    config.write_text(f'rules: ["{ROOT / "rules" / "ep-wxt.yaml"}"]\n')
    argv = ["replay", "-c", str(config), "--json", "--topic", TOPIC, str(EP)]
    assert await asyncio.to_thread(main, argv) == EXIT_OK  # the CLI runs a loop of its own
    out = capsys.readouterr().out
    [report] = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert [(r["rule"], r["matched"], r["reason"], r["clause"]) for r in report["rules"]] == [
        ("ep-wxt-bright", False, "condition is false", "moon_distance(alert) > 23.0")
    ]
