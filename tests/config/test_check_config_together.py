"""check-config over a config and its rule files together: every problem of every file in one
run, and warnings (not failures) for rules no subscription feeds. Real files, the real CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from autotoo.alerts.topics import topics_overlap
from autotoo.cli import EXIT_CONFIG, EXIT_OK, main

ICECUBE_RULE = """\
rules:
  - name: icecube-gold
    match:
      topics: [gcn.notices.icecube.gold_bronze_track_alerts]
    notify: [mqtt]
"""


def test_a_broken_config_does_not_hide_its_rule_files_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "r.yaml").write_text(
        "rules:\n  - name: a\n    when: alert.mission ==\n    notify: [mqtt]\n"
    )
    config = tmp_path / "autotoo.yaml"
    config.write_text('modes: live\nrules: ["r.yaml"]\nbudgets: {too_per_day: many}\n')
    assert main(["check-config", "-c", str(config)]) == EXIT_CONFIG
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == "3 problem(s) found; nothing was started"
    assert err[0].startswith(f"{config}:1:1: modes: unknown key")
    assert err[1].startswith(f"{config}:3:24: budgets.too_per_day: Input should be a valid")
    assert err[2].startswith(f"{tmp_path / 'r.yaml'}:3:")
    assert "rules.0.when: condition syntax error" in err[2]


def test_a_rule_no_subscription_feeds_is_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "r.yaml").write_text(ICECUBE_RULE)
    config = tmp_path / "autotoo.yaml"
    config.write_text(
        'rules: ["r.yaml"]\nsources:\n'
        "  - {kind: kafka, group_id: g, topics: [gcn.notices.icecube.lvk_nu_track_search]}\n"
        "  - {kind: directory, name: spool}\n"
    )
    assert main(["check-config", "--no-credentials", "-c", str(config)]) == EXIT_OK
    out = capsys.readouterr()
    assert out.err == (
        f"{tmp_path / 'r.yaml'}:4:16: rules.0.match.topics.0: warning: rule 'icecube-gold' can "
        "never fire from a subscription: no kafka or mqtt source subscribes to "
        "gcn.notices.icecube.gold_bronze_track_alerts (only a drop folder or an HTTP post can "
        "feed it)\n"
    )
    assert "1 warning)" in out.out
    # A wildcard subscription that covers it is enough.
    config.write_text(
        'rules: ["r.yaml"]\nsources:\n'
        "  - {kind: mqtt, url: 'mqtt://localhost', client_id: c, topics: ['gcn/notices/+/#']}\n"
    )
    assert main(["check-config", "-c", str(config)]) == EXIT_OK
    assert "warning" not in capsys.readouterr().err


@pytest.mark.parametrize(
    ("a", "b", "overlap"),
    [
        ("gcn/#", "gcn.classic.voevent.+", True),
        ("gcn.notices.icecube.lvk_nu_track_search", "gcn.notices.icecube.gold_bronze", False),
        ("gcn.notices.+.wxt.alert", "gcn/notices/einstein_probe/#", True),
        ("gcn.notices.svom", "gcn.notices.svom.voevent.grm", False),
        ("#", "igwn.gwalert", True),
        ("igwn.gwalert", "igwn.gwalert", True),
    ],
)
def test_topics_overlap(a: str, b: str, overlap: bool) -> None:
    assert topics_overlap(a, b) is overlap
    assert topics_overlap(b, a) is overlap
