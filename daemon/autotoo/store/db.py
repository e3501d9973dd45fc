"""The SQLite database: one connection, explicit transactions, numbered migrations.

Why these settings (all verified in ../shared/specs/ecosystem.md §5.1):

* WAL journal: readers never block the writer, and a crash leaves a consistent file.
* ``isolation_level=None``: Python 3.11's sqlite3 otherwise opens transactions implicitly and
  at surprising times; we issue ``BEGIN IMMEDIATE``/``COMMIT`` ourselves. IMMEDIATE takes the
  write lock up front, so two writers can never deadlock upgrading a read lock.
* ``synchronous``: FULL for *durable* transactions -- the inbox insert (the transport is
  acknowledged right after it, so it must survive a power cut) and the outbox (a row marked
  'submitting' must exist before its POST goes out) -- and NORMAL for the rest (tracking
  updates survive a process crash and are re-polled if a power cut loses the last ones).
* One connection guarded by an asyncio lock: aiosqlite runs it on its own thread, and every
  statement of a transaction must come from the task that began it.
* :meth:`Database.run` runs a whole transaction as one plain function on that thread: one
  queue hand-over and one loop wake-up instead of one per statement. A hot path such as the
  inbox insert or an alert's evaluation does ten statements; awaited one by one, the hops cost
  more than the SQL (bench/FINDINGS.md).
"""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import TypeVar

import aiosqlite

from autotoo.store.errors import MigrationError, StoreOpenError

T = TypeVar("T")

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def migrations() -> list[tuple[int, str, str]]:
    """(version, file name, SQL) of every bundled migration, in order."""
    found = []
    for entry in resources.files("autotoo.store").joinpath("migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    versions = [v for v, _, _ in found]
    if versions != list(range(1, len(versions) + 1)):
        raise MigrationError(f"migrations must be numbered 1..N without gaps, found {versions}")
    return found


SCHEMA_VERSION = len(migrations())


def _why(path: Path) -> str:
    """What the filesystem says, since SQLite's own words ("unable to open database file")
    do not tell an operator that the directory is read-only or the disk full."""
    directory = path.parent
    try:
        fs = os.statvfs(directory)
    except OSError:
        return ""
    if fs.f_flag & os.ST_RDONLY:
        return f" ({directory} is on a read-only filesystem)"
    if not os.access(directory, os.W_OK):
        return f" ({directory} is not writable by this user)"
    if fs.f_bavail == 0:
        return f" (no space left on the filesystem of {directory})"
    return ""


class Database:
    """An open, migrated SQLite state file."""

    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        self._conn = conn
        self._reader: sqlite3.Connection | None = None  # see read()
        self.path = path
        self._lock = asyncio.Lock()  # binds to the running loop on first use (3.10+)
        self._synchronous = ""

    @classmethod
    async def open(cls, path: Path) -> Database:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = await aiosqlite.connect(path, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise StoreOpenError(f"cannot open state database {path}: {exc}{_why(path)}") from None
        conn.row_factory = sqlite3.Row
        db = cls(conn, path)
        try:
            await db._prepare()
        except sqlite3.Error as exc:
            await conn.close()
            raise StoreOpenError(f"cannot use state database {path}: {exc}{_why(path)}") from None
        except BaseException:
            await conn.close()
            raise
        try:
            db._reader = _open_reader(path)
        except sqlite3.Error as exc:
            await conn.close()
            raise StoreOpenError(f"cannot read state database {path}: {exc}") from None
        return db

    async def _prepare(self) -> None:
        conn = self._conn
        await conn.execute("PRAGMA busy_timeout = 5000")
        mode = await (await conn.execute("PRAGMA journal_mode = WAL")).fetchone()
        if mode is None or str(mode[0]).lower() != "wal":
            raise StoreOpenError(f"{self.path}: cannot switch to WAL mode (got {mode})")
        await conn.execute("PRAGMA foreign_keys = ON")
        await self.migrate()
        # A write that cannot happen (read-only file or directory, full disk) must fail here,
        # at start, with a clear message, and not at the first alert.
        async with self.transaction(durable=True) as tx:
            await tx.execute(
                "INSERT INTO meta (key, value) VALUES ('opened_at', datetime('now')) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
            )

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        await self._conn.close()

    async def migrate(self) -> int:
        """Apply pending migrations; return the schema version. Safe to run any number of times."""
        row = await (await self._conn.execute("PRAGMA user_version")).fetchone()
        current = int(row[0]) if row else 0
        if current > SCHEMA_VERSION:
            raise MigrationError(
                f"{self.path} has schema version {current}, newer than this autotoo "
                f"({SCHEMA_VERSION}): upgrade autotoo or use another state file"
            )
        for version, name, sql in migrations():
            if version <= current:
                continue
            # user_version is set inside the same transaction as the DDL, so a crash leaves
            # either the old schema and version or the new ones, never a mix.
            script = f"BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version = {version};\nCOMMIT;"
            try:
                await self._conn.executescript(script)
            except sqlite3.Error as exc:
                if self._conn.in_transaction:
                    await self._conn.execute("ROLLBACK")
                raise MigrationError(f"migration {name} failed: {exc}") from None
        return SCHEMA_VERSION

    @asynccontextmanager
    async def transaction(self, *, durable: bool = False) -> AsyncIterator[aiosqlite.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on any exception, including
        cancellation). ``durable=True`` commits with ``synchronous=FULL``."""
        async with self._lock:
            wanted = "FULL" if durable else "NORMAL"
            if self._synchronous != wanted:  # cannot change inside a transaction
                await self._conn.execute(f"PRAGMA synchronous = {wanted}")
                self._synchronous = wanted
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                await self._conn.execute("ROLLBACK")
                raise
            await self._conn.execute("COMMIT")

    async def run(
        self, work: Callable[[sqlite3.Connection], T], *, write: bool, durable: bool = False
    ) -> T:
        """Run ``work(connection)`` on the SQLite thread in one hop and return its result.

        ``write=True`` wraps it in ``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` if it
        raises), with ``synchronous=FULL`` when ``durable``. ``work`` must not await or touch
        the event loop: it runs on aiosqlite's worker thread, which executes queued calls one
        at a time, so nothing else can interleave with it. If the awaiting task is cancelled
        the function still runs to its end (commit or rollback): a cancelled caller only
        loses the answer, which is what a crash at that point would do too.
        """
        async with self._lock:
            wanted = "FULL" if durable else "NORMAL"
            if write and self._synchronous != wanted:
                await self._conn.execute(f"PRAGMA synchronous = {wanted}")
                self._synchronous = wanted
            raw = self._conn._conn  # noqa: SLF001 - aiosqlite's sqlite3 connection (its thread only)
            assert raw is not None
            call = _transaction(work) if write else work
            # aiosqlite's own hand-over (a private method, pinned by uv.lock and guarded by
            # tests/store): the function runs on the connection's thread like its statements.
            return await self._conn._execute(call, raw)  # type: ignore[no-untyped-call,no-any-return]  # noqa: SLF001

    def read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run a short read on the event loop's own thread, on a second, read-only connection.

        For the index lookups of a few rows on the hot paths (the processor's and the
        submitter's): a hand-over to the SQLite thread costs ~0.2 ms of thread wake-ups on
        this kind of machine, the lookup itself a few hundredths of that. In WAL mode this
        connection sees every committed transaction and never waits for the writer; the
        explicit read transaction gives ``work`` one consistent snapshot. Scans of many rows
        (the CLI, the dashboard) stay on :meth:`reading`, off the loop.
        """
        conn = self._reader
        if conn is None:
            raise sqlite3.ProgrammingError("the state database is closed")
        conn.execute("BEGIN")
        try:
            return work(conn)
        finally:
            conn.execute("COMMIT")  # ends the snapshot (nothing was written)

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[aiosqlite.Connection]:
        """Reads share the one connection; the lock keeps them out of a writer's transaction."""
        async with self._lock:
            yield self._conn


def _open_reader(path: Path) -> sqlite3.Connection:
    # check_same_thread stays on: only the event loop's thread may use this connection.
    reader = sqlite3.connect(path, isolation_level=None)
    reader.row_factory = sqlite3.Row
    reader.execute("PRAGMA query_only = ON")
    reader.execute("PRAGMA busy_timeout = 1000")
    return reader


def _transaction(work: Callable[[sqlite3.Connection], T]) -> Callable[[sqlite3.Connection], T]:
    def in_transaction(conn: sqlite3.Connection) -> T:
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = work(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    return in_transaction
