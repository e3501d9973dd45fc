"""The store on a real, small tmpfs that fills up: a refused write is recognised, the store
recovers by itself once space returns, and the data lives in the database file, not in an
ever-growing WAL that no restart could checkpoint (issue 16).

Needs CAP_SYS_ADMIN for the mount (the fixture of tests/chaos/test_state_dir.py skips
without it).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

from autotoo.pipeline.intake import Inbox
from autotoo.store.db import Database
from autotoo.store.errors import StorageUnavailableError, StoreError
from autotoo.store.repository import Repository
from tests.chaos.state_fs import fill, tmpfs
from tests.store.disk_episode import message, refused_until_space_returns


async def store_until_refused(db: Database, first: int) -> int:
    """Store distinct alerts until the disk refuses one; how many were stored."""
    inbox = Inbox(Repository(db))
    number = first
    while True:
        try:
            await inbox(message(number))
        except (StoreError, sqlite3.Error, OSError):
            return number - first
        number += 1


def wal_bytes(state: Path) -> int:
    wal = Path(f"{state}-wal")
    return wal.stat().st_size if wal.exists() else 0


def inbox_count(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return int(conn.execute("SELECT count(*) FROM inbox").fetchone()[0])


async def test_restart_after_the_disk_filled_and_was_freed_twice(tmp_path: Path) -> None:
    """Before the fix the WAL held everything on a 3 MiB filesystem (the 4 MB checkpoint
    threshold was never reached), so the second restart failed with "database or disk is
    full" although the filler had been removed."""
    state_dir = tmp_path / "state"
    state = state_dir / "state.db"
    stored = 0
    with tmpfs(state_dir, "3m"):
        for cycle, filler_size in enumerate((1 << 20, 512 << 10, 256 << 10)):
            filler = state_dir / "filler"
            filler.write_bytes(b"\0" * filler_size)
            db = await Database.open(state, compact=True)  # a restart, as the daemon's
            try:
                got = await store_until_refused(db, first=cycle * 100_000)
            finally:
                await db.close()
            assert got > 0, f"cycle {cycle}: nothing could be stored after freeing space"
            stored += got
            wal_size = wal_bytes(state)
            assert wal_size <= (3 << 20) // 4, f"cycle {cycle}: the WAL holds {wal_size} bytes"
            filler.unlink()
        db = await Database.open(state)
        await db.close()
        assert inbox_count(state) == stored


async def test_a_refused_write_pauses_the_store_until_space_returns(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    with tmpfs(state_dir, "3m"):
        db = await Database.open(state_dir / "state.db")
        await refused_until_space_returns(
            db, state_dir / "filler", reason="database or disk is full"
        )


def leave_a_large_wal(state: Path, megabytes: int) -> None:
    """What an older autotoo (or a kill -9) leaves: a WAL of ``megabytes`` never copied into
    the database file (the writing process dies with its connection open, so SQLite's
    checkpoint on close never runs)."""
    script = (
        "import os, sqlite3, sys\n"
        "conn = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "conn.execute('PRAGMA wal_autocheckpoint = 0')\n"
        "for i in range(int(sys.argv[2]) * 16):\n"
        "    conn.execute('INSERT INTO meta VALUES (?, ?)', (f'old{i}', 'x' * 60000))\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", script, str(state), str(megabytes)], check=True)


async def test_the_daemons_start_copies_a_large_wal_left_behind(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    db = await Database.open(state)
    await db.close()
    await asyncio.to_thread(leave_a_large_wal, state, 2)
    assert wal_bytes(state) > 2_000_000
    db = await Database.open(state, compact=True)
    try:
        assert wal_bytes(state) < 100_000  # copied into state.db; the WAL starts again
        assert await Repository(db).get_meta("old31") == "x" * 60000
    finally:
        await db.close()


def hold_write_lock(state: Path, seconds: float, taken: threading.Event) -> None:
    """Another process's writer (an `autotoo jobs cancel`, a backup) holding the lock."""
    with contextlib.closing(sqlite3.connect(state, isolation_level=None)) as other:
        other.execute("BEGIN IMMEDIATE")
        taken.set()
        time.sleep(seconds)
        other.execute("ROLLBACK")


async def test_recovery_outlasts_a_probe_that_fails_for_another_reason(tmp_path: Path) -> None:
    """A probe that meets 'database is locked' (busy for longer than busy_timeout) once
    ended the recovery loop before this test: the store stayed unavailable for ever."""
    state_dir = tmp_path / "state"
    with tmpfs(state_dir, "3m"):
        state = state_dir / "state.db"
        db = await Database.open(state)
        try:
            repo = Repository(db)
            filler = state_dir / "filler"
            fill(filler)
            for number in range(2000):
                try:
                    await Inbox(repo)(message(number))
                except StorageUnavailableError:
                    break
            assert db.storage.problem is not None
            taken = threading.Event()
            holder = threading.Thread(target=hold_write_lock, args=(state, 7.0, taken))
            holder.start()
            taken.wait(5)
            filler.unlink()  # space is back, but the next probe finds the lock taken
            await asyncio.wait_for(db.storage.wait(), 40)
            await asyncio.to_thread(holder.join)
            assert db.storage.problem is None
        finally:
            await db.close()
