"""The submitter handles a missing client with a typed error, not an assert (issue 16,
item 6): under ``python -O`` an assert is gone and the old code crashed the submitter with
an AttributeError on ``None``. Run as a real ``python -O`` process on a real state file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HELPER = Path(__file__).with_name("no_client_reconcile.py")


def test_reconciling_without_a_client_counts_a_listing_failure_with_asserts_off(
    tmp_path: Path,
) -> None:
    done = subprocess.run(
        [sys.executable, "-O", str(HELPER), str(tmp_path / "state.db")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"handled": 1, "state": "unknown", "reconcile": {"missing": 0, "errors": 1}}
