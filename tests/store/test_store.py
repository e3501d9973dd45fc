"""The state store against a real SQLite file: migrations, dedup, the outbox invariants."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from autotoo.store.db import SCHEMA_VERSION, Database
from autotoo.store.errors import (
    ConflictError,
    MigrationError,
    StorageUnavailableError,
    StoreOpenError,
)
from autotoo.store.repository import Repository
from autotoo.store.rows import (
    AlertOutcome,
    DecisionRecord,
    InboxItem,
    Notice,
    PlannedSubmission,
    SubmissionState,
    utcnow,
)
from autotoo.store.specs import RuleBudget, TooSpec, XrtRetry, XrtSpec
from tests.fixtures.stores import sqlite_only
from tests.store.fsyncs import HeldFsync, failing_fsync
from tests.store.sql_trace import commit_modes, trace_statements


@pytest.fixture
async def repo(store_db: Database) -> Repository:
    return Repository(store_db)  # on SQLite and on PostgreSQL (tests/fixtures/postgres.py)


def _tables(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return sorted(r[0] for r in conn.execute("SELECT name FROM sqlite_master"))


async def test_migrations_are_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    db = await Database.open(path)
    assert await db.migrate() == SCHEMA_VERSION
    assert await db.migrate() == SCHEMA_VERSION
    await db.close()
    before = _tables(path)
    db = await Database.open(path)  # reopening applies nothing new
    await db.close()
    assert _tables(path) == before
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert {
        "inbox",
        "alerts",
        "events",
        "decisions",
        "submissions",
        "remote_jobs",
        "observations",
        "results",
        "notices",
    } <= set(before)


def _schema5_with_requests(path: Path) -> None:
    """A schema-5 store as an earlier version left it: an event, a TOO and the XRT job that
    waits on it (parent_id), their state logs and a remote job row."""
    from autotoo.store.db import migrations  # noqa: PLC0415

    t = "2026-12-01T00:00:00.000000Z"
    with sqlite3.connect(path) as conn:
        for version, _name, sql in migrations()[:5]:
            conn.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version = {version};\nCOMMIT;")
        conn.execute(
            "INSERT INTO events (id, group_key, mission, event_key, first_seen, last_seen)"
            " VALUES (1, 'swift:1', 'swift', '1', ?, ?)",
            (t, t),
        )
        for sid, key, api, parent, state in (
            (1, "k-too", "swift_too", None, "tracking"),
            (2, "k-xrt", "ukssdc_xrt", 1, "planned"),
        ):
            conn.execute(
                "INSERT INTO submissions (id, key, api, rule, event_id, action, parent_id, state,"
                " request, created_at, updated_at, reconcile_missing)"
                " VALUES (?, ?, ?, 'r', 1, 'too', ?, ?, '{}', ?, ?, 2)",
                (sid, key, api, parent, state, t, t),
            )
            conn.execute(
                "INSERT INTO submission_log (submission_id, to_state, at) VALUES (?, ?, ?)",
                (sid, state, t),
            )
        conn.execute(
            "INSERT INTO remote_jobs (submission_id, api, remote_id, status, updated_at)"
            " VALUES (1, 'swift_too', '22000', 'Approved', ?)",
            (t,),
        )


async def test_schema_6_rebuilds_submissions_keeping_every_row_and_link(tmp_path: Path) -> None:
    """Schema 6 rebuilds the outbox table (a new state in its CHECK) with the foreign keys
    off: every row, its log, its parent and its remote job survive, and the keys hold."""
    path = tmp_path / "state.db"
    _schema5_with_requests(path)
    db = await Database.open(path)
    await db.close()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA foreign_keys = ON")
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        rows = conn.execute(
            "SELECT id, key, parent_id, state, reconcile_missing, transient_id FROM submissions"
        ).fetchall()
        assert rows == [
            (1, "k-too", None, "tracking", 2, None),
            (2, "k-xrt", 1, "planned", 2, None),
        ]
        assert conn.execute("SELECT count(*) FROM submission_log").fetchone() == (2,)
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute("PRAGMA foreign_keys").fetchone() == (1,)
        conn.execute("UPDATE submissions SET state = 'needs_approval' WHERE id = 2")
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("UPDATE submissions SET state = 'bogus' WHERE id = 2")
        with pytest.raises(sqlite3.IntegrityError):  # the self-reference is still a key
            conn.execute("UPDATE submissions SET parent_id = 99 WHERE id = 2")
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        assert {"submissions_state", "submissions_event", "submissions_sent"} <= names


async def test_a_rebuild_that_would_break_a_foreign_key_is_refused(tmp_path: Path) -> None:
    """The runner checks every foreign key before committing a rebuild: a schema-5 file
    holding a dangling reference (written with the keys off) is refused, left as it was."""
    path = tmp_path / "state.db"
    _schema5_with_requests(path)
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA foreign_keys = OFF")
        conn.execute("UPDATE submissions SET event_id = 42 WHERE id = 2")
        conn.commit()
    with pytest.raises(MigrationError, match="0006"):
        await Database.open(path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 5
        assert conn.execute("SELECT count(*) FROM submissions").fetchone() == (2,)


async def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    with pytest.raises(MigrationError, match="newer than this autotoo"):
        await Database.open(path)


async def test_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreOpenError, match=r"state\.db"):
        await Database.open(path)


async def test_unwritable_location_is_a_clear_error() -> None:
    with pytest.raises(StoreOpenError, match="cannot open state database"):
        await Database.open(Path("/proc/autotoo-test/state.db"))


async def test_inbox_stores_once_by_content_and_by_identity(repo: Repository) -> None:
    now = utcnow()
    first = await repo.inbox_put(
        dedup_key="ivorn:a",
        source="mqtt",
        identity=None,
        topic="t",
        digest="d",
        raw=b"x",
        received_at=now,
    )
    again = await repo.inbox_put(
        dedup_key="ivorn:a",
        source="kafka",
        identity="kafka:t:0:5",
        topic="t",
        digest="d",
        raw=b"x",
        received_at=now,
    )
    redelivered = await repo.inbox_put(
        dedup_key="ivorn:a",
        source="kafka",
        identity="kafka:t:0:5",
        topic="t",
        digest="d",
        raw=b"x",
        received_at=now,
    )
    other = await repo.inbox_put(
        dedup_key="ivorn:b",
        source="mqtt",
        identity=None,
        topic="t",
        digest="e",
        raw=b"y",
        received_at=now,
    )
    assert first.new and not again.new and not redelivered.new and other.new
    assert first.inbox_id == again.inbox_id == redelivered.inbox_id != other.inbox_id
    row = await repo.inbox_get(first.inbox_id)
    assert row is not None and row.seen_count == 2  # the exact redelivery is not counted
    assert [r.id for r in await repo.inbox_pending()] == [first.inbox_id, other.inbox_id]
    await repo.commit_alerts([], unparsed=[(other.inbox_id, "truncated XML")])
    unparsed = await repo.inbox_get(other.inbox_id)
    assert unparsed is not None and (unparsed.status, unparsed.reason) == (
        "unparsed",
        "truncated XML",
    )
    assert unparsed.raw == b"y"


def _outcome(
    inbox_id: int,
    *,
    key: str = "k1",
    error: float | None = 0.5,
    kind: str = "initial",
    plans: bool = True,
) -> AlertOutcome:
    return AlertOutcome(
        inbox_id=inbox_id,
        normalized={"notice_type": "X", "ra": 1.0, "dec": 2.0},
        group_key="svom:sb1",
        mission="svom",
        event_key="sb1",
        kind=kind,
        is_test=False,
        error_deg=error,
        decisions=[DecisionRecord("r1", "h", matched=True, reason="matched")],
        plans=[
            PlannedSubmission(
                key=key, rule="r1", action="too", spec=TooSpec(body={"urgency": 2}, marker=key)
            )
        ]
        if plans
        else [],
        notices=[Notice("mqtt", "autotoo/events/sb1", {"state": "planned"}, retain=True)],
    )


async def _inbox(repo: Repository, name: str) -> int:
    put = await repo.inbox_put(
        dedup_key=name,
        source="s",
        identity=None,
        topic="t",
        digest=name,
        raw=b"{}",
        received_at=utcnow(),
    )
    return put.inbox_id


async def test_one_alert_commits_everything_and_keys_deduplicate(repo: Repository) -> None:
    a1 = await _inbox(repo, "a1")
    a2 = await _inbox(repo, "a2")
    _, event_id = await repo.commit_alert(_outcome(a1, error=0.5))
    _, event_id2 = await repo.commit_alert(_outcome(a2, error=0.1))  # same event, same key
    assert event_id == event_id2
    subs = await repo.submissions(event_id=event_id)
    assert len(subs) == 1 and subs[0].state is SubmissionState.PLANNED
    event = await repo.event_by_id(event_id)
    assert event is not None and event.alert_count == 2
    best = await repo.recent_alerts()
    assert event.best_alert_id == max(a["id"] for a in best)  # the smaller error wins
    assert {r.id for r in await repo.inbox_pending()} == set()  # both processed
    assert len(await repo.due_notices(utcnow() + timedelta(seconds=1))) == 2


async def test_an_alert_evaluated_elsewhere_is_not_recorded_twice(repo: Repository) -> None:
    """Two instances on one database evaluated the same inbox row: the second commit is
    refused whole (its other alert too), and the first one's rows stay single."""
    a1, a2 = await _inbox(repo, "a1"), await _inbox(repo, "a2")
    await repo.commit_alert(_outcome(a1))
    with pytest.raises(ConflictError, match="another instance"):
        await repo.commit_alerts([_outcome(a2, error=0.1), _outcome(a1)])
    assert len(await repo.recent_alerts()) == 1
    assert [r.id for r in await repo.inbox_pending()] == [a2]


async def test_replan_touches_only_planned_and_retraction_withholds(repo: Repository) -> None:
    _, event_id = await repo.commit_alert(_outcome(await _inbox(repo, "a1")))
    sub = (await repo.submissions(event_id=event_id))[0]
    outcome = _outcome(await _inbox(repo, "a2"), plans=False)
    replanned = TooSpec(body={"urgency": 3}, marker="k1")
    await repo.commit_alert(dataclasses.replace(outcome, replans={"k1": replanned}))
    assert (await repo.submission(sub.id)).spec == replanned  # type: ignore[union-attr]
    await repo.commit_alert(_retraction(await _inbox(repo, "a3")))
    after = await repo.submission(sub.id)
    assert after is not None and after.state is SubmissionState.CANCELLED
    event = await repo.event_by_id(event_id)
    assert event is not None and event.retracted


def _retraction(inbox_id: int) -> AlertOutcome:
    return dataclasses.replace(
        _outcome(inbox_id, kind="retraction", plans=False, error=None), cancel_planned=True
    )


async def test_transitions_are_conditional_and_logged(repo: Repository) -> None:
    _, event_id = await repo.commit_alert(_outcome(await _inbox(repo, "a1")))
    sub = (await repo.submissions(event_id=event_id))[0]
    sent = utcnow()
    moved = await repo.transition(
        sub.id,
        expect=[SubmissionState.PLANNED],
        to=SubmissionState.SUBMITTING,
        durable=True,
        sent_at=sent,
    )
    assert moved.state is SubmissionState.SUBMITTING and moved.sent_at == sent
    with pytest.raises(ConflictError):
        await repo.transition(
            sub.id, expect=[SubmissionState.PLANNED], to=SubmissionState.SUBMITTING
        )
    assert await repo.count_sent(api="swift_too", since=sent - timedelta(hours=24)) == 1
    assert await repo.count_sent(api="swift_too", since=sent + timedelta(seconds=1)) == 0
    log = await repo.submission_log(sub.id)
    assert [e["to_state"] for e in log] == ["planned", "submitting"]


async def test_durable_transactions_use_synchronous_full(repo: Repository) -> None:
    sqlite_only(repo.db, "SQLite's PRAGMA synchronous (test_postgres.py: synchronous_commit)")
    async with repo.db.transaction(durable=True):
        pass
    async with repo.db.reading() as conn:
        row = await (await conn.execute("PRAGMA synchronous")).fetchone()
    assert row is not None and row[0] == 2  # FULL
    async with repo.db.transaction():
        pass
    async with repo.db.reading() as conn:
        row = await (await conn.execute("PRAGMA synchronous")).fetchone()
    assert row is not None and row[0] == 1  # NORMAL


async def test_only_inbox_cancellations_and_sends_are_fsynced(tmp_path: Path) -> None:
    """The inbox insert commits without an fsync and is then fsynced by sync() (before the
    transport is acknowledged); an evaluation that withdraws planned rows commits with
    synchronous=FULL; one that only plans is not fsynced at all (the later 'submitting'
    commit's fsync covers it)."""
    statements: list[tuple[str, str]] = []

    def fsync(fd: int) -> None:
        statements.append(("fsync", "fsync of the WAL"))
        os.fsync(fd)

    db = await Database.open(tmp_path / "state.db", fsync=fsync)
    repo = Repository(db)
    try:
        await trace_statements(db, into=statements)
        start = {"thread": db._synchronous, "loop": "NORMAL"}
        first = await _inbox(repo, "a1")  # returns after the fsync
        assert commit_modes(statements, start) == ["NORMAL", "fsync of the WAL"]
        _, event_id = await repo.commit_alert(_outcome(first))
        assert commit_modes(statements, start)[2:] == ["NORMAL"]
        await repo.commit_alert(_retraction(await _inbox(repo, "a2")))
        assert commit_modes(statements, start)[3:] == ["NORMAL", "fsync of the WAL", "FULL"]
        await repo.sync()  # the retraction's FULL commit covered everything: no fsync
        assert commit_modes(statements, start)[3:] == ["NORMAL", "fsync of the WAL", "FULL"]
        assert [s.state for s in await repo.submissions(event_id=event_id)] == [
            SubmissionState.CANCELLED
        ]
    finally:
        await db.close()


async def test_one_fsync_serves_every_commit_before_it(tmp_path: Path) -> None:
    """Callers that arrive while an fsync is in flight share the next one, and a caller
    returns only after an fsync that began after its commit."""
    fsync = HeldFsync()
    db = await Database.open(tmp_path / "state.db", fsync=fsync)
    repo = Repository(db)
    try:
        await repo.set_meta("k", "1")
        first = asyncio.create_task(repo.sync())
        await asyncio.to_thread(fsync.started.wait, 10)
        await repo.set_meta("k", "2")  # committed while the first fsync is in flight
        later = [asyncio.create_task(repo.sync()) for _ in range(3)]
        await asyncio.sleep(0.05)
        assert not first.done() and not any(t.done() for t in later)
        fsync.release()
        await asyncio.gather(first, *later)
        assert fsync.calls == 2  # the first caller's, then one for the three behind it
        await repo.sync()  # nothing committed since
        assert fsync.calls == 2
    finally:
        fsync.release()
        await db.close()


async def test_an_fsync_begun_by_the_inbox_counts_though_nobody_waited(tmp_path: Path) -> None:
    """inbox_put_many begins the fsync; a sync() that comes after it finished (the loop was
    busy with the processor) must not start a second one."""
    fsync = HeldFsync()
    fsync.release()
    db = await Database.open(tmp_path / "state.db", fsync=fsync)
    repo = Repository(db)
    try:
        item = InboxItem("k1", "s", None, "t", "d1", b"{}", utcnow())
        _, mark = await repo.inbox_put_many([item])
        await asyncio.to_thread(fsync.started.wait, 10)
        await asyncio.sleep(0.05)  # finished, and nobody awaited it
        await repo.set_meta("later", "commit")  # a later commit the mark does not cover
        await repo.sync(mark)
        assert fsync.calls == 1
    finally:
        await db.close()


async def test_a_failed_fsync_is_raised_to_every_waiter(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "state.db", fsync=failing_fsync)
    repo = Repository(db)
    try:
        await repo.set_meta("k", "1")
        results = await asyncio.gather(repo.sync(), repo.sync(), return_exceptions=True)
        # EIO: the disk is failing, which the store reports as such (and then retries).
        assert [type(r) for r in results] == [StorageUnavailableError] * 2
        assert all(isinstance(r.__cause__, OSError) for r in results)
    finally:
        await db.close()


async def test_the_wal_is_checkpointed_beside_the_writers(tmp_path: Path) -> None:
    """Commits on the loop's connection (which never checkpoints by itself) still get the
    WAL copied into the database file and restarted, by checkpoints on their own thread,
    even when the writes never pause (then one checkpoint holds the write lock)."""
    db = await Database.open(tmp_path / "state.db")

    def put(i: int) -> Callable[[sqlite3.Connection], None]:
        return lambda conn: conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?)", (f"k{i}", "v" * 100)
        ).close()

    try:
        for i in range(6000):  # ~55 MB of WAL if nothing were ever checkpointed
            await db.run(put(i))
            if i % 100 == 0:
                await asyncio.sleep(0)  # a turn of the loop, as other tasks would take
        # Restarted at least once: the file is as long as its longest run between restarts.
        assert (tmp_path / "state.db-wal").stat().st_size < 35_000_000
    finally:
        await db.close()
    with sqlite3.connect(tmp_path / "state.db") as conn:
        assert conn.execute("SELECT count(*) FROM meta WHERE key LIKE 'k%'").fetchone()[0] == 6000


async def test_a_failed_transaction_leaves_nothing(repo: Repository) -> None:
    inbox_id = await _inbox(repo, "a1")
    bad = _outcome(inbox_id)
    bad = dataclasses.replace(bad, decisions=[*bad.decisions, None])  # type: ignore[list-item]
    with pytest.raises(AttributeError):
        await repo.commit_alert(bad)
    assert await repo.submissions() == []
    assert [r.id for r in await repo.inbox_pending()] == [inbox_id]  # still to be processed


async def test_an_older_state_file_is_upgraded_in_place(tmp_path: Path) -> None:
    """A schema-1 file (as the first release wrote it) gains the later migrations, data kept."""
    from autotoo.store.db import migrations  # noqa: PLC0415

    path = tmp_path / "state.db"
    version, _, first = migrations()[0]
    with sqlite3.connect(path) as conn:
        conn.executescript(f"{first}\nPRAGMA user_version = {version};")
        conn.execute("INSERT INTO meta (key, value) VALUES ('kept', 'yes')")
    db = await Database.open(path)
    repo = Repository(db)
    assert await repo.get_meta("kept") == "yes"
    await db.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION > 1
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert "submissions_sent" in indexes


async def test_a_schema3_state_file_loads_typed_with_its_bookkeeping(tmp_path: Path) -> None:
    """A file the previous release wrote (tests/data/state-schema3.db; how: its maker
    tests/data/state_schema3.py): the request column held bookkeeping (`_reconcile`,
    `first_try_at`) beside what is sent. After the migration each row loads as its typed spec,
    the bookkeeping in columns of its own, and the stored request says only what is sent."""
    path = tmp_path / "state.db"
    path.write_bytes((Path(__file__).parents[1] / "data" / "state-schema3.db").read_bytes())
    db = await Database.open(path)
    repo = Repository(db)
    too = await repo.submission_by_key("too-key")
    xrt = await repo.submission_by_key("xrt-key")
    await db.close()
    assert too is not None and xrt is not None
    assert too.spec == TooSpec(
        body={"source_name": "GRB 260101A", "ra": 10.5, "dec": -20.25, "poserr": 3.0, "urgency": 2},
        marker="too-key",
        on_reject={"constrained": (3, 4)},
        budget=RuleBudget(max=2, per=timedelta(days=1)),
        notify=("mqtt", "webhook"),
        server_validate=True,
        check_uvot_mode=True,
        uvot_fallback="0x9999",
    )
    assert (too.reconcile_missing, too.reconcile_errors, too.first_try_at) == (1, 1, None)
    assert xrt.spec == XrtSpec(
        globals={"RA": 10.5, "Dec": -20.25, "getTargs": True},
        products={"LightCurve": {"binMeth": "obsid"}},
        name="autotoo r1 swift:1 xrt-key",
        retry=XrtRetry(every=timedelta(minutes=10), for_=timedelta(hours=24)),
        submit="immediately",
    )
    assert xrt.first_try_at == datetime(2025, 12, 31, 23, tzinfo=UTC)
    assert (xrt.reconcile_missing, xrt.reconcile_errors) == (0, 0)
    # schema 7: what an earlier version sent was sent by the default account, and its budget
    # counts it (the indexed column generated from the request)
    assert (too.account, xrt.account) == ("default", "default")
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT DISTINCT account FROM submissions").fetchall() == [("default",)]
        stored = [
            json.loads(r[0]) for r in conn.execute("SELECT request FROM submissions ORDER BY id")
        ]
    assert not any("_reconcile" in r or "first_try_at" in r for r in stored)
    # the JSON keeps its shape: what the previous release stored, less the bookkeeping
    assert stored[0]["policy"] == {"constrained": {"urgency": [3, 4]}}
    assert stored[1]["retry_every_s"] == 600.0
