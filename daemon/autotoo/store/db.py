"""The SQLite database: explicit transactions, numbered migrations, and the connections and
threads that keep the event loop from waiting on the disk.

Why these settings:

* WAL journal: readers never block the writer, and a crash leaves a consistent file.
* ``isolation_level=None``: Python 3.11's sqlite3 otherwise opens transactions implicitly and
  at surprising times; we issue ``BEGIN IMMEDIATE``/``COMMIT`` ourselves. IMMEDIATE takes the
  write lock up front, so two writers can never deadlock upgrading a read lock.
* ``synchronous``: FULL for *durable* transactions -- the outbox (a row marked
  'submitting' must exist before its POST goes out) -- and NORMAL for the rest (tracking
  updates survive a process crash and are re-polled if a power cut loses the last ones; an
  alert's evaluation is re-done from its durable inbox row, see
  :meth:`Repository.commit_alerts`). An fsync of the WAL also makes every earlier
  transaction in it durable, so a FULL commit covers the NORMAL ones before it.
* The inbox insert is committed with NORMAL and then made durable by :meth:`Database.sync`
  (an fsync of the WAL file, beside the loop) before the transport is acknowledged: the
  processor starts on the alert during that fsync instead of after it, and nothing the
  processor does can leave the machine before a later FULL commit, whose own fsync covers
  the inbox row too.
* A connection guarded by an asyncio lock: aiosqlite runs it on its own thread, and every
  statement of a transaction must come from the task that began it.
* The hot paths (the inbox insert, an alert's evaluation, a submission's state change, and
  their short reads) run as one plain function each (:meth:`Database.run`,
  :meth:`Database.read`), not statement by statement: on this kind of machine a hand-over
  to a worker thread and back costs ~0.7 ms of wake-ups, and a whole transaction of ten
  statements a few tenths of that (bench/FINDINGS.md). Large ones (a batch of alerts) go to
  the SQLite thread in one hop, so their SQL runs beside the loop's Python; the rest,
  durable ones included, run on the loop's thread on a second connection. The two never
  write at once: every write holds the same asyncio lock.
* Checkpoints run beside the writers, on a third connection and thread (see
  :meth:`Database._maybe_checkpoint`), never inside a commit, and often enough that the WAL
  stays a small part of the filesystem (see :func:`_checkpoint_pages_for`).
* A write the disk refuses (full, I/O error) raises StorageUnavailableError and makes the
  store "unavailable" until a probe write succeeds again (:mod:`autotoo.store.storage`); a
  failed COMMIT is rolled back, so a connection never stays inside a half-failed
  transaction (SQLite leaves it open after SQLITE_FULL on COMMIT).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sqlite3
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from functools import partial
from importlib import resources
from pathlib import Path
from typing import TypeVar

import aiosqlite

from autotoo.logs import get_logger
from autotoo.store.errors import MigrationError, StorageUnavailableError, StoreOpenError
from autotoo.store.storage import StorageHealth, free_bytes, is_storage_failure

log = get_logger("autotoo.store")

T = TypeVar("T")

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# The first line of a migration that rebuilds a table (see Database.migrate).
_FOREIGN_KEYS_OFF = "-- autotoo: foreign keys off"


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


def _fk_violation() -> None:
    """Called for the first row of ``pragma_foreign_key_check`` after a table rebuild."""
    raise sqlite3.IntegrityError("a foreign key refers to a row the rebuild lost")


def schema_version_of(path: Path) -> int | None:
    """The schema version of an existing state file, read without writing anything (None:
    no file, or not one SQLite can read). The daemon asks before opening, to tell systemd
    and the log how long an upgrade may take (see :func:`upgrade_seconds`)."""
    if not path.is_file():
        return None
    try:
        conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
        try:
            return int(conn.execute("PRAGMA user_version").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return None


def upgrade_seconds(size_bytes: int) -> float:
    """A generous bound on migrating a state file of this size to this schema. Migration 4
    rebuilds the inbox's index, which reads every payload's overflow pages: the whole
    file, ~11 s per GB on this kind of machine (545 MB of notices and sky maps in 6.2 s);
    twice that, plus half a minute."""
    return 30.0 + 2 * 11.0 * size_bytes / 1e9


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

    # The inbox commits without an fsync and :meth:`sync` makes it durable beside the loop
    # (see the module's docstring); a server's store commits it durably (store/postgres.py).
    inbox_commits_durable = False
    # Whether several daemons may share it (store/leases.py): a SQLite file has one, so its
    # submitter takes no leases and recovers every 'submitting' row at start.
    shared = False

    def __init__(
        self, conn: aiosqlite.Connection, path: Path, *, fsync: Callable[[int], None] = os.fdatasync
    ) -> None:
        self._conn = conn
        self._direct: sqlite3.Connection | None = None  # the loop thread's: see run()
        self.path = path
        self._lock = asyncio.Lock()  # binds to the running loop on first use (3.10+)
        self._synchronous = ""
        # sync(): commits counted as they return, and how many of them an fsync has covered.
        # fdatasync, as SQLite's own syncs on Linux: the data and the size, not the times.
        # Injectable: tests hold it to observe what waits for it.
        self._fsync = fsync
        self._wal_fd: int | None = None
        self._committed = 0
        self._synced = 0
        self._syncing: tuple[asyncio.Future[None], int] | None = None
        self._fsync_thread = ThreadPoolExecutor(1, thread_name_prefix="autotoo-wal-fsync")
        # Checkpoints: a connection and a thread of their own, outside the write lock.
        self._checkpointer: sqlite3.Connection | None = None
        self._checkpoint_thread = ThreadPoolExecutor(1, thread_name_prefix="autotoo-checkpoint")
        self._checkpointing: asyncio.Future[None] | None = None
        self._checkpointed_at = (0, 0)  # (rows changed, commits) when the last one began
        self._wal_frames = 0  # the WAL's length at the last one (small after a restart)
        self._checkpoint_pages = _checkpoint_pages_for(path.parent)
        self.storage = StorageHealth(path.parent, self._probe)

    @classmethod
    async def open(
        cls,
        path: Path,
        *,
        fsync: Callable[[int], None] = os.fdatasync,
        write_check: bool = True,
        compact: bool = False,
    ) -> Database:
        """Open (create) and migrate the store. ``write_check``: prove at once that it can
        write (``autotoo status`` skips it, to report on a full disk). ``compact``: copy a
        WAL left behind into the database file first (the daemon's start; not the CLI's
        commands, whose TRUNCATE checkpoint would hold a running daemon's writers)."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = await aiosqlite.connect(path, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise StoreOpenError(f"cannot open state database {path}: {exc}{_why(path)}") from None
        conn.row_factory = sqlite3.Row
        db = cls(conn, path, fsync=fsync)
        try:
            await db._prepare(write_check=write_check, compact=compact)
        except (sqlite3.Error, StorageUnavailableError) as exc:
            await conn.close()
            raise StoreOpenError(f"cannot use state database {path}: {exc}{_why(path)}") from None
        except BaseException:
            await conn.close()
            raise
        try:
            db._direct = _open_direct(path)
            db._checkpointer = _open_checkpointer(path)
            # The WAL exists now (_prepare wrote to it) and lives as long as a connection is
            # open: SQLite deletes it only when the last one closes, and truncating it keeps
            # the inode, so this descriptor always names the file SQLite appends to.
            db._wal_fd = os.open(f"{path}-wal", os.O_RDONLY | os.O_CLOEXEC)
        except (OSError, sqlite3.Error) as exc:
            await db.close()
            raise StoreOpenError(f"cannot read state database {path}: {exc}") from None
        db.storage.armed = True  # from now on a refused write pauses instead of failing
        return db

    async def _prepare(self, *, write_check: bool = True, compact: bool = False) -> None:
        conn = self._conn
        await conn.execute("PRAGMA busy_timeout = 5000")
        mode = await (await conn.execute("PRAGMA journal_mode = WAL")).fetchone()
        if mode is None or str(mode[0]).lower() != "wal":
            raise StoreOpenError(f"{self.path}: cannot switch to WAL mode (got {mode})")
        await conn.execute("PRAGMA foreign_keys = ON")
        await conn.execute("PRAGMA wal_autocheckpoint = 0")  # see _maybe_checkpoint
        await conn.execute(f"PRAGMA journal_size_limit = {self._wal_limit_bytes()}")
        if compact:
            # A WAL left large (by a version that checkpointed by a fixed size, or a disk
            # that refused the checkpoints) is copied into the database file and emptied
            # first, while nothing else is open: otherwise it may hold the whole filesystem,
            # and no write, not even this start's, finds room (issue 16). If there is no
            # room for the copy either, the write below says so.
            with contextlib.suppress(sqlite3.Error):
                await conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        await self.migrate()
        if not write_check:
            return
        # A write that cannot happen (read-only file or directory, full disk) must fail here,
        # at start, with a clear message, and not at the first alert.
        async with self.transaction(durable=True) as tx:
            await tx.execute(
                "INSERT INTO meta (key, value) VALUES ('opened_at', datetime('now')) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
            )

    async def close(self) -> None:
        await self.storage.close()
        if self._syncing is not None:
            with contextlib.suppress(OSError):
                await asyncio.shield(self._syncing[0])
        if self._checkpointing is not None:
            await asyncio.shield(self._checkpointing)
            self._checkpointing = None
        if self._checkpointer is not None:
            await asyncio.get_running_loop().run_in_executor(
                self._checkpoint_thread, self._checkpointer.close
            )
            self._checkpointer = None
        self._checkpoint_thread.shutdown(wait=False)
        if self._direct is not None:
            self._direct.close()
            self._direct = None
        await self._conn.close()
        if self._wal_fd is not None:
            # After the connections: SQLite keeps no POSIX lock on the WAL itself (its locks
            # are on the -shm and the main file), so closing this one releases none of them.
            os.close(self._wal_fd)
            self._wal_fd = None
        self._fsync_thread.shutdown(wait=False)

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
            rebuilds = sql.startswith(_FOREIGN_KEYS_OFF)
            check = ""
            if rebuilds:
                # A table rebuild (SQLite's documented procedure for changing a constraint):
                # the pragma is a no-op inside a transaction, so it is set before BEGIN, and
                # every foreign key is checked before the COMMIT instead.
                await self._conn.execute("PRAGMA foreign_keys = OFF")
                await self._conn.create_function("_autotoo_fk_violation", 0, _fk_violation)
                check = "SELECT _autotoo_fk_violation() FROM pragma_foreign_key_check LIMIT 1;\n"
            script = f"BEGIN IMMEDIATE;\n{sql}\n{check}PRAGMA user_version = {version};\nCOMMIT;"
            try:
                await self._conn.executescript(script)
            except sqlite3.Error as exc:
                if self._conn.in_transaction:
                    await self._conn.execute("ROLLBACK")
                raise MigrationError(f"migration {name} failed: {exc}") from None
            finally:
                if rebuilds:
                    await self._conn.execute("PRAGMA foreign_keys = ON")
        return SCHEMA_VERSION

    @asynccontextmanager
    async def transaction(self, *, durable: bool = False) -> AsyncIterator[aiosqlite.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on any exception, including
        cancellation). ``durable=True`` commits with ``synchronous=FULL``."""
        async with self._lock:
            before = self._committed
            try:
                await self._synchronous_for(durable=durable)
                await self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self._conn
                    await self._conn.execute("COMMIT")
                except BaseException:
                    if self._conn.in_transaction:  # also after a failed COMMIT (SQLITE_FULL)
                        with contextlib.suppress(sqlite3.Error):
                            await self._conn.execute("ROLLBACK")
                    raise
            except (sqlite3.Error, OSError) as exc:
                if is_storage_failure(exc):
                    raise self.storage.failed(exc) from exc
                raise
            self._counted(before, durable=durable)

    async def run(
        self,
        work: Callable[[sqlite3.Connection], T],
        *,
        durable: bool = False,
        large: bool = False,
    ) -> T:
        """Run ``work(connection)`` whole, in one write transaction, and return its result.

        ``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` if it raises), with
        ``synchronous=FULL`` when ``durable``. ``work`` must be short and must not await.

        It runs on the loop's thread, where it costs less than a hand-over to a thread:
        on this kind of machine a hand-over wakes an idle CPU, ~0.6 ms from the call to
        the function starting on aiosqlite's thread (up to 1.4 ms) and ~0.1 ms back, about
        as much as a durable commit's own fsync (~1 ms after an idle moment, 0.2-0.3 ms
        back to back; bench/FINDINGS.md item 14). A durable one does block the
        loop for its fsync; durable ones are the outbox's steps (one or two per TOO or XRT
        job, the 'submitting' one right before its POST) and retractions. The inbox, the
        hot durable path, does not come here: it commits without an fsync and then waits
        for :meth:`sync`, beside the loop. A ``large`` one (the inbox's group of messages,
        the pruner's batches: mostly SQLite's own work on big rows, which releases the GIL)
        runs on the SQLite thread, so that its SQL runs beside the loop's Python instead of
        after it. A batch of evaluated alerts does not: its work is mostly Python.
        The lock keeps any other transaction, on either connection, out until it returns.
        """
        async with self._lock:
            before = self._committed  # every commit so far: a FULL one makes them durable too
            try:
                if large:
                    await self._synchronous_for(durable=durable)
                    raw = self._threads_connection()
                    assert raw is not None
                    # aiosqlite's own hand-over (a private method, pinned by uv.lock): the
                    # function runs on the connection's thread like its statements do.
                    result: T = await self._conn._execute(_transaction(work), raw)  # type: ignore[no-untyped-call]  # noqa: SLF001
                else:
                    result = _transaction(work, durable=durable)(self._connection())
            except (sqlite3.Error, OSError) as exc:
                if is_storage_failure(exc):
                    raise self.storage.failed(exc) from exc
                raise
            self._counted(before, durable=durable)
            return result

    async def _probe(self) -> None:
        """The storage health's test write: a checkpoint first (a WAL that can restart needs
        no new space), then one small durable write."""
        if self._checkpointer is not None and not (
            self._checkpointing is not None and not self._checkpointing.done()
        ):
            with contextlib.suppress(sqlite3.Error):
                self._wal_frames = await asyncio.get_running_loop().run_in_executor(
                    self._checkpoint_thread, _checkpoint, self._checkpointer
                )

        def probe(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('storage_probe', datetime('now')) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
            )

        await self.run(probe, durable=True)

    def _wal_limit_bytes(self) -> int:
        """journal_size_limit: a WAL that grew past its checkpoint size is cut back to it
        when it restarts, returning the space to the filesystem."""
        return 4 * self._checkpoint_pages * 4096

    def _counted(self, before: int, *, durable: bool) -> None:
        self._committed = before + 1
        if durable:  # its fsync covered every commit before it as well
            self._synced = max(self._synced, self._committed)
        self._maybe_checkpoint()

    def _maybe_checkpoint(self) -> None:
        """Copy the WAL into the database file once enough has been written to it.

        SQLite's automatic checkpoint runs inside the commit that crosses its threshold, on
        the committing connection: here that would hold the write lock for the copy and two
        fsyncs (tens of ms on a busy disk), and every transaction, the inbox's included,
        would wait behind it. Instead a PASSIVE checkpoint runs on a thread and connection
        of its own, beside the writers (it never blocks one). It cannot copy what is
        committed while it runs, and the WAL restarts from its beginning only once a
        checkpoint has copied all of it; under writes that never pause, the WAL would grow
        on, so past four times the threshold one checkpoint holds the write lock, as
        SQLite's own would.
        """
        if self._checkpointing is not None and not self._checkpointing.done():
            return
        if self._checkpointer is None or self._direct is None:
            return  # opening or closing
        raw = self._threads_connection()
        now = (self._direct.total_changes + (raw.total_changes if raw else 0), self._committed)
        since = (now[0] - self._checkpointed_at[0], now[1] - self._checkpointed_at[1])
        if _wal_pages(*since) < self._checkpoint_pages:
            return
        self._checkpointed_at = now
        exclusive = self._wal_frames >= 4 * self._checkpoint_pages
        self._checkpointing = asyncio.ensure_future(self._checkpoint(exclusive=exclusive))

    async def _checkpoint(self, *, exclusive: bool) -> None:
        assert self._checkpointer is not None
        run = partial(
            asyncio.get_running_loop().run_in_executor,
            self._checkpoint_thread,
            _checkpoint,
            self._checkpointer,
        )
        try:
            if exclusive:  # the WAL kept growing: no commit may come in while this copies
                async with self._lock:
                    self._wal_frames = await run()
            else:
                self._wal_frames = await run()
        except sqlite3.Error as exc:
            # It loses nothing (the WAL keeps every commit), but a disk that refuses it
            # should be seen; the next commit tries again.
            log.warning("WAL checkpoint failed; will retry", error=str(exc))

    def begin_sync(self) -> None:
        """Start an fsync of the WAL now, if a commit awaits one and none is in flight.

        A caller that will :meth:`sync` later calls this right after its commit, so the
        fsync begins before the loop runs the work that commit woke (the processor), not
        after it.
        """
        if self._in_flight() is None and self._synced < self._committed:
            self._start_fsync()

    @property
    def commits(self) -> int:
        """How many write transactions have committed so far (a mark for :meth:`sync`)."""
        return self._committed

    async def sync(self, through: int | None = None) -> None:
        """Return once every transaction committed before this call (or the first
        ``through`` of them, a mark read from :attr:`commits`) is durable.

        One fsync of the WAL (where every commit's pages are appended, in order) covers every
        commit before it, so callers that arrive while one is in flight share the next one,
        and a FULL commit in between serves them all the same. The fsync runs on a thread of
        its own: the loop goes on meanwhile (the processor evaluates the alerts whose
        acknowledgement waits here). It raises OSError if the disk reports a failure; the
        caller must then not acknowledge what it stored.
        """
        target = self._committed if through is None else through
        while True:
            in_flight = self._in_flight()  # first: it records one that has finished
            if self._synced >= target:
                return
            syncing, covered = in_flight or self._start_fsync()
            # Shielded: one caller's cancellation must not cancel the others' fsync.
            try:
                await asyncio.shield(syncing)
            except OSError as exc:
                if is_storage_failure(exc):
                    raise self.storage.failed(exc) from exc
                raise
            self._synced = max(self._synced, covered)

    def _in_flight(self) -> tuple[asyncio.Future[None], int] | None:
        """The fsync still running and the commits it covers. A finished one (begun by
        :meth:`begin_sync`, or its waiters all gone) is recorded here, if it succeeded."""
        if self._syncing is not None and self._syncing[0].done():
            finished, covered = self._syncing
            self._syncing = None
            if not finished.cancelled() and finished.exception() is None:
                self._synced = max(self._synced, covered)
        return self._syncing

    def _start_fsync(self) -> tuple[asyncio.Future[None], int]:
        if self._wal_fd is None:
            raise sqlite3.ProgrammingError("the state database is closed")
        # Submitted to the thread now, not at the loop's next turn. A thread of its own: the
        # default executor may be busy for seconds (the astropy warm-up).
        syncing = asyncio.get_running_loop().run_in_executor(
            self._fsync_thread, self._fsync, self._wal_fd
        )
        # Marked as seen: every waiter gets the error, but one with no waiter left (all
        # cancelled) must not be logged as "never retrieved" when it is collected.
        syncing.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._syncing = (syncing, self._committed)  # those have returned: pages in the WAL
        return self._syncing

    async def _synchronous_for(self, *, durable: bool) -> None:
        """The thread's connection commits with FULL when durable, NORMAL otherwise (the
        mode cannot change inside a transaction; the caller holds the lock)."""
        wanted = "FULL" if durable else "NORMAL"
        if self._synchronous != wanted:
            await self._conn.execute(f"PRAGMA synchronous = {wanted}")
            self._synchronous = wanted

    def read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run a short read on the loop's thread, in one consistent snapshot.

        For index lookups of a few rows on the hot paths. It needs no lock: in WAL mode a
        reader never waits for the writer, and no transaction of this connection can be open
        while this runs (:meth:`run` finishes its own before returning to the loop). Scans of
        many rows (the CLI, the dashboard) stay on :meth:`reading`, off the loop.
        """
        conn = self._connection()
        conn.execute("BEGIN")
        try:
            return work(conn)
        finally:
            conn.execute("COMMIT")  # ends the snapshot (nothing was written)

    def location(self) -> str:
        """Where the state is, for an operator (the file's absolute path)."""
        return str(self.path.absolute())

    def sizes(self) -> tuple[int, int]:
        """(bytes of the database file, of its WAL) on disk (0: not there)."""
        return _size(self.path), _size(self.path.with_name(f"{self.path.name}-wal"))

    def _threads_connection(self) -> sqlite3.Connection | None:
        """The sqlite3 connection aiosqlite runs on its thread (None once closed)."""
        return self._conn._conn  # noqa: SLF001 - aiosqlite's, pinned by uv.lock

    def _connection(self) -> sqlite3.Connection:
        if self._direct is None:
            raise sqlite3.ProgrammingError("the state database is closed")
        return self._direct

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[aiosqlite.Connection]:
        """Reads share the one connection; the lock keeps them out of a writer's transaction."""
        async with self._lock:
            yield self._conn


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


# SQLite's own default: a checkpoint once the WAL holds ~1000 pages (4 MB).
_CHECKPOINT_PAGES = 1000


def _checkpoint_pages_for(directory: Path) -> int:
    """The checkpoint threshold: SQLite's 1000 pages, but at most 1/32 of the filesystem.

    On a small filesystem (3 MiB) 1000 pages are never reached: every commit stayed in the
    WAL, the database file stayed at 4 KiB, and once the WAL filled the filesystem no
    checkpoint could ever copy it (that needs as much room again in the database file) and
    no write found room, not even after a restart with space freed (issue 16). The estimate
    of :func:`_wal_pages` runs up to ~2.5 times low for large alerts, hence the margin.
    """
    _free, size = free_bytes(directory)
    if size == 0:
        return _CHECKPOINT_PAGES
    return max(8, min(_CHECKPOINT_PAGES, size // 4096 // 32))


def _wal_pages(rows: int, commits: int) -> float:
    """Pages written to the WAL, estimated: every commit writes its table and index pages
    (~3 for a single-row state change), and a batch adds about one page per 5 rows (an
    alert is ~15 rows: its inbox row, alert, event, decisions and plans)."""
    return 3 * commits + rows / 5


def _checkpoint(conn: sqlite3.Connection) -> int:
    """A PASSIVE checkpoint; the number of frames in the WAL."""
    _busy, in_wal, _copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return int(in_wal)


def _open_direct(path: Path) -> sqlite3.Connection:
    # check_same_thread stays on: only the event loop's thread may use this connection.
    direct = sqlite3.connect(path, isolation_level=None)
    direct.row_factory = sqlite3.Row
    direct.execute("PRAGMA busy_timeout = 5000")
    direct.execute("PRAGMA foreign_keys = ON")
    direct.execute("PRAGMA synchronous = NORMAL")  # FULL only around a durable transaction
    direct.execute("PRAGMA wal_autocheckpoint = 0")  # see Database._maybe_checkpoint
    direct.execute(f"PRAGMA journal_size_limit = {4 * _checkpoint_pages_for(path.parent) * 4096}")
    return direct


def _open_checkpointer(path: Path) -> sqlite3.Connection:
    # Used only on the checkpoint thread (opened here, hence check_same_thread=False).
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 5000")
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    conn.execute(f"PRAGMA journal_size_limit = {4 * _checkpoint_pages_for(path.parent) * 4096}")
    # NORMAL: the WAL is synced before its pages are copied and the file after them.
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def _transaction(
    work: Callable[[sqlite3.Connection], T], *, durable: bool = False
) -> Callable[[sqlite3.Connection], T]:
    """``work`` in one write transaction; ``durable``: on the loop's connection (NORMAL
    otherwise), committed with synchronous=FULL."""

    def in_transaction(conn: sqlite3.Connection) -> T:
        if durable:
            conn.execute("PRAGMA synchronous = FULL")
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = work(conn)
                conn.execute("COMMIT")
            except BaseException:
                # Also after a failed COMMIT: SQLite keeps the transaction open after
                # SQLITE_FULL there, and the next BEGIN would fail on this connection.
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                raise
            return result
        finally:
            if durable:
                conn.execute("PRAGMA synchronous = NORMAL")

    return in_transaction
