"""Watching what SQLite executes on both of the store's connections (a trace callback on
each), for tests that assert how many transactions ran and how they were committed."""

from __future__ import annotations

from autotoo.store.db import Database


async def trace_statements(
    db: Database, into: list[tuple[str, str]] | None = None
) -> list[tuple[str, str]]:
    """A list (``into``, or a new one) that gets ``(connection, statement)`` for every
    statement from now on: ``"thread"`` is aiosqlite's connection, ``"loop"`` the event
    loop's own."""
    seen: list[tuple[str, str]] = [] if into is None else into
    threaded, direct = db._threads_connection(), db._direct
    assert threaded is not None and direct is not None
    await db._conn._execute(  # type: ignore[no-untyped-call] # the connection's own thread
        threaded.set_trace_callback, lambda sql: seen.append(("thread", sql))
    )
    direct.set_trace_callback(lambda sql: seen.append(("loop", sql)))
    return seen


def write_transactions(statements: list[tuple[str, str]]) -> int:
    """How many write transactions began (a read snapshot begins with a plain BEGIN)."""
    return sum(sql == "BEGIN IMMEDIATE" for _, sql in statements)


def commit_modes(statements: list[tuple[str, str]], start: dict[str, str]) -> list[str]:
    """The synchronous mode of each write transaction's COMMIT, given each connection's mode
    at the start."""
    mode, writing = dict(start), dict.fromkeys(start, False)
    modes = []
    for conn, sql in statements:
        if sql.startswith("PRAGMA synchronous"):
            mode[conn] = sql.rsplit(" ", 1)[-1]
        elif sql == "BEGIN IMMEDIATE":
            writing[conn] = True
        elif sql == "COMMIT" and writing.get(conn):
            modes.append(mode[conn])
            writing[conn] = False
        elif conn == "fsync":  # an entry a test's own fsync added: kept in its place
            modes.append(sql)
    return modes
