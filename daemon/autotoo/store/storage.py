"""Whether the state store can write: a full or failing disk recognised in one place.

Why it exists: a write that fails for lack of space (SQLITE_FULL, ENOSPC) or an I/O error
(SQLITE_IOERR, EIO) used to end the process with a traceback, and systemd's start limit then
left the service failed while the disk was full. A restart cannot make space, so the daemon
now stays up: :class:`StorageHealth` turns such a failure into
:class:`~autotoo.store.errors.StorageUnavailableError` and an "unavailable" state with its
reason, refuses new intake meanwhile (:meth:`StorageHealth.refuse`), and probes the store
(free space every 0.5 s, a probe write when there is some, backing off exponentially while
the probe fails) until a durable write succeeds again with some room to spare;
then everything that waits (:meth:`StorageHealth.wait`) carries on.
"""

from __future__ import annotations

import asyncio
import errno
import os
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path

from autotoo.logs import get_logger
from autotoo.store.errors import StorageUnavailableError

log = get_logger("autotoo.store")

SPACE_POLL_S = 0.5
RETRY_INITIAL_S = 0.5
RETRY_MAX_S = 15.0
_RESERVE_MAX = 1 << 20  # free bytes wanted before writing again (capped at 1/16 of the disk)

_SQLITE_CODES = {sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR}
_SQLITE_TEXTS = ("database or disk is full", "disk i/o error")
_ERRNOS = {errno.ENOSPC, errno.EIO, errno.EDQUOT}
# PostgreSQL's disk_full and io_error (SQLSTATE): its server's disk refused the write.
_SQLSTATES = {"53100", "58030"}


def is_storage_failure(exc: BaseException) -> bool:
    """A failed write the disk is to blame for (full, over quota, I/O error), not our SQL."""
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        if code is not None and code & 0xFF in _SQLITE_CODES:  # extended codes keep the base
            return True
        text = str(exc).lower()
        return any(t in text for t in _SQLITE_TEXTS)
    if getattr(exc, "sqlstate", None) in _SQLSTATES:  # psycopg's errors, not imported here
        return True
    return isinstance(exc, OSError) and exc.errno in _ERRNOS


def free_bytes(directory: Path) -> tuple[int, int]:
    """(free bytes for this user, size of the filesystem) of ``directory``; (0, 0) unknown."""
    try:
        fs = os.statvfs(directory)
    except OSError:
        return 0, 0
    return fs.f_bavail * fs.f_frsize, fs.f_blocks * fs.f_frsize


def storage_reserve(size: int) -> int:
    """Free bytes wanted before writing again after the disk was full: min(1 MiB, 1/16)."""
    return min(_RESERVE_MAX, size // 16)


def space_note(directory: Path | None) -> str:
    """What the filesystem says, for a reason an operator reads (None: a server's store)."""
    if directory is None:
        return ""
    free, size = free_bytes(directory)
    if size == 0:
        return ""
    return f" ({free // 1024} KiB free of {size // 1024} KiB on the filesystem of {directory})"


class StorageHealth:
    """The store's write health and the backoff loop that restores it.

    ``probe`` is one small durable write; it raises StorageUnavailableError while the disk
    still refuses. Listeners hear the reason when the store becomes unavailable and ``None``
    when it is writable again (the daemon publishes a notice and updates its status).
    """

    def __init__(self, directory: Path | None, probe: Callable[[], Awaitable[None]]) -> None:
        self.directory = directory
        self._probe = probe
        self.problem: str | None = None
        self.episodes = 0  # how many times the store became unavailable
        self._delay = RETRY_INITIAL_S
        self._writable = asyncio.Event()
        self._writable.set()
        self._recovering: asyncio.Task[None] | None = None
        self._listeners: list[Callable[[str | None], None]] = []
        self.armed = False  # set once the store is open: before that a failure is fatal

    @property
    def retry_after(self) -> float:
        return self._delay

    def listen(self, listener: Callable[[str | None], None]) -> None:
        self._listeners.append(listener)

    def failed(self, exc: BaseException) -> StorageUnavailableError:
        """Record a write the disk refused; the error for the caller to raise."""
        reason = f"the state store cannot write: {_one_line(exc)}{space_note(self.directory)}"
        first = self.problem is None
        self.problem = reason
        if self.armed:
            self._writable.clear()
            if self._recovering is None or self._recovering.done():
                self._recovering = asyncio.ensure_future(self._recover())
            if first:
                self.episodes += 1
                log.error("state store unavailable; intake paused, writes retried", reason=reason)
                self._tell(reason)
        return StorageUnavailableError(reason, retry_after=self._delay)

    def refuse(self) -> None:
        """Raise StorageUnavailableError while the store is unavailable (intake's check)."""
        if self.problem is not None and self.armed:
            raise StorageUnavailableError(self.problem, retry_after=self._delay)

    async def wait(self) -> None:
        """Return once the store is writable (at once when it is)."""
        await self._writable.wait()

    async def _recover(self) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        while True:
            # Free space is looked at often (a statvfs costs nothing), so the daemon resumes
            # within a second of space returning; the probe writes back off.
            await asyncio.sleep(SPACE_POLL_S)
            free, size = free_bytes(self.directory) if self.directory else (0, 0)
            if size and free < storage_reserve(size):
                continue  # room for a probe may exist, but not for the work that waits
            try:
                await self._probe()
            except Exception as exc:  # noqa: BLE001 anything: this loop must not end before the store writes
                if not isinstance(exc, StorageUnavailableError):
                    log.warning("storage probe failed; will retry", error=_one_line(exc))
                await asyncio.sleep(self._delay)
                self._delay = min(self._delay * 2, RETRY_MAX_S)
                continue
            break
        self.problem = None
        self._delay = RETRY_INITIAL_S
        self._writable.set()
        log.warning("state store writable again; resuming", unavailable_s=loop.time() - started)
        self._tell(None)

    def _tell(self, reason: str | None) -> None:
        for listener in self._listeners:
            try:
                listener(reason)
            except Exception:
                log.exception("storage listener failed")

    async def close(self) -> None:
        if self._recovering is not None:
            self._recovering.cancel()
            await asyncio.gather(self._recovering, return_exceptions=True)
            self._recovering = None


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
