"""What only the PostgreSQL store has: its translation of the store's SQL, its migrations,
its durability settings and its password (the rest runs on both backends: store_db)."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from autotoo.store.db import SCHEMA_VERSION, Database, migrations
from autotoo.store.errors import MigrationError, StorageUnavailableError, StoreOpenError
from autotoo.store.pg_connection import translate
from autotoo.store.postgres import PgDatabase, open_postgresql, pg_migrations, redacted
from autotoo.store.repository import Repository
from autotoo.store.rows import SubmissionState, utcnow
from autotoo.store.transfer import TABLES
from tests.fixtures.postgres import PG_PASSWORD, PgCluster


def test_sqlite_words_are_translated_outside_literals() -> None:
    assert translate("SELECT x FROM t WHERE a = ? AND b LIKE '%?%'") == (
        "SELECT x FROM t WHERE a = %s AND b LIKE '%?%'"
    )
    assert translate("SELECT a % 2 FROM t") == "SELECT a %% 2 FROM t"
    assert translate("BEGIN IMMEDIATE") == "BEGIN"
    assert translate("SELECT X'' AS raw FROM inbox INDEXED BY inbox_status") == (
        "SELECT '\\x'::bytea AS raw FROM inbox"
    )
    assert "now() AT TIME ZONE 'UTC'" in translate("VALUES (datetime('now'))")


def test_both_migration_sets_end_at_the_same_version() -> None:
    assert pg_migrations()[-1][0] == SCHEMA_VERSION == migrations()[-1][0]


def test_a_password_never_shows_in_the_url_we_print() -> None:
    assert redacted("postgresql://u:secret@h:5433/db") == "postgresql://u@h:5433/db"
    assert redacted("postgresql://u@h/db") == "postgresql://u@h/db"


async def test_migrations_are_idempotent_and_recorded(postgres_url: str) -> None:
    db = await PgDatabase.open_url(postgres_url, password=PG_PASSWORD)
    try:
        assert await db.migrate() == SCHEMA_VERSION
        assert await db.schema_version() == SCHEMA_VERSION
    finally:
        await db.close()
    db = await PgDatabase.open_url(postgres_url, password=PG_PASSWORD)  # nothing new
    await db.close()
    with psycopg.connect(postgres_url, password=PG_PASSWORD) as conn:
        versions = conn.execute("SELECT version FROM schema_version").fetchall()
    assert versions == [(version,) for version, *_ in pg_migrations()]


async def test_a_newer_schema_is_refused(postgres_url: str) -> None:
    db = await PgDatabase.open_url(postgres_url, password=PG_PASSWORD)
    await db.close()
    with psycopg.connect(postgres_url, password=PG_PASSWORD, autocommit=True) as conn:
        conn.execute("INSERT INTO schema_version VALUES (%s, 'later')", (SCHEMA_VERSION + 1,))
    with pytest.raises(MigrationError, match="newer than this autotoo"):
        await PgDatabase.open_url(postgres_url, password=PG_PASSWORD)


async def test_durable_commits_wait_for_the_servers_wal_and_the_rest_do_not(
    postgres_url: str,
) -> None:
    db = await PgDatabase.open_url(postgres_url, password=PG_PASSWORD)
    try:
        for durable, expected in ((True, "on"), (False, "off")):
            async with db.transaction(durable=durable) as tx:
                row = await (await tx.execute("SHOW synchronous_commit")).fetchone()
            assert row is not None and row[0] == expected
            seen = await db.run(
                lambda conn: conn.execute("SHOW synchronous_commit").fetchone()[0],
                durable=durable,
            )
            assert seen == expected
        # outside a transaction, the server's default (on) is untouched
        async with db.reading() as conn:
            row = await (await conn.execute("SHOW synchronous_commit")).fetchone()
        assert row is not None and row[0] == "on"
    finally:
        await db.close()


async def test_the_password_comes_from_its_file_and_never_shows(
    postgres_cluster: PgCluster, postgres_url: str, tmp_path: Path
) -> None:
    db = await open_postgresql(postgres_url, str(postgres_cluster.password_file))
    await Repository(db).set_meta("k", "v")
    await db.close()
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-password\n")
    with pytest.raises(StoreOpenError) as refused:
        await open_postgresql(postgres_url, str(wrong))
    assert "password authentication failed" in str(refused.value)
    assert "not-the-password" not in str(refused.value)
    with pytest.raises(StoreOpenError, match=r"store\.password_file"):
        await open_postgresql(postgres_url, str(tmp_path / "missing"))


async def test_a_lost_server_pauses_the_store_until_it_is_back(
    postgres_cluster: PgCluster, postgres_url: str
) -> None:
    """The server ends every connection (a restart, a fail-over). Between transactions the
    next one connects again unseen; while the server refuses connections the store is
    unavailable (intake refuses, workers wait, as for a full disk) and the storage probe
    connects again once it is back; the loop's reads and the inbox's flush follow."""
    db = await open_postgresql(postgres_url, str(postgres_cluster.password_file))
    repo = Repository(db)
    name = postgres_url.rsplit("/", 1)[1]
    drop = (
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
    )
    try:
        await repo.set_meta("before", "1")
        postgres_cluster.admin(drop)
        await repo.set_meta("between", "1")  # a new connection, unseen
        assert await repo.count_in_states(api="swift_too", states=[SubmissionState.PLANNED]) == 0
        await repo.sync()
        assert db.storage.problem is None

        postgres_cluster.admin(f"ALTER DATABASE {name} ALLOW_CONNECTIONS false")
        postgres_cluster.admin(drop)
        with pytest.raises(StorageUnavailableError, match="the state store cannot write"):
            await repo.set_meta("during", "1")
        assert db.storage.problem is not None
        await asyncio.sleep(1.0)
        assert db.storage.problem is not None  # the probe keeps failing meanwhile
        postgres_cluster.admin(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")
        await asyncio.wait_for(db.storage.wait(), 20)  # the probe connected again
        await repo.set_meta("after", "1")
        assert await repo.get_meta("after") == "1"
        assert await repo.get_meta("during") is None
        assert await repo.count_in_states(api="swift_too", states=[SubmissionState.PLANNED]) == 0
        await repo.sync()
    finally:
        await db.close()


async def test_a_paused_instance_mid_transaction_does_not_hold_the_others_for_ever(
    postgres_cluster: PgCluster, postgres_url: str
) -> None:
    """An instance paused (SIGSTOP, a frozen VM) between two statements of a transaction
    holds its row locks: without a bound every other instance's write of those rows waits
    for it for ever (seen in CI: three daemons, the two survivors never took the paused
    one's rows over). The server ends such a session after the lease; the waiting write
    goes on; the paused one, woken, finds its transaction gone (nothing of it committed),
    its store unavailable for a moment, and then connects again."""
    password_file = str(postgres_cluster.password_file)
    paused_db = await open_postgresql(postgres_url, password_file, lease_s=1.0)
    other_db = await open_postgresql(postgres_url, password_file, lease_s=1.0)
    paused, other = Repository(paused_db), Repository(other_db)
    try:
        await other.set_meta("shared", "before")
        loop = asyncio.get_running_loop()
        waited = 0.0

        async def paused_between_two_statements() -> None:
            nonlocal waited
            async with paused_db.transaction() as conn:
                await conn.execute("UPDATE meta SET value = 'paused' WHERE key = 'shared'")
                # ... the instance is paused here; the other one writes the same row
                began = loop.time()
                await asyncio.wait_for(other.set_meta("shared", "after"), 20)
                waited = loop.time() - began
                await conn.execute("UPDATE meta SET value = 'woken' WHERE key = 'shared'")

        with pytest.raises(StorageUnavailableError):
            await paused_between_two_statements()
        assert 0.5 < waited < 10, waited  # it waited for the lock until the server ended it
        await asyncio.wait_for(paused_db.storage.wait(), 20)
        assert await paused.get_meta("shared") == "after"
        await paused.set_meta("mine", "1")
        assert await other.get_meta("mine") == "1"
    finally:
        await paused_db.close()
        await other_db.close()


async def test_a_server_that_turned_read_only_is_left_for_a_new_connection(
    postgres_cluster: PgCluster, postgres_url: str
) -> None:
    """A fail-over can leave a connection on a standby (an address that still points at
    the old primary): every write is refused as read-only, and the connection itself is
    fine, so reconnecting only a broken one would retry on it for ever. The store is
    unavailable meanwhile, and the next attempt connects again, reaching a writable server
    once there is one (here: the database made read-only for new sessions, then not)."""
    db = await open_postgresql(postgres_url, str(postgres_cluster.password_file))
    repo = Repository(db)
    name = postgres_url.rsplit("/", 1)[1]
    try:
        await repo.set_meta("before", "1")
        postgres_cluster.admin(f"ALTER DATABASE {name} SET default_transaction_read_only = on")
        postgres_cluster.admin(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        )
        with pytest.raises(StorageUnavailableError, match="read-only"):
            await repo.set_meta("during", "1")
        await asyncio.sleep(0.5)
        assert db.storage.problem is not None  # the probe is refused too
        postgres_cluster.admin(f"ALTER DATABASE {name} SET default_transaction_read_only = off")
        await asyncio.wait_for(db.storage.wait(), 20)  # a new connection, writable
        await repo.set_meta("after", "1")
        assert await repo.get_meta("after") == "1"
        await repo.sync()
    finally:
        await db.close()


def _transactions(trace: str) -> list[list[str]]:
    """The statements libpq sent, grouped by transaction (BEGIN ... COMMIT)."""
    groups: list[list[str]] = []
    for line in trace.splitlines():
        fields = line.split("\t")
        if len(fields) >= 5 and fields[1] == "F" and fields[3] == "Query":
            sql = fields[4].strip().strip('"')
            if sql.startswith("BEGIN"):
                groups.append([])
            if groups:
                groups[-1].append(sql)
    return groups


async def test_the_inbox_commit_is_durable_itself(postgres_url: str, tmp_path: Path) -> None:
    """Before the transport is acknowledged the inbox row must survive a crash of the
    server: its own commit waits for the WAL flush (not a later flush elsewhere, which could
    not tell whether the server crashed in between). Other routine commits do not wait."""
    db = await PgDatabase.open_url(postgres_url, password=PG_PASSWORD)
    repo = Repository(db)
    trace = tmp_path / "libpq-trace"
    try:
        with trace.open("w") as out:
            await db.on_thread(lambda conn: conn.raw.pgconn.trace(out.fileno()))
            await repo.inbox_put(
                dedup_key="k",
                source="mqtt",
                identity=None,
                topic="t",
                digest="d",
                raw=b"x",
                received_at=utcnow(),
            )
            await repo.set_meta("routine", "1")
            await db.on_thread(lambda conn: conn.raw.pgconn.untrace())
    finally:
        await db.close()
    inbox, routine = _transactions(trace.read_text())
    assert inbox[1] == "SET LOCAL synchronous_commit = on"
    assert inbox[2].startswith("INSERT INTO inbox") and inbox[-1] == "COMMIT"
    assert routine[1] == "SET LOCAL synchronous_commit = off"


async def test_both_schemas_have_the_same_tables_and_columns(
    postgres_url: str, tmp_path: Path
) -> None:
    """What keeps the two migration sets together: every table and column, in order (and
    every table is one `store migrate` copies)."""
    sqlite_db = await Database.open(tmp_path / "state.db")
    await sqlite_db.close()
    with sqlite3.connect(tmp_path / "state.db") as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        in_sqlite = {t: [r[1] for r in conn.execute(f"PRAGMA table_xinfo({t})")] for t in tables}
    pg_db = await PgDatabase.open_url(postgres_url, password=PG_PASSWORD)
    await pg_db.close()
    with psycopg.connect(postgres_url, password=PG_PASSWORD) as conn:
        rows = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND table_name <> 'schema_version' "
            "ORDER BY table_name, ordinal_position"
        ).fetchall()
    in_pg: dict[str, list[str]] = {}
    for table, column in rows:
        in_pg.setdefault(table, []).append(column)
    assert in_pg == in_sqlite
    assert sorted(TABLES) == sorted(in_sqlite)


async def test_a_multi_host_url_reaches_the_host_that_answers(
    postgres_cluster: PgCluster, postgres_url: str
) -> None:
    """A primary and its replica in one URL (libpq's multi-host form, docs/postgresql.md
    "Two hosts"): a host that refuses connections is passed over, the store opens on the one
    that takes writes, and the instance registry works there."""
    from tests.fixtures.mosquitto import free_port  # noqa: PLC0415

    closed = free_port()
    url = postgres_url.replace("@127.0.0.1:", f"@127.0.0.1:{closed},127.0.0.1:", 1)
    url += "?target_session_attrs=read-write"
    db = await open_postgresql(url, str(postgres_cluster.password_file))
    try:
        repo = Repository(db)
        await repo.leases.register("hostA:1:aaaaaa", utcnow())
        assert await repo.get_meta("nothing") is None
        assert [i["id"] for i in await repo.leases.instances(
            utcnow(), within=timedelta(hours=1), live_within=timedelta(seconds=30)
        )] == ["hostA:1:aaaaaa"]  # fmt: skip
    finally:
        await db.close()
