"""A small real filesystem for the state, and filling it to the last block.

Shared by the start-up checks (test_state_dir.py), the disk-full scenarios and the store's
own tests. Mounting needs CAP_SYS_ADMIN; without it the test is skipped, saying why.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


def mount(*args: str) -> bool:
    if shutil.which("mount") is None:
        return False
    return subprocess.run(["mount", *args], capture_output=True, check=False).returncode == 0


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[None]:
    path.mkdir(parents=True, exist_ok=True)
    if not mount("-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)):
        pytest.skip("cannot mount a tmpfs here (needs CAP_SYS_ADMIN): no full filesystem")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


def fill(filler: Path) -> int:
    """Write zeros to ``filler`` until ENOSPC: not one free block left. Returns its size."""
    with filler.open("ab", buffering=0) as out, contextlib.suppress(OSError):
        while True:
            out.write(b"\0" * 4096)
    return filler.stat().st_size
