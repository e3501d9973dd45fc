"""The shipped unit, checked the way CI must: ``systemd-analyze verify`` with no output at all
(unknown keys are only warnings, exit 0), ``systemd-analyze security`` exposure at most 2.5,
the directives the operations brief requires, a credential for every secret of the example
config, and the shipped astropy config really switching IERS downloads off."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "systemd" / "autotoo.service"
ASTROPY_CFG = ROOT / "systemd" / "astropy.cfg"
INSTALLED_BINARY = "/opt/autotoo/bin/autotoo"
MAX_EXPOSURE = 2.5


def _analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        pytest.fail("systemd-analyze is missing: install Debian's 'systemd' package (.ci/run does)")
    return found


def _directives() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            out.setdefault(key.strip(), []).append(value.strip())
    return out


def _run(*args: str, unit: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_analyze(), *args, str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=unit.parent,
        env={**os.environ, "SYSTEMD_COLORS": "0"},
    )


@pytest.fixture
def rendered(tmp_path: Path) -> Path:
    """The unit with ExecStart pointing at this venv's real ``autotoo`` (verify needs it)."""
    binary = Path(sys.executable).with_name("autotoo")
    assert binary.exists(), binary
    target = tmp_path / "autotoo.service"
    target.write_text(UNIT.read_text().replace(INSTALLED_BINARY, str(binary)))
    return target


def test_verify_prints_nothing(rendered: Path) -> None:
    proc = _run("verify", unit=rendered)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "", proc.stderr
    assert proc.stdout == "", proc.stdout


def test_verify_would_catch_a_typo(rendered: Path) -> None:
    """The check above can fail: a misspelt key is reported (on stderr, with exit 0)."""
    rendered.write_text(rendered.read_text().replace("WatchdogSec=", "WatchdogSecs="))
    proc = _run("verify", unit=rendered)
    assert "WatchdogSecs" in proc.stderr


def test_security_exposure(rendered: Path) -> None:
    proc = _run("security", "--offline=true", unit=rendered)
    match = re.search(r"Overall exposure level for autotoo\.service: ([\d.]+)", proc.stdout)
    assert match, proc.stdout + proc.stderr
    assert float(match.group(1)) <= MAX_EXPOSURE, proc.stdout


def test_required_directives() -> None:
    d = _directives()
    expected = {
        "Type": ["notify"],
        "NotifyAccess": ["main"],
        "Restart": ["on-failure"],
        "RestartPreventExitStatus": ["78"],
        "DynamicUser": ["yes"],
        "StateDirectory": ["autotoo"],
        "CacheDirectory": ["autotoo autotoo/astropy"],
        "ConfigurationDirectory": ["autotoo"],
        "ProtectSystem": ["strict"],
        "ProtectHome": ["yes"],
        "PrivateTmp": ["yes"],
        "PrivateDevices": ["yes"],
        "NoNewPrivileges": ["yes"],
        "ProtectKernelTunables": ["yes"],
        "ProtectKernelModules": ["yes"],
        "ProtectControlGroups": ["yes"],
        "RestrictAddressFamilies": ["AF_UNIX AF_INET AF_INET6"],
        "RestrictNamespaces": ["yes"],
        "LockPersonality": ["yes"],
        "SystemCallArchitectures": ["native"],
        "CapabilityBoundingSet": [""],
        "UMask": ["0077"],
        "ExecReload": ["/bin/kill -HUP $MAINPID"],
    }
    for key, values in expected.items():
        assert d.get(key) == values, (key, d.get(key))
    assert "@system-service" in d["SystemCallFilter"]
    assert int(d["WatchdogSec"][0]) >= 10
    assert d["ExecStart"] == [f"{INSTALLED_BINARY} run -c /etc/autotoo/autotoo.yaml"]
    # a config error (exit 78) must reach RestartPreventExitStatus: it only sees ExecStart
    assert "ExecStartPre" not in d
    assert int(d["StartLimitBurst"][0]) >= 1
    # systemd 252 (Debian 12) knows neither of these
    assert "ImportCredential" not in d
    assert d["Type"] != ["notify-reload"]
    env = dict(v.split("=", 1) for v in d["Environment"])
    # astropy ignores a cache directory that does not exist: systemd must create it
    assert env["ASTROPY_CACHE_DIR"] == "/var/cache/autotoo/astropy"
    assert env["ASTROPY_CONFIG_DIR"].startswith("/etc/autotoo/")


def test_a_credential_for_every_secret_of_the_example_config() -> None:
    example = (ROOT / "config" / "autotoo.yaml").read_text()
    secrets = set(re.findall(r"^\s*(?:-\s+)?\w+_file:\s*([\w.-]+)\s*$", example, re.MULTILINE))
    assert secrets, "the example config names no credential files?"
    credentials = {v.split(":", 1)[0] for v in _directives()["LoadCredential"]}
    assert secrets <= credentials, secrets - credentials
    for value in _directives()["LoadCredential"]:
        name, _, path = value.partition(":")
        assert path == f"/etc/autotoo/credentials/{name}", value


def test_shipped_astropy_config_turns_iers_downloads_off(tmp_path: Path) -> None:
    config_dir = tmp_path / "etc-autotoo-astropy"
    config_dir.mkdir()
    (tmp_path / "cache").mkdir()  # CacheDirectory= creates it under systemd
    shutil.copy(ASTROPY_CFG, config_dir / "astropy.cfg")
    code = (
        "from astropy.utils import iers; from astropy.config.paths import get_cache_dir;"
        "print(iers.conf.auto_download, get_cache_dir())"
    )
    env = {
        **os.environ,
        "ASTROPY_CONFIG_DIR": str(config_dir),
        "ASTROPY_CACHE_DIR": str(tmp_path / "cache"),
    }
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    ).stdout.split()
    assert out == ["False", str(tmp_path / "cache")]


def test_the_example_drop_folders_are_where_the_unit_lets_the_service_write(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ProtectSystem=strict leaves only StateDirectory= (and the cache) writable: the example's
    drop folder must resolve inside /var/lib/<StateDirectory> under the unit (it once named
    /var/spool/autotoo, which does not exist and the unit would not let it write)."""
    from autotoo.config.load import Credentials, load_config  # noqa: PLC0415
    from autotoo.config.models import DirectorySource  # noqa: PLC0415
    from autotoo.wiring import drop_folder  # noqa: PLC0415

    (state_dir,) = _directives()["StateDirectory"]
    assert _directives()["ProtectSystem"] == ["strict"]
    monkeypatch.setenv("STATE_DIRECTORY", f"/var/lib/{state_dir}")
    config = load_config(ROOT / "config" / "autotoo.yaml", credentials=Credentials.SKIP).config
    folders = [drop_folder(config, s) for s in config.sources if isinstance(s, DirectorySource)]
    assert folders
    for folder in folders:
        assert folder.is_relative_to(f"/var/lib/{state_dir}"), folder
