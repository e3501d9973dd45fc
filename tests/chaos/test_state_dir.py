"""The state directory is read-only, or its filesystem is full, when the daemon starts.

Real filesystems, not simulations: a tmpfs mounted read-only (or remounted read-only over an
existing state), and a tiny tmpfs filled to the last byte. The daemon must say clearly what is
wrong and exit non-zero, and the state file must come out exactly as it went in (same bytes,
``PRAGMA integrity_check`` ok), so the daemon starts normally once the disk is fixed.
Mounting needs CAP_SYS_ADMIN; without it the read-only case falls back to ``chattr +i`` on
the directory (where ``os.access`` reports it unwritable) and the full case is skipped,
saying why.
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from autotoo.pipeline.intake import Inbox
from autotoo.sources.base import Received
from autotoo.store.db import Database
from autotoo.store.repository import Repository
from tests.chaos.conftest import Record
from tests.chaos.state_fs import fill, tmpfs
from tests.chaos.state_fs import mount as _mount
from tests.chaos.streams import EP_TOPIC, ep_alert

CONFIG = """\
mode: dry-run
state: sqlite:///{state}
rules: []
sources: [{{kind: directory, name: spool, path: {spool}}}]
admin: {{enabled: false}}
log: {{format: json, level: info}}
"""


def run_daemon(workdir: Path, state: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    spool = workdir / "spool"
    spool.mkdir(exist_ok=True)
    config = workdir / "autotoo.yaml"
    config.write_text(CONFIG.format(state=state, spool=spool))
    return subprocess.run(
        [sys.executable, "-m", "autotoo", "run", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=workdir,
        check=False,
    )


async def make_state(path: Path, alerts: int) -> None:
    """A real state file as the daemon leaves it: migrated, with alerts in the inbox."""
    db = await Database.open(path)
    try:
        inbox = Inbox(Repository(db))
        for number in range(alerts):
            await inbox(
                Received.create(
                    raw=ep_alert(number),
                    identity=f"chaos:{number}",
                    topic=EP_TOPIC.replace("/", "."),
                    received_at=datetime.now(UTC),
                    source="chaos",
                )
            )
    finally:
        await db.close()


def fingerprint(directory: Path) -> str:
    """The database file's bytes (SQLite may add its empty -wal/-shm companions)."""
    return hashlib.sha256((directory / "state.db").read_bytes()).hexdigest()


def intact(path: Path, alerts: int) -> bool:
    with contextlib.closing(sqlite3.connect(path)) as db:
        ok = db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return ok and db.execute("SELECT count(*) FROM inbox").fetchone()[0] == alerts


def starts_normally(workdir: Path, state: Path) -> bool:
    """The daemon, started on the repaired state, reaches READY and stops with 0 on SIGTERM."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "autotoo", "run", "-c", str(workdir / "autotoo.yaml")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=workdir,
    )
    assert proc.stdout is not None
    ready = False
    for line in proc.stdout:
        if '"event": "ready"' in line:
            ready = True
            break
    proc.terminate()
    proc.communicate(timeout=30)
    return ready and proc.returncode == 0


def explained(result: subprocess.CompletedProcess[str], *words: str) -> bool:
    text = (result.stdout + result.stderr).lower()
    return "cannot open the state store" in text and all(w in text for w in words)


def check_refused(
    tmp_path: Path, state: Path, before: str, record: Record, scenario: str, cause: str
) -> tuple[subprocess.CompletedProcess[str], str]:
    """Run the daemon on the unusable state; record and return its result and the file's
    fingerprint afterwards (assertions follow once the filesystem is usable again)."""
    result = run_daemon(tmp_path, state)
    after = fingerprint(state.parent)
    record(
        scenario,
        exit_code=result.returncode,
        state_file_unchanged=after == before,
        cause_named=cause in (result.stdout + result.stderr),
        message=(result.stdout + result.stderr).strip().splitlines()[-1][:200],
    )
    return result, after


def assert_refused_cleanly(
    result: subprocess.CompletedProcess[str], before: str, after: str, cause: str, state: Path
) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert explained(result, cause), output
    assert after == before
    assert intact(state, 20)
    assert starts_normally(state.parent.parent, state)


@contextlib.contextmanager
def immutable(directory: Path) -> Iterator[None]:
    """``chattr +i``: not even root may create or change files in it."""
    subprocess.run(["chattr", "+i", str(directory)], check=True, capture_output=True)
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(directory)], check=True, capture_output=True)


async def test_read_only_state_directory(tmp_path: Path, chaos_record: Record) -> None:
    state_dir = tmp_path / "state"
    state = state_dir / "state.db"
    state_dir.mkdir()
    if _mount("-t", "tmpfs", "-o", "size=16m", "tmpfs", str(state_dir)):
        try:
            await make_state(state, alerts=20)
            before = fingerprint(state_dir)
            assert _mount("-o", "remount,ro", str(state_dir))
            cause = "is on a read-only filesystem"
            result, after = check_refused(
                tmp_path, state, before, chaos_record, "state directory read-only at start", cause
            )
            assert _mount("-o", "remount,rw", str(state_dir))
            assert_refused_cleanly(result, before, after, cause, state)
        finally:
            subprocess.run(["umount", str(state_dir)], check=True)
        return
    # No mount here: an immutable directory is the closest read-only state for root.
    await make_state(state, alerts=20)
    before = fingerprint(state_dir)
    cause = "is not writable"
    with immutable(state_dir):
        result, after = check_refused(
            tmp_path, state, before, chaos_record, "state directory immutable at start", cause
        )
    assert_refused_cleanly(result, before, after, cause, state)


async def test_full_filesystem_under_the_state(tmp_path: Path, chaos_record: Record) -> None:
    state_dir = tmp_path / "state"
    state = state_dir / "state.db"
    with tmpfs(state_dir, "1m"):
        await make_state(state, alerts=20)
        filler = state_dir / "filler"
        fill(filler)  # until ENOSPC: not one free block left
        before = fingerprint(state_dir)
        cause = "no space left"
        result, after = check_refused(
            tmp_path, state, before, chaos_record, "state filesystem full at start", cause
        )
        filler.unlink()
        assert_refused_cleanly(result, before, after, cause, state)
