"""``autotoo store migrate``: copy a SQLite state into an empty PostgreSQL database.

Why it copies rather than replays: every row keeps its id and every submission its
idempotency key, so a TOO sent before the move is still found by its key (in the remote
listing and by the UNIQUE constraint) after it, and nothing is sent twice. The SQLite file
is first migrated to this version's schema (as the daemon's start would), so both sides have
the same tables and columns; the copy is one transaction on the server (all or nothing),
committed durably, and verified by counting every table on both sides.

A target with any row in any table is refused: merging two histories could pair an
idempotency key with another event's row. The daemon must be stopped meanwhile (a row it
wrote during the copy would stay behind in the file).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from autotoo.store.db import Database
from autotoo.store.errors import StoreError
from autotoo.store.pg_connection import PgConnection
from autotoo.store.postgres import PgDatabase

# Every table of the schema, parents before children (the server checks each foreign key
# as the row arrives). A column that refers to its own table (a duplicate's first message,
# a follow-up's parent) is copied as NULL when it points forward and set afterwards.
TABLES: tuple[str, ...] = (
    "inbox",
    "inbox_identity",
    "events",
    "alerts",
    "decisions",
    "transients",
    "associations",
    "transient_missions",
    "submissions",
    "submission_log",
    "remote_jobs",
    "observations",
    "results",
    "notices",
    "meta",
    "instances",  # schema 9: the daemons that ran on it (for people; no identity)
)
_SELF_REFERENCES = {"inbox": "duplicate_of", "submissions": "parent_id"}
_BATCH = 500  # rows read from SQLite at a time (raw payloads may be megabytes each)


class TransferError(StoreError):
    """The copy was refused (a target not empty, schemas that differ) or failed."""


@dataclass
class TransferReport:
    copied: dict[str, int] = field(default_factory=dict)


def _sqlite_columns(conn: sqlite3.Connection, table: str) -> list[str]:
    """The columns a row is written with: table_info leaves out generated ones."""
    return [str(row[1]) for row in conn.execute(f"PRAGMA table_info({table})")]


def _pg_columns(conn: PgConnection, table: str) -> list[str]:
    """The columns a row is written with: not the generated ones (schema 7's account)."""
    rows = conn.raw.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = %s AND is_generated = 'NEVER' "
        "ORDER BY ordinal_position",
        (table,),
    ).fetchall()
    return [str(row[0]) for row in rows]


def _check_empty(conn: PgConnection) -> None:
    for table in TABLES:
        row = conn.raw.execute(f"SELECT count(*) FROM {table}").fetchone()  # noqa: S608 - ours
        if row is not None and int(row[0]) > 0:
            raise TransferError(
                f"the target is not empty ({table} has {row[0]} row(s)): "
                "store migrate copies into an empty database only"
            )


def _copy_table(source: sqlite3.Connection, target: PgConnection, table: str) -> int:
    columns = _sqlite_columns(source, table)
    if sorted(columns) != sorted(_pg_columns(target, table)):
        raise TransferError(f"{table}: the SQLite and PostgreSQL columns differ")
    self_ref = _SELF_REFERENCES.get(table)
    ref_index = columns.index(self_ref) if self_ref else -1
    id_index = columns.index("id") if "id" in columns else -1
    later: list[tuple[Any, Any]] = []  # (id, reference) set once both rows exist
    names = ", ".join(columns)
    order = " ORDER BY id" if id_index >= 0 else ""
    cursor = source.execute(f"SELECT {names} FROM {table}{order}")  # noqa: S608 - ours
    count = 0
    with target.raw.cursor().copy(f"COPY {table} ({names}) FROM STDIN") as copy:
        while rows := cursor.fetchmany(_BATCH):
            for row in rows:
                values = list(row)
                ref = values[ref_index] if ref_index >= 0 else None
                if ref is not None and ref >= values[id_index]:
                    later.append((values[id_index], ref))
                    values[ref_index] = None
                copy.write_row(values)
                count += 1
    for row_id, ref in later:
        target.raw.execute(f"UPDATE {table} SET {self_ref} = %s WHERE id = %s", (ref, row_id))  # noqa: S608
    if id_index >= 0 and table != "instances":  # its id is a name, not an identity
        # The identity continues after the copied ids, as SQLite's rowid would.
        target.raw.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608 - ours
            f"coalesce((SELECT max(id) FROM {table}), 0) + 1, false)"
        )
    return count


def _counts(conn: Any, tables: Sequence[str]) -> dict[str, int]:
    return {t: int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in tables}  # noqa: S608


async def copy_sqlite_to_postgresql(source: Database, target: PgDatabase) -> TransferReport:
    """Copy every row of ``source`` (open, migrated) into ``target`` (open, migrated, empty)
    in one durable transaction, ids and keys as they are; refuse a target with rows."""

    def copy(conn: sqlite3.Connection) -> TransferReport:
        pg = cast("PgConnection", conn)  # run() hands PostgreSQL's own connection over
        report = TransferReport()
        # One snapshot of the file for the whole copy (the daemon should be stopped anyway).
        raw = sqlite3.connect(f"{source.path.absolute().as_uri()}?mode=ro", uri=True)
        try:
            raw.execute("BEGIN")
            _check_empty(pg)
            for table in TABLES:
                report.copied[table] = _copy_table(raw, pg, table)
            expected = _counts(raw, TABLES)
            raw.execute("COMMIT")
        finally:
            raw.close()
        found = _counts(pg.raw, TABLES)
        if found != expected:
            raise TransferError(f"the copy counts {found}, the file {expected}")
        return report

    return await target.run(copy, durable=True)
