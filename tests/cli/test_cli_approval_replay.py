"""``autotoo replay`` says that a rule with ``approve: human`` would wait for a person."""

from __future__ import annotations

from pathlib import Path

import pytest

from autotoo.cli import EXIT_OK, main
from tests.chaos.streams import ep_alert
from tests.pipeline.test_approval import APPROVED_RULE, TOPIC


def test_replay_names_the_approval(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "rules.yaml").write_text(APPROVED_RULE)
    (tmp_path / "c.yaml").write_text('rules: ["rules.yaml"]\nmax_alert_age: 3650d\n')
    alert = tmp_path / f"{TOPIC}.json"
    alert.write_bytes(ep_alert(1))
    assert main(["replay", "-c", str(tmp_path / "c.yaml"), str(alert)]) == EXIT_OK
    out = capsys.readouterr().out
    assert "too: new request; then waits for a person's approval (lapses after 2 h)" in out
