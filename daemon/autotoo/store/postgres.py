"""The PostgreSQL store: the same :class:`Database` interface over psycopg 3.

Why it is built this way (docs/postgresql.md has the measurements):

* The store's SQL stays in one place for both backends. Every statement is already the
  portable subset (``ON CONFLICT``, ``RETURNING``); what remains SQLite's own is translated
  once per distinct statement (``pg_connection.translate``): ``?`` placeholders, ``X''``,
  ``datetime('now')``, ``BEGIN IMMEDIATE``, ``INDEXED BY``. The hot transactions are plain
  functions of a connection (:meth:`Database.run`); ``pg_connection.PgConnection`` gives
  them the part of ``sqlite3.Connection`` they use, so the very same functions run on both.
* psycopg 3, not asyncpg: those functions are synchronous, and psycopg has a synchronous
  API (asyncpg has none); their small transactions took the same time within the noise.
* Client-side binding (``ClientCursor``): the values are quoted into the statement, as
  SQLite's dynamic typing lets them be compared: an untyped ``? IS NULL`` or a text
  compared with a text column needs no cast. Booleans are stored as integers, as in SQLite.
* Three connections, as on SQLite: a writer used on a thread of its own under the asyncio
  write lock (transactions, :meth:`reading`), the loop thread's for :meth:`read`, whose
  callers are synchronous (a short index read; on a local server ~0.1 ms a statement), and
  :meth:`sync`'s, on a thread of its own.
* Durability as on SQLite: ``synchronous_commit`` on for durable transactions (the outbox's
  'submitting' before its POST), off for the rest. The inbox's commit is durable itself
  (:attr:`inbox_commits_durable`): SQLite's way, a commit and then an fsync of the WAL
  (:meth:`sync`), would here be a flush on another connection, which cannot tell whether
  the server crashed in between and lost the commit. :meth:`sync` still flushes (one empty
  durable commit shared by every caller waiting) for a commit that was not durable.
* A server that went away makes the store unavailable, as a full disk does SQLite's
  (:func:`_unreachable`); a BEGIN on a dropped connection is sent again on a new one.
* Migrations: ``migrations/postgresql/NNNN_*.sql``, numbered like SQLite's; the first is
  the schema at SQLite's version 6 (a new store starts there), and both sets must end at
  the same version. Applied in one transaction each under an advisory lock, recorded in
  ``schema_version``.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from functools import partial
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast
from urllib.parse import urlsplit, urlunsplit

from autotoo.logs import get_logger
from autotoo.store.db import SCHEMA_VERSION, Database
from autotoo.store.errors import MigrationError, StorageUnavailableError, StoreOpenError
from autotoo.store.pg_connection import DEFAULT_IDLE_IN_TRANSACTION_S, PgConnection, connect
from autotoo.store.storage import StorageHealth, is_storage_failure

if TYPE_CHECKING:
    import sqlite3

    import aiosqlite
    import psycopg

log = get_logger("autotoo.store")

T = TypeVar("T")

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# Serialises migrations of several instances starting at once (a constant of our own).
_MIGRATION_LOCK = 0x6175746F746F6F


def pg_migrations() -> list[tuple[int, str, str]]:
    """(version, file name, SQL) of every PostgreSQL migration, in order: contiguous, and
    ending at the SQLite set's version."""
    folder = resources.files("autotoo.store").joinpath("migrations").joinpath("postgresql")
    found = []
    for entry in folder.iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    versions = [v for v, _, _ in found]
    if not versions or versions != list(range(versions[0], versions[0] + len(versions))):
        raise MigrationError(f"PostgreSQL migrations must be contiguous, found {versions}")
    if versions[-1] != SCHEMA_VERSION:
        raise MigrationError(
            f"PostgreSQL migrations end at {versions[-1]}, SQLite's at {SCHEMA_VERSION}"
        )
    return found


def redacted(url: str) -> str:
    """The URL without a password, for logs and messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}@{host}" if parts.username else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


class _AsyncCursor:
    """What ``await conn.execute(...)`` of aiosqlite returns, already fetched."""

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    async def fetchone(self) -> Any:
        return self._rows[0] if self._rows else None

    async def fetchall(self) -> list[Any]:
        return self._rows


class AsyncPgConnection:
    """The part of ``aiosqlite.Connection`` :meth:`Database.reading` and
    :meth:`Database.transaction` callers use: each statement runs on the writer's thread."""

    def __init__(self, db: PgDatabase, *, autocommit: bool) -> None:
        self._db = db
        self._autocommit = autocommit  # reading(): no transaction to lose by reconnecting

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> _AsyncCursor:
        def run(conn: PgConnection) -> _AsyncCursor:
            if self._autocommit:
                conn.ensure()
            cursor = conn.execute(sql, params)
            rows = cursor.fetchall() if cursor.description else []
            return _AsyncCursor(rows, cursor.rowcount)

        return await self._db.on_thread(run)

    async def executemany(self, sql: str, seq: Any) -> _AsyncCursor:
        def run(conn: PgConnection) -> _AsyncCursor:
            return _AsyncCursor([], conn.executemany(sql, seq).rowcount)

        return await self._db.on_thread(run)


class PgDatabase(Database):
    """A PostgreSQL database behind :class:`Database`'s interface (the module says why)."""

    # Its own flush, not a later one: a flush on another connection cannot tell whether the
    # server crashed (losing the commit) between the commit and the flush.
    inbox_commits_durable = True
    shared = True  # several instances: leases on submissions (store/leases.py)

    def __init__(
        self,
        url: str,
        writer: psycopg.Connection[Any],
        loop_conn: psycopg.Connection[Any],
        flusher: psycopg.Connection[Any],
        password: str | None = None,
        idle_in_transaction_s: float = DEFAULT_IDLE_IN_TRANSACTION_S,
    ) -> None:
        # Database.__init__ opens SQLite's machinery; only what the interface uses is set.
        self.url = redacted(url)
        self.path = Path(self.url)
        again = partial(connect, url, password, idle_in_transaction_s)
        self._writer = PgConnection(writer, again)
        self._loop_conn = PgConnection(loop_conn, again)
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="autotoo-postgresql")
        # sync()'s: a connection and thread of its own, like SQLite's WAL fsync, so that a
        # flush never waits for the writer's lock nor lands inside its transaction.
        self._flusher = PgConnection(flusher, again)
        self._flush_thread = ThreadPoolExecutor(1, thread_name_prefix="autotoo-pg-flush")
        self._lock = asyncio.Lock()
        self._committed = 0
        self._synced = 0
        self._sync_lock = asyncio.Lock()
        self.storage = StorageHealth(None, self._recovery_probe)
        self._disk_refused = False  # since the last recovery: the server's disk refused a write

    @classmethod
    async def open_url(
        cls,
        url: str,
        *,
        password: str | None = None,
        write_check: bool = True,
        lease_s: float = DEFAULT_IDLE_IN_TRANSACTION_S,
    ) -> PgDatabase:
        """Connect, migrate, and (``write_check``) prove at once that it can write. A
        session idle in a transaction for longer than ``lease_s`` is ended by the server
        (``pg_connection.connect`` says why)."""
        try:
            import psycopg  # noqa: PLC0415
        except ImportError:
            raise StoreOpenError(
                "a postgresql:// state needs psycopg: install autotoo[postgresql]"
            ) from None
        try:
            writer = await asyncio.to_thread(connect, url, password, lease_s)
            loop_conn = await asyncio.to_thread(connect, url, password, lease_s)
            flusher = await asyncio.to_thread(connect, url, password, lease_s)
        except psycopg.Error as exc:
            raise StoreOpenError(f"cannot connect to {redacted(url)}: {exc}") from None
        db = cls(url, writer, loop_conn, flusher, password, lease_s)
        try:
            await db.migrate()
            if write_check:
                await db._probe()
        except (psycopg.Error, StorageUnavailableError) as exc:
            await db.close()
            raise StoreOpenError(f"cannot use {db.url}: {exc}") from None
        except BaseException:
            await db.close()
            raise
        db.storage.armed = True
        return db

    async def on_thread(self, work: Callable[[PgConnection], T]) -> T:
        """``work(writer)`` on the writer's thread (the caller holds the lock)."""
        return await asyncio.get_running_loop().run_in_executor(self._thread, work, self._writer)

    async def close(self) -> None:
        await self.storage.close()
        with contextlib.suppress(Exception):
            await self.on_thread(lambda conn: conn.raw.close())
        self._loop_conn.raw.close()
        self._thread.shutdown(wait=False)
        await asyncio.get_running_loop().run_in_executor(
            self._flush_thread, self._flusher.raw.close
        )
        self._flush_thread.shutdown(wait=False)

    async def migrate(self) -> int:
        """Apply pending migrations; return the schema version (safe to run again)."""
        import psycopg  # noqa: PLC0415

        wanted = pg_migrations()

        def apply(conn: PgConnection) -> int:
            raw = conn.raw
            with raw.transaction():
                raw.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
                raw.execute(
                    "CREATE TABLE IF NOT EXISTS schema_version "
                    "(version BIGINT PRIMARY KEY, applied_at TEXT NOT NULL)"
                )
                row = raw.execute("SELECT max(version) FROM schema_version").fetchone()
                current = int(row[0]) if row and row[0] is not None else 0
                if current > SCHEMA_VERSION:
                    raise MigrationError(
                        f"{self.url} has schema version {current}, newer than this autotoo "
                        f"({SCHEMA_VERSION}): upgrade autotoo or use another database"
                    )
                for version, name, sql in wanted:
                    if version <= current:
                        continue
                    try:
                        with raw.transaction():
                            raw.execute(sql.encode())
                    except psycopg.Error as exc:
                        raise MigrationError(f"migration {name} failed: {exc}") from None
                    raw.execute("INSERT INTO schema_version VALUES (%s, now()::text)", (version,))
            return SCHEMA_VERSION

        async with self._lock:
            return await self.on_thread(apply)

    async def schema_version(self) -> int:
        async with self.reading() as conn:
            row = await (await conn.execute("SELECT max(version) FROM schema_version")).fetchone()
            return int(row[0]) if row and row[0] is not None else 0

    @asynccontextmanager
    async def transaction(self, *, durable: bool = False) -> AsyncIterator[aiosqlite.Connection]:
        """``BEGIN`` ... ``COMMIT`` on the writer (``ROLLBACK`` on any exception)."""
        async with self._lock:
            before = self._committed
            conn = AsyncPgConnection(self, autocommit=False)
            try:
                await self.on_thread(partial_begin(durable))
                try:
                    yield cast("aiosqlite.Connection", conn)
                    await self.on_thread(_commit)
                except BaseException:
                    await asyncio.shield(self.on_thread(_rollback))
                    raise
            except Exception as exc:
                if is_storage_failure(exc) or _unreachable(exc):
                    raise self._refused(exc) from exc
                raise
            self._counted(before, durable=durable)

    async def run(
        self,
        work: Callable[[sqlite3.Connection], T],
        *,
        durable: bool = False,
        large: bool = False,  # noqa: ARG002 - every transaction runs on the writer's thread
    ) -> T:
        """Run ``work(connection)`` whole, in one transaction, on the writer's thread."""

        def in_transaction(conn: PgConnection) -> T:
            partial_begin(durable)(conn)
            try:
                result = work(cast("sqlite3.Connection", conn))
                _commit(conn)
            except BaseException:
                _rollback(conn)
                raise
            return result

        async with self._lock:
            before = self._committed
            try:
                result = await self.on_thread(in_transaction)
            except Exception as exc:
                if is_storage_failure(exc) or _unreachable(exc):
                    raise self._refused(exc) from exc
                raise
            self._counted(before, durable=durable)
            return result

    def _counted(self, before: int, *, durable: bool) -> None:
        self._committed = before + 1
        if durable:  # its WAL flush covered every commit before it
            self._synced = max(self._synced, self._committed)

    def begin_sync(self) -> None:
        """Nothing to start early: :meth:`sync` is one round trip."""

    async def sync(self, through: int | None = None) -> None:
        """Return once every transaction committed before (or the first ``through``) is
        durable: one empty durable commit flushes the server's WAL up to it."""
        target = self._committed if through is None else through
        async with self._sync_lock:  # callers arriving meanwhile share the next flush
            if self._synced >= target:
                return
            covered = self._committed
            try:
                await asyncio.get_running_loop().run_in_executor(
                    self._flush_thread, _flush, self._flusher
                )
            except Exception as exc:
                if is_storage_failure(exc) or _unreachable(exc):
                    raise self._refused(exc) from exc
                raise
            self._synced = max(self._synced, covered)

    def read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """A short read on the loop's thread, in one snapshot (REPEATABLE READ)."""
        conn = self._loop_conn
        try:
            conn.begin("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                return work(cast("sqlite3.Connection", conn))
            finally:
                if not conn.raw.broken:
                    conn.raw.execute("COMMIT")
        except Exception as exc:
            if _unreachable(exc):
                raise self.storage.failed(exc) from exc
            raise

    def location(self) -> str:
        """The database's URL, without a password."""
        return self.url

    def sizes(self) -> tuple[int, int]:
        """(the database's size on the server, 0): its WAL is the server's, not ours."""
        row = self.read(
            lambda conn: conn.execute("SELECT pg_database_size(current_database())").fetchone()
        )
        return int(row[0]), 0

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[aiosqlite.Connection]:
        """Statements on the writer's connection, kept out of a writer's transaction. A server
        gone away makes the store unavailable here too (a read is no exception: the
        supervisor's status line reads through it while the server restarts)."""
        async with self._lock:
            try:
                yield cast("aiosqlite.Connection", AsyncPgConnection(self, autocommit=True))
            except Exception as exc:
                if _unreachable(exc):
                    raise self.storage.failed(exc) from exc
                raise

    async def _probe(self) -> None:
        def probe(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('storage_probe', datetime('now')) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
            )

        await self.run(probe, durable=True)

    def _refused(self, exc: BaseException) -> StorageUnavailableError:
        """The store is unavailable (a write refused by the server's disk, or the server out of
        reach); the error for the caller to raise."""
        if is_storage_failure(exc):
            self._disk_refused = True
        return self.storage.failed(exc)

    async def _recovery_probe(self) -> None:
        """The storage health's probe while the store is unavailable: the small write, and
        after the server's disk refused a write, ~1 MiB of new pages as well.

        The server's free space is not ours to look at (SQLite's recovery waits for free
        space by statvfs first), and the small write alone finds room in a page its table
        already has while the disk is still full: the store came back, and the next inbox
        write was refused again, an episode every half second (tests/store/test_pg_full_disk.py).
        The pages go to a temporary table, dropped at its commit, which the server extends on
        disk as it writes it (SQLSTATE 53100 while the disk is full), in the database's
        ``temp_tablespaces`` (by default its own tablespace). A role that may not create
        temporary tables cannot look: then the store comes back on the small write, as it did
        before, rather than never."""
        await self._probe()
        if not self._disk_refused:
            return  # the server was out of reach: nothing to measure
        try:
            await self.run(_new_pages, durable=True)
        except StorageUnavailableError:
            raise
        except Exception as exc:  # noqa: BLE001 - e.g. no TEMP privilege: resume without the check
            log.warning("cannot check the server's free space; resuming on the small write",
                        error=" ".join(str(exc).split()))  # fmt: skip
        self._disk_refused = False


def _new_pages(conn: sqlite3.Connection) -> None:
    """~130 new pages (~1 MiB) in a temporary table dropped at the commit."""
    conn.execute("CREATE TEMPORARY TABLE autotoo_space_probe (n integer) ON COMMIT DROP")
    conn.execute("INSERT INTO autotoo_space_probe SELECT generate_series(1, 30000)")


def partial_begin(durable: bool) -> Callable[[PgConnection], None]:
    """BEGIN, with the commit's durability: synchronous_commit on (the server's WAL flushed
    before COMMIT returns) or off (flushed within its wal_writer_delay; a crash of the
    server, not of autotoo, may lose the last of these, as a power cut loses SQLite's
    NORMAL commits)."""

    def begin(conn: PgConnection) -> None:
        conn.begin()
        conn.raw.execute(f"SET LOCAL synchronous_commit = {'on' if durable else 'off'}")

    return begin


def _commit(conn: PgConnection) -> None:
    conn.raw.execute("COMMIT")


def _rollback(conn: PgConnection) -> None:
    if conn.in_transaction:
        with contextlib.suppress(Exception):
            conn.raw.execute("ROLLBACK")


def _flush(conn: PgConnection) -> None:
    """An empty durable commit: txid_current() gives the transaction an id, so its COMMIT
    writes a record and waits for the WAL to be flushed through it (and every record
    before it)."""
    conn.begin()
    try:
        conn.raw.execute("SET LOCAL synchronous_commit = on")
        conn.execute("SELECT txid_current()")  # refused by a standby: marks it read-only
        conn.raw.execute("COMMIT")
    except BaseException:
        _rollback(conn)
        raise


def is_postgresql(state: str | None) -> bool:
    """Whether the config's ``state:`` names a PostgreSQL database."""
    return state is not None and state.startswith("postgresql://")


async def open_postgresql(
    url: str,
    password_file: str | None,
    *,
    write_check: bool = True,
    lease_s: float = DEFAULT_IDLE_IN_TRANSACTION_S,
) -> PgDatabase:
    """Open the config's PostgreSQL state; the password is read from its credential file
    (a systemd credential name or an absolute path), never from the config. Several daemons
    may share it (store/leases.py)."""
    from autotoo.credentials import CredentialError, read_credential  # noqa: PLC0415

    password = None
    if password_file is not None:
        try:
            password = read_credential(password_file).get_secret_value()
        except CredentialError as exc:
            raise StoreOpenError(f"cannot read store.password_file: {exc}") from None
    return await PgDatabase.open_url(
        url, password=password, write_check=write_check, lease_s=lease_s
    )


def _unreachable(exc: BaseException) -> bool:
    """The server cannot be used now (the connection lost, a restart, a fail-over, a
    refused connection, a session the server ended because it sat idle in a transaction
    longer than the lease, ``pg_connection.connect``, or a server that turned out to be a
    read-only standby): the store is unavailable, as a full
    disk makes SQLite's, and the storage health's probe connects again (store/storage.py)."""
    import psycopg  # noqa: PLC0415 - loaded: this store is open

    return isinstance(
        exc,
        psycopg.OperationalError
        | psycopg.errors.IdleInTransactionSessionTimeout
        | psycopg.errors.ReadOnlySqlTransaction,  # a standby: PgConnection connects again
    )
