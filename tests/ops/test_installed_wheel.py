"""The package as docs/operations.md installs it: a built wheel in a venv of its own.

Every other test imports autotoo from the checkout, where the example rules sit beside the
package; an installed wheel has only what it ships. This test builds the wheel, installs it
into a fresh venv outside the checkout (with the lock's versions), and runs the installed
`autotoo demo` and `autotoo run` (embedded defaults) from a directory that is not the
checkout, as a user would after `uv pip install`.

Slow (a build, an install and a whole demo), but it runs in the normal `uv run pytest`.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fixtures.demo import human_lines

CHECKOUT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def _clean_env(tmp: Path) -> dict[str, str]:
    """The environment of a shell outside the project: no venv, no path into the checkout;
    TMPDIR of our own, to see what the demo leaves behind."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"VIRTUAL_ENV", "PYTHONPATH", "UV_PROJECT_ENVIRONMENT", "NOTIFY_SOCKET"}
    }
    env["TMPDIR"] = str(tmp)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `autotoo` script of a fresh venv holding the built wheel."""
    uv = shutil.which("uv")
    assert uv, "uv is a prerequisite (README)"
    root = tmp_path_factory.mktemp("wheel")
    dist, venv = root / "dist", root / "venv"
    subprocess.run(
        [uv, "build", "--wheel", "--out-dir", str(dist), str(CHECKOUT)],
        check=True,
        capture_output=True,
    )
    wheels = list(dist.glob("autotoo-*.whl"))
    assert len(wheels) == 1, wheels
    pins = root / "requirements.txt"  # the locked versions, so the install is the tested one
    subprocess.run(
        [uv, "export", "--locked", "--no-dev", "--no-emit-project", "--no-hashes",
         "--project", str(CHECKOUT), "-o", str(pins)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True)
    subprocess.run(
        [uv, "pip", "install", "-q", "--python", str(venv / "bin" / "python"),
         "-c", str(pins), str(wheels[0])],
        check=True,
        cwd=root,
    )  # fmt: skip
    return venv / "bin" / "autotoo"


def test_installed_demo_runs_outside_the_checkout(installed: Path, tmp_path: Path) -> None:
    elsewhere, tmp = tmp_path / "home", tmp_path / "tmp"
    elsewhere.mkdir()
    tmp.mkdir()
    proc = subprocess.run(
        [str(installed), "demo", "--admin-port", "0"],
        cwd=elsewhere,
        env=_clean_env(tmp),
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    text = "\n".join(human_lines(proc.stdout))
    assert "Swift TOO" in text
    assert "done (Approved)" in text
    assert "XRT job" in text
    # a temporary work directory is the demo's own: nothing is left in TMPDIR
    assert list(tmp.iterdir()) == [], list(tmp.iterdir())


def test_installed_run_starts_on_embedded_defaults(installed: Path, tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [str(installed), "run"],
        cwd=tmp_path,
        env=_clean_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 90
    try:
        for line in proc.stdout:  # ends when the daemon exits (78 before the fix)
            lines.append(line)
            if '"event": "ready"' in line or time.monotonic() > deadline:
                break
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
    assert any('"event": "ready"' in line for line in lines), "".join(lines)[-3000:]
    assert code == 0, "".join(lines)[-3000:]
