"""The README's check-config and replay commands, exactly as written, on the shipped example
config, through the real CLI, in a shell with no systemd credentials (a fresh checkout)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from autotoo.cli import EXIT_CONFIG, EXIT_OK, main
from tests.alerts.alert_corpus import REPO_ROOT

EXAMPLE = "config/autotoo.yaml"
CREDENTIAL_NAMES = ("gcn-client-id", "gcn-client-secret", "ingest-token", "swift-shared-secret")


def readme_commands(subcommand: str) -> list[list[str]]:
    """Every ``uv run autotoo <subcommand> ...`` line of the README's shell blocks."""
    text = (REPO_ROOT / "README.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", text, flags=re.DOTALL)
    found = []
    for block in blocks:
        for line in block.splitlines():
            command = line.split("#", 1)[0].strip()
            if command.startswith(f"uv run autotoo {subcommand} "):
                found.append(shlex.split(command)[3:])  # after "uv run autotoo"
    return found


@pytest.fixture
def checkout(monkeypatch: pytest.MonkeyPatch) -> Path:
    """A shell in the checkout, outside systemd: no $CREDENTIALS_DIRECTORY."""
    monkeypatch.chdir(REPO_ROOT)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    return REPO_ROOT


def test_readme_check_config_succeeds_on_the_example(
    checkout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (command,) = readme_commands("check-config")
    assert command == ["check-config", "-c", EXAMPLE]
    assert main(command) == EXIT_OK
    out = capsys.readouterr()
    assert out.out.startswith(f"{EXAMPLE}: ok (mode dry-run, 4 sources, 7 rules")
    # The secrets live with systemd: named as not checked, where they are written, and how.
    for name in CREDENTIAL_NAMES:
        assert re.search(
            rf"^{EXAMPLE}:\d+:\d+: [a-z_.0-9]+: warning: credential '{name}' not checked: "
            r"\$CREDENTIALS_DIRECTORY is not set",
            out.err,
            flags=re.MULTILINE,
        ), out.err
    assert "--credentials-dir DIR" in out.err
    assert "can never fire" not in out.err  # every example rule is fed by a subscription


def test_readme_replay_succeeds_on_the_example_and_reaches_the_rules(
    checkout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (command,) = readme_commands("replay")
    assert command[:3] == ["replay", "-c", EXAMPLE]
    assert main(command) == EXIT_OK
    out = capsys.readouterr()
    assert "credential" not in out.err  # nothing is sent: no secret is read
    assert "topic gcn.classic.voevent.SWIFT_BAT_GRB_POS_ACK (named by the payload)" in out.out
    assert "MATCH swift-bat-grb-xrt" in out.out


def test_check_config_files_only_reads_no_credential(
    checkout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check-config", "--no-credentials", "-c", EXAMPLE]) == EXIT_OK
    out = capsys.readouterr()
    assert "credential" not in out.err
    assert "credentials not read; 0 warnings)" in out.out


def test_check_config_credentials_dir_checks_the_files_the_unit_would_load(
    checkout: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "swift-shared-secret").write_text("s3cr3t\n")
    code = main(["check-config", "--credentials-dir", str(tmp_path), "-c", EXAMPLE])
    assert code == EXIT_CONFIG
    err = capsys.readouterr().err
    missing = [name for name in CREDENTIAL_NAMES if f"credential '{name}' not found" in err]
    assert missing == ["gcn-client-id", "gcn-client-secret", "ingest-token"]
    assert "s3cr3t" not in err
    for name in CREDENTIAL_NAMES:
        (tmp_path / name).write_text(f"value of {name}\n")
    assert main(["check-config", "--credentials-dir", str(tmp_path), "-c", EXAMPLE]) == EXIT_OK
    out = capsys.readouterr()
    assert "0 warnings)" in out.out
    assert "value of" not in out.out + out.err


def test_run_still_refuses_to_start_without_its_secrets(
    checkout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only the daemon needs the secrets: it names each one it cannot read and exits 78."""
    assert main(["run", "-c", EXAMPLE]) == EXIT_CONFIG
    err = capsys.readouterr().err
    for name in CREDENTIAL_NAMES:
        assert f"credential '{name}' cannot be read: it is a bare name" in err
    assert "4 problem(s) found; nothing was started" in err
