"""Errors of the state store.

StoreError               root: the store cannot do what was asked
├── StoreOpenError       the database cannot be opened or created (read-only, disk full,
│                        not a database): the daemon exits with a clear message
├── MigrationError       the schema cannot be brought to this version (e.g. the file was
│                        written by a newer autotoo)
├── StorageUnavailableError  a write failed for lack of space or an I/O error (SQLITE_FULL,
│                        SQLITE_IOERR, ENOSPC, EIO): nothing of it was stored; the store
│                        retries by itself and the daemon waits (intake refuses meanwhile)
└── ConflictError        a state transition lost a race (the row was not in the expected
                         state): the caller re-reads instead of overwriting
"""


class StoreError(Exception):
    """Root of the store's errors."""


class StoreOpenError(StoreError):
    """The database file cannot be opened, created or written."""


class MigrationError(StoreError):
    """The schema cannot be migrated to the version this code expects."""


class ConflictError(StoreError):
    """A conditional update found the row in another state than expected."""


class LeaseLostError(ConflictError):
    """A fenced move found the row's lease expired, taken over, or its request replanned:
    this instance must not act on it (store/leases.py)."""


class StorageUnavailableError(StoreError):
    """A write failed because the disk is full or failing; nothing of it is stored.

    The daemon does not stop for it (a restart cannot make space, and systemd's start limit
    would leave the service failed): the store retries with backoff and says when it can
    write again. ``retry_after`` is the store's current retry delay in seconds, what a
    transport that can say "not now" (HTTP 503 ``Retry-After``) tells its client.
    """

    def __init__(self, reason: str, retry_after: float = 1.0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def driver_errors() -> tuple[type[Exception], ...]:
    """The database drivers' own error roots, for a caller that outlives a failed statement
    (the pruner's round): sqlite3's, and psycopg's once a PostgreSQL store loaded it (never
    imported here: a SQLite daemon does not load it)."""
    import sqlite3  # noqa: PLC0415
    import sys  # noqa: PLC0415

    psycopg = sys.modules.get("psycopg")
    return (sqlite3.Error,) if psycopg is None else (sqlite3.Error, psycopg.Error)
