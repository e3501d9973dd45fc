"""``autotoo store migrate --to postgresql://...``: a SQLite state copied whole into an empty
PostgreSQL database, ids and idempotency keys as they are; a target with rows refused."""

from __future__ import annotations

import asyncio
import contextlib
import io
import sqlite3
from pathlib import Path

import psycopg

from autotoo.cli import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK, main
from autotoo.store.db import SCHEMA_VERSION, Database
from autotoo.store.postgres import PgDatabase
from autotoo.store.repository import Repository
from autotoo.store.rows import SubmissionState, utcnow
from autotoo.store.transfer import TABLES
from tests.fixtures.postgres import PG_PASSWORD, PgCluster
from tests.store.test_store import _inbox, _outcome

SCHEMA3 = Path(__file__).parents[1] / "data" / "state-schema3.db"


async def _cli(argv: list[str]) -> tuple[int, str]:
    def run() -> tuple[int, str]:
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            code = main(argv)
        return code, out.getvalue()

    return await asyncio.to_thread(run)  # the CLI runs its own event loop


Rows = dict[str, list[tuple[object, ...]]]


def _contents_sqlite(path: Path) -> tuple[Rows, dict[str, list[str]]]:
    """Every table's rows, and its columns in the file's order."""
    with sqlite3.connect(path) as conn:
        out = {}
        for table in TABLES:
            columns = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
            names = ", ".join(columns)
            out[table] = conn.execute(f"SELECT {names} FROM {table} ORDER BY 1").fetchall()
        return out, {t: [r[1] for r in conn.execute(f"PRAGMA table_info({t})")] for t in TABLES}


def _contents_pg(url: str, columns: dict[str, list[str]]) -> Rows:
    with psycopg.connect(url, password=PG_PASSWORD) as conn:
        return {
            t: conn.execute(f"SELECT {', '.join(columns[t])} FROM {t} ORDER BY 1").fetchall()
            for t in TABLES
        }


async def _migrate(path: Path, url: str, cluster: PgCluster) -> tuple[int, str]:
    password = ["--password-file", str(cluster.password_file)]
    return await _cli(["store", "migrate", "--db", str(path), "--to", url, *password])


async def test_a_schema3_file_is_upgraded_then_copied_row_for_row(
    tmp_path: Path, postgres_cluster: PgCluster, postgres_url: str
) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(SCHEMA3.read_bytes())
    code, text = await _migrate(path, postgres_url, postgres_cluster)
    assert code == EXIT_OK, text
    assert f"into {postgres_url} (schema {SCHEMA_VERSION})" in text
    expected, columns = _contents_sqlite(path)  # the file, migrated to schema 6 first
    assert sum(map(len, expected.values())) > 10
    assert _contents_pg(postgres_url, columns) == expected

    # The CLI reaches it through a config, and names it without a password.
    config = tmp_path / "autotoo.yaml"
    config.write_text(
        f"state: {postgres_url}\nstore:\n  password_file: {postgres_cluster.password_file}\n"
    )
    code, text = await _cli(["status", "-c", str(config)])
    assert code == EXIT_OK, text
    assert text.startswith(f"state        {postgres_url}\n")
    assert "submissions  swift_too:unknown 1, ukssdc_xrt:planned 1" in text
    assert PG_PASSWORD not in text

    # The daemon goes on from there: the same keys load the same typed requests, and new
    # rows get ids after the copied ones.
    file_db = await Database.open(path)
    pg_db = await PgDatabase.open_url(postgres_url, password=PG_PASSWORD)
    try:
        for key in ("too-key", "xrt-key"):
            assert await Repository(pg_db).submission_by_key(key) == await Repository(
                file_db
            ).submission_by_key(key)
        new_id = await _inbox(Repository(pg_db), "after the move")
        assert new_id == max(row[0] for row in expected["inbox"]) + 1
    finally:
        await pg_db.close()
        await file_db.close()


async def test_a_fresh_state_is_copied_and_a_second_copy_is_refused(
    tmp_path: Path, postgres_cluster: PgCluster, postgres_url: str
) -> None:
    path = tmp_path / "state.db"
    db = await Database.open(path)
    repo = Repository(db)
    _, event_id = await repo.commit_alert(_outcome(await _inbox(repo, "a1")))
    await repo.commit_alert(_outcome(await _inbox(repo, "a2"), error=0.1))
    sub = (await repo.submissions(event_id=event_id))[0]
    await repo.transition(
        sub.id, expect=[SubmissionState.PLANNED], to=SubmissionState.SUBMITTING, sent_at=utcnow()
    )
    await repo.record_remote(sub.id, api="swift_too", remote_id="123", status="Accepted")
    await db.close()
    expected, columns = _contents_sqlite(path)

    code, text = await _migrate(path, postgres_url, postgres_cluster)
    assert code == EXIT_OK, text
    assert _contents_pg(postgres_url, columns) == expected

    code, text = await _migrate(path, postgres_url, postgres_cluster)
    assert code == EXIT_FAILURE
    assert "the target is not empty (inbox has 2 row(s))" in text
    assert _contents_pg(postgres_url, columns) == expected  # untouched


async def test_a_password_in_the_url_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    await (await Database.open(path)).close()
    code, text = await _cli(
        ["store", "migrate", "--db", str(path), "--to", "postgresql://u:secret@127.0.0.1/db"]
    )
    assert code == EXIT_CONFIG
    assert "without a password" in text and "secret" not in text
