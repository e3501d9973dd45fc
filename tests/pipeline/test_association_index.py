"""Association's search for the transients a new event could join is an index range, not a
test of every transient of the time window (issue 23: ~25% of the processor's time in the
throughput bench, growing with every alert of the window)."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

from autotoo.store.db import Database
from autotoo.store.writes import transient_members
from tests.pipeline.bursts import GBM, WXT, aligned
from tests.pipeline.test_transients import GRB_RULES, _store

PARTNERS = ["fermi", "svom", "swift"]


def _steps(conn: sqlite3.Connection, *args: object, **kw: object) -> tuple[int, list[str]]:
    """SQLite virtual-machine steps of one candidate search, and the transients found."""
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    conn.set_progress_handler(count, 1)
    try:
        found = transient_members(conn, *args, **kw)  # type: ignore[arg-type]
    finally:
        conn.set_progress_handler(None, 1)
    return steps, sorted({m.transient_key for m in found})


async def test_a_window_full_of_one_missions_transients_is_not_read(
    make_emulator, make_pipeline
) -> None:
    emulator = await make_emulator()
    p = await make_pipeline(emulator, GRB_RULES)
    t0 = p.clock() - timedelta(minutes=20)
    for n in (20, 200):  # EP transients in the window: the search must not grow with them
        while p.processor.counters.parsed < n:
            i = p.processor.counters.parsed
            raw = aligned(*WXT, trigger=t0 + timedelta(seconds=i), key=f"01709{i:06d}")
            await p.feed(raw, WXT[1])
        with _store(p) as conn:
            steps, found = _steps(
                conn, t0 - timedelta(hours=1), t0 + timedelta(hours=1), missions=PARTNERS
            )
        assert found == []
        if n == 20:
            few = steps
    assert steps <= few + 20, (few, steps)  # before: ~30 steps more per transient


async def test_a_partner_found_by_the_span_a_later_event_extended(
    make_emulator, make_pipeline
) -> None:
    emulator = await make_emulator()
    p = await make_pipeline(emulator, GRB_RULES)
    t0 = p.clock() - timedelta(minutes=20)
    name, topic = GBM[0]
    await p.feed(aligned(name, topic, trigger=t0), topic)
    # An EP event 60 s later joins the GBM burst's transient and extends its span.
    await p.feed(aligned(*WXT, trigger=t0 + timedelta(seconds=60), position=(320.8, -36.4)), WXT[1])
    with _store(p) as conn:
        rows = conn.execute(
            "SELECT mission, trigger_time, last_trigger FROM transient_missions ORDER BY mission"
        ).fetchall()
        after_gbm = t0 + timedelta(seconds=30)  # past GBM's trigger, within the EP event's
        _, found = _steps(conn, after_gbm, after_gbm, missions=["fermi"])
        _, none = _steps(conn, after_gbm, after_gbm, missions=["svom"])
    assert [r[0] for r in rows] == ["einstein_probe", "fermi"]
    assert len({r[1:] for r in rows}) == 1  # both rows carry the transient's whole span
    assert found == ["T:fermi:800400263"]
    assert none == []


async def test_a_schema_7_file_gets_the_missions_of_its_transients(
    make_emulator, make_pipeline, tmp_path
) -> None:
    emulator = await make_emulator()
    p = await make_pipeline(emulator, GRB_RULES)
    t0 = p.clock() - timedelta(minutes=20)
    name, topic = GBM[0]
    await p.feed(aligned(name, topic, trigger=t0), topic)
    await p.feed(aligned(*WXT, trigger=t0 + timedelta(seconds=60), position=(320.8, -36.4)), WXT[1])
    query = "SELECT * FROM transient_missions ORDER BY transient_id, mission"
    copy = tmp_path / "schema-7.db"
    with _store(p) as conn, sqlite3.connect(copy) as old:
        written = conn.execute(query).fetchall()
        conn.backup(old)  # the file as schema 7 left it:
        old.execute("DROP TABLE transient_missions")
        old.execute("DROP TABLE instances")  # and without schema 9's
        for column in ("lease_owner", "lease_until", "lease_token"):
            old.execute(f"ALTER TABLE submissions DROP COLUMN {column}")
        old.execute("PRAGMA user_version = 7")
    db = await Database.open(copy)
    await db.close()
    with sqlite3.connect(copy) as conn:
        assert conn.execute(query).fetchall() == written
    assert len(written) == 2
