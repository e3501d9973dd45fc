"""Errors of the state store.

StoreError               root: the store cannot do what was asked
├── StoreOpenError       the database cannot be opened or created (read-only, disk full,
│                        not a database): the daemon exits with a clear message
├── MigrationError       the schema cannot be brought to this version (e.g. the file was
│                        written by a newer autotoo)
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
