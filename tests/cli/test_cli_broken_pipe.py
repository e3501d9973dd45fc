"""Every printing command, read by a reader that stopped early (``autotoo schema | head``).

The pipe's reading end is closed before the command starts, so every write fails with EPIPE:
deterministic, unlike a real ``head`` racing the writer. The command must end quietly with
the status a SIGPIPE gives (141), never with a BrokenPipeError traceback on stderr.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from autotoo.cli import EXIT_BROKEN_PIPE
from autotoo.store.db import Database

ALERT = Path(__file__).resolve().parents[1] / "data" / "alerts" / "igwn"


def _an_alert() -> Path:
    return next(p for p in sorted(ALERT.rglob("*")) if p.is_file())


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty, migrated store (what the daemon creates at its first start)."""
    path = tmp_path_factory.mktemp("store") / "state.db"

    async def create() -> None:
        await (await Database.open(path)).close()

    asyncio.run(create())
    return path


COMMANDS = {
    "schema": ["schema"],
    "schema rules": ["schema", "rules"],
    "help": ["--help"],
    "version": ["--version"],
    "alerts parse": ["alerts", "parse", "ALERT"],
    "status": ["status", "--db", "DB"],
    "jobs list": ["jobs", "list", "--db", "DB"],
    "alerts list": ["alerts", "list", "--db", "DB"],
}


@pytest.mark.parametrize("name", list(COMMANDS))
def test_a_closed_pipe_ends_the_command_quietly(name: str, db: Path) -> None:
    args = [{"ALERT": str(_an_alert()), "DB": str(db)}.get(a, a) for a in COMMANDS[name]]
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first byte
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "autotoo", *args],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "BrokenPipeError" not in proc.stderr, proc.stderr
    # argparse's --help swallows the error itself and exits 0; everything else reports it
    assert proc.returncode == (0 if name == "help" else EXIT_BROKEN_PIPE), proc.stderr
