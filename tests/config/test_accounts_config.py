"""Several accounts in the config (issue 21): a rule naming an account the config lacks is
refused at load, located, with exit 78 (``check-config`` and ``autotoo run``); each named
account's shared secret is a credential file of its own. Real files, the real CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from autotoo.cli import EXIT_CONFIG, EXIT_OK, main
from autotoo.config.load import load_config

RULES = """\
rules:
  - name: ours
    notify: [mqtt]
  - name: theirs
    account: partnr
    notify: [mqtt]
"""

CONFIG = """\
rules: ["r.yaml"]
swift: {{username: myuser, shared_secret_file: {secret}}}
accounts:
  partner:
    swift_username: partneruser
    swift_shared_secret_file: {partner_secret}
    too_per_day: 2
"""


def _files(tmp_path: Path, rules: str = RULES) -> Path:
    (tmp_path / "r.yaml").write_text(rules)
    (tmp_path / "secret").write_text("my_shared_secret\n")
    (tmp_path / "partner-secret").write_text("partner_secret\n")
    config = tmp_path / "autotoo.yaml"
    config.write_text(
        CONFIG.format(secret=tmp_path / "secret", partner_secret=tmp_path / "partner-secret")
    )
    return config


def test_a_rule_naming_an_unknown_account_is_refused_where_it_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _files(tmp_path)
    assert main(["check-config", "-c", str(config)]) == EXIT_CONFIG
    err = capsys.readouterr().err.splitlines()
    assert err == [
        (
            f"{tmp_path / 'r.yaml'}:5:14: rules.1.account: unknown account 'partnr': the "
            "config has default, partner (add it under `accounts:` with its credentials)"
        ),
        "1 problem(s) found; nothing was started",
    ]
    # The daemon refuses to start with the same line and exit 78 (nothing is opened).
    run = subprocess.run(
        [sys.executable, "-m", "autotoo", "run", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,  # the default state folder would be ./autotoo-state
    )
    assert run.returncode == EXIT_CONFIG == 78
    assert f"{tmp_path / 'r.yaml'}:5:14: rules.1.account: unknown account 'partnr'" in run.stderr
    assert not (tmp_path / "autotoo-state").exists()


def test_named_accounts_and_their_credentials_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _files(tmp_path, RULES.replace("partnr", "partner"))
    assert main(["check-config", "-c", str(config)]) == EXIT_OK
    capsys.readouterr()
    loaded = load_config(config)
    assert loaded.config.account_names() == ["default", "partner"]
    secret = loaded.secret("accounts.partner.swift_shared_secret_file")
    assert secret is not None
    assert secret.get_secret_value() == "partner_secret"
    # a named account's missing credential file is the config's problem, located
    (tmp_path / "partner-secret").unlink()
    assert main(["check-config", "-c", str(config)]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert f"{config}:6:31: accounts.partner.swift_shared_secret_file: credential" in err


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("default", "the default account is the top-level swift and ukssdc sections"),
        ("Partner", "an account name is 1-64 lower-case letters"),
    ],
)
def test_account_names_are_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, message: str
) -> None:
    config = _files(tmp_path, RULES.replace("partnr", "partner"))
    config.write_text(config.read_text().replace("  partner:", f"  {name}:"))
    assert main(["check-config", "-c", str(config)]) == EXIT_CONFIG
    assert message in capsys.readouterr().err


def test_a_reload_applies_an_accounts_budget_and_its_credentials(tmp_path: Path) -> None:
    """A reload (SIGHUP) applies an account's new daily cap and its new username: no
    section of the accounts waits for a restart (their clients are built when first used)."""
    from autotoo.wiring import pipeline_settings, restart_only_changes  # noqa: PLC0415

    config = _files(tmp_path, RULES.replace("partnr", "partner"))
    old = load_config(config)
    assert pipeline_settings(old).account_too_per_day == {"partner": 2}
    config.write_text(config.read_text().replace("too_per_day: 2", "too_per_day: 3"))
    new = load_config(config)
    assert restart_only_changes(old.config, new.config) == []
    assert pipeline_settings(new).account_too_per_day == {"partner": 3}
    config.write_text(config.read_text().replace("partneruser", "otheruser"))
    assert restart_only_changes(old.config, load_config(config).config) == []
