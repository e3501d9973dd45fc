"""One fsync per TOO on the way out: the durable 'submitting' claim before the POST. The
accepted reply is committed without one (issue 23): it blocked the loop for a second fsync
per TOO, and a power cut that loses it loses nothing, because a row still 'submitting' at
start is reconciled against the remote listing before anything is resent."""

from __future__ import annotations

from datetime import timedelta

from autotoo.store.rows import SubmissionState as S
from tests.pipeline.bursts import WXT, aligned
from tests.pipeline.test_transients import GRB_RULES
from tests.store.sql_trace import commit_modes, trace_statements


async def test_a_too_costs_one_fsync_the_claim_before_its_post(
    make_emulator, make_pipeline
) -> None:
    emulator = await make_emulator()
    p = await make_pipeline(emulator, GRB_RULES)
    await p.feed(aligned(*WXT, trigger=p.clock() - timedelta(minutes=5)), WXT[1])
    db = p.repo.db
    statements = await trace_statements(db)
    start = {"thread": db._synchronous, "loop": "NORMAL"}
    await p.submitter.step()
    assert len(emulator.swift.toos) == 1
    [row] = await p.rows()
    assert row.state is S.SUBMITTED
    # The claim ('submitting', FULL) and the reply ('submitted', not fsynced).
    assert commit_modes(statements, start) == ["FULL", "NORMAL"]
