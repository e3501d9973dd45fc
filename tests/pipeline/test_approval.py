"""Human approval (a rule's ``approve: human``, pipeline/approval.py): a request waits in
``needs_approval`` instead of being sent; ``autotoo jobs approve`` sends it exactly once,
``autotoo jobs deny`` and an unused window cancel it and its waiting XRT follow-up.

Real parts: a SQLite file, the Swift and UKSSDC clients against the emulators, the
pipeline's controllable clock; the commands are the CLI's own ``main`` (its own event loop
and connection to the same file, as a second process would have).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from autotoo.cli import EXIT_FAILURE, EXIT_OK, main
from autotoo.pipeline.keys import submission_key
from autotoo.pipeline.remotes import too_spec
from autotoo.store.rows import PlannedSubmission, SubmissionRow
from autotoo.store.rows import SubmissionState as S
from tests.chaos.streams import RULES, ep_alert
from tests.fixtures.swift_emulator import Emulator
from tests.pipeline.conftest import MakePipeline, Pipeline, notice_states

TOPIC = "gcn.notices.einstein_probe.wxt.alert"
# ep-fast (a TOO, then XRT products of the observed target), asking a person first.
FAST_RULE = RULES.split("  - name: ep-settled")[0]
APPROVED_RULE = FAST_RULE.replace(
    "    once_per: event\n", "    once_per: event\n    approve: {by: human, within: 2h}\n", 1
)
assert APPROVED_RULE != FAST_RULE


def too_posts(emulator: Emulator) -> int:
    return len([r for r in emulator.swift.received if r.api == "/swift/too"])


async def asked(
    make_emulator: Any, make_pipeline: MakePipeline, rules: str = APPROVED_RULE, **settings: Any
) -> tuple[Pipeline, Emulator, SubmissionRow, SubmissionRow]:
    """One matching EP alert evaluated and handed to the submitter: its TOO now waits."""
    emulator = await make_emulator(speed=20_000)
    p = await make_pipeline(emulator, rules, **settings)
    await p.feed(ep_alert(1), TOPIC)
    await p.run(3)
    by_action = {r.action: r for r in await p.rows()}
    return p, emulator, by_action["too"], by_action["xrt_products"]


async def jobs(p: Pipeline, *argv: str) -> int:
    """``autotoo jobs ...`` against the pipeline's state file, beside its open store. The
    command reads the wall clock: the pipeline's clock catches up with it afterwards."""
    code = await asyncio.to_thread(main, ["jobs", *argv, "--db", str(p.repo.db.path)])
    p.clock.now = max(p.clock.now, datetime.now(UTC))
    return code


async def test_a_rule_that_asks_sends_nothing_and_says_so(
    make_emulator: Any, make_pipeline: MakePipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    p, emulator, too, xrt = await asked(make_emulator, make_pipeline)
    assert too.state is S.NEEDS_APPROVAL
    assert too.approval_deadline is not None
    assert abs((too.approval_deadline - p.clock()).total_seconds() - 7200) < 1
    assert too.reason is not None
    assert f"autotoo jobs approve {too.id}" in too.reason
    assert xrt.state is S.PLANNED  # still waiting for its TOO's observation
    assert xrt.next_at is None
    assert too_posts(emulator) == 0
    assert emulator.swift.toos == {}
    notices = await p.notices()
    assert notice_states(notices, "too") == ["planned", "needs_approval"]
    [note] = [n for n in notices if n["state"] == "needs_approval" and "/actions/" in n["_topic"]]
    assert note["submission_id"] == too.id
    # `autotoo status` names it first, with what to do and until when
    capsys.readouterr()
    assert await asyncio.to_thread(main, ["status", "--db", str(p.repo.db.path)]) == EXIT_OK
    assert f"NEEDS APPROVAL  #{too.id} swift_too ep-fast " in capsys.readouterr().out
    # the consistency sweep's settling must not take a waiting TOO for an ended one
    assert await p.repo.settle_waiting(now=p.clock(), notices_for=None) == []
    p.clock.advance(minutes=30)
    await p.run(3)
    assert await p.state_of(too.key) is S.NEEDS_APPROVAL
    assert too_posts(emulator) == 0


async def test_jobs_approve_sends_exactly_one_too(
    make_emulator: Any, make_pipeline: MakePipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    p, emulator, too, _ = await asked(make_emulator, make_pipeline)
    capsys.readouterr()
    assert await jobs(p, "approve", str(too.id), "--by", "alice", "--note", "bright") == EXIT_OK
    assert f"approved submission {too.id}" in capsys.readouterr().out
    await p.run(5)
    assert too_posts(emulator) == 1
    assert len(emulator.swift.toos) == 1
    row = await p.repo.submission(too.id)
    assert row is not None
    assert row.remote_id is not None  # sent: submitted, tracked, maybe observed already
    assert row.approved_by == "alice"
    assert row.approved_at is not None
    history = await p.repo.submission_log(too.id)
    steps = [(h["from_state"], h["to_state"]) for h in history]
    assert ("planned", "needs_approval") in steps
    assert ("needs_approval", "planned") in steps
    [approved] = [h for h in history if h["from_state"] == "needs_approval"]
    assert approved["detail"].startswith("approved by alice at ")
    assert "(bright)" in approved["detail"]
    capsys.readouterr()
    assert await jobs(p, "show", str(too.id), "--json") == EXIT_OK
    printed = capsys.readouterr().out
    shown = json.loads(printed[printed.index("{\n") :])
    assert shown["approved_by"] == "alice"
    assert shown["approved_at"] is not None
    # approved once: a second approval changes nothing, later rounds send nothing more
    assert await jobs(p, "approve", str(too.id), "--by", "bob") == EXIT_FAILURE
    assert "not waiting for approval" in capsys.readouterr().err
    p.clock.advance(hours=3)
    await p.run(5)
    assert too_posts(emulator) == 1
    assert (await p.repo.submission(too.id)).approved_by == "alice"  # type: ignore[union-attr]


async def test_jobs_deny_cancels_the_too_and_its_follow_up(
    make_emulator: Any, make_pipeline: MakePipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    p, emulator, too, xrt = await asked(make_emulator, make_pipeline)
    capsys.readouterr()
    assert await jobs(p, "deny", too.key, "--by", "bob", "--json") == EXIT_OK
    printed = capsys.readouterr().out
    out = json.loads(printed[printed.index("{\n") :])  # after the pipeline's own log lines
    assert out["outcome"] == "denied"
    assert [c["id"] for c in out["withdrawn"]] == [xrt.id]
    await p.run(5)
    denied = await p.repo.submission(too.id)
    follow = await p.repo.submission(xrt.id)
    assert denied is not None
    assert follow is not None
    assert denied.state is S.CANCELLED
    assert denied.reason is not None
    assert denied.reason.startswith("denied by bob at ")
    assert follow.state is S.CANCELLED
    assert f"submission {too.id}" in (follow.reason or "")
    assert too_posts(emulator) == 0
    assert follow.sent_at is None
    assert await jobs(p, "approve", str(too.id)) == EXIT_FAILURE  # too late: it is cancelled


async def test_an_approval_not_given_in_time_lapses(
    make_emulator: Any, make_pipeline: MakePipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    p, emulator, too, xrt = await asked(make_emulator, make_pipeline)
    asked_at = p.clock()
    p.clock.advance(hours=1, minutes=59)
    await p.run(2)
    assert await p.state_of(too.key) is S.NEEDS_APPROVAL
    p.clock.advance(minutes=2)
    await p.run(2)
    lapsed = await p.repo.submission(too.id)
    follow = await p.repo.submission(xrt.id)
    assert lapsed is not None
    assert follow is not None
    assert lapsed.state is S.CANCELLED
    assert lapsed.reason == (
        f"approval not given within 2 h (asked {asked_at:%H:%M}Z): lapsed, not sent"
    )
    assert follow.state is S.CANCELLED
    assert too_posts(emulator) == 0
    notices = await p.notices()
    assert notice_states(notices, "too")[-1] == "cancelled"
    assert notice_states(notices, "xrt_products")[-1] == "cancelled"
    [last] = [n for n in notices if "/actions/" in n["_topic"] and n["action"] == "too"][-1:]
    assert last["reason"] == lapsed.reason
    capsys.readouterr()
    assert await jobs(p, "approve", str(too.id)) == EXIT_FAILURE


async def test_jobs_approve_after_the_window_lapses_it_instead(
    make_emulator: Any, make_pipeline: MakePipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    """The daemon may not have run since the deadline: the command does not send late."""
    p, emulator, too, _ = await asked(make_emulator, make_pipeline, rules=APPROVED_RULE)
    await p.repo.db.run(
        lambda conn: conn.execute(
            "UPDATE submissions SET approval_deadline = '2000-01-01T00:00:00.000000Z' WHERE id = ?",
            (too.id,),
        )
    )
    capsys.readouterr()
    assert await jobs(p, "approve", str(too.id), "--by", "alice") == EXIT_FAILURE
    assert "too late" in capsys.readouterr().err
    await p.run(3)
    assert await p.state_of(too.key) is S.CANCELLED
    assert too_posts(emulator) == 0


async def test_dry_run_asks_too_and_an_approved_row_is_not_sent(
    make_emulator: Any, make_pipeline: MakePipeline
) -> None:
    p, emulator, too, _ = await asked(make_emulator, make_pipeline, mode="dry-run")
    assert too.state is S.NEEDS_APPROVAL
    assert await jobs(p, "approve", str(too.id), "--by", "alice") == EXIT_OK
    await p.run(3)
    done = await p.repo.submission(too.id)
    assert done is not None
    assert done.state is S.DONE
    assert done.reason == "dry-run: not sent"
    assert done.approved_by == "alice"
    assert too_posts(emulator) == 0


async def test_budgets_still_apply_after_approval(
    make_emulator: Any, make_pipeline: MakePipeline
) -> None:
    rules = APPROVED_RULE.replace(
        "    once_per: event\n", "    once_per: event\n    budget: {max: 0}\n", 1
    )
    p, emulator, too, _ = await asked(make_emulator, make_pipeline, rules=rules)
    assert too.state is S.NEEDS_APPROVAL
    assert await jobs(p, "approve", str(too.id), "--by", "alice") == EXIT_OK
    await p.run(3)
    parked = await p.repo.submission(too.id)
    assert parked is not None
    assert parked.state is S.NEEDS_HUMAN
    assert "rule budget exhausted" in (parked.reason or "")
    assert too_posts(emulator) == 0


async def test_a_retraction_withholds_a_request_waiting_for_approval(
    make_emulator: Any, make_pipeline: MakePipeline
) -> None:
    p, emulator, too, _ = await asked(make_emulator, make_pipeline)
    await p.feed(ep_alert(1, alert_type="retraction"), TOPIC)
    await p.run(3)
    assert await p.state_of(too.key) is S.CANCELLED
    notices = await p.notices()
    assert "needs_human" not in notice_states(notices, "too")  # nothing to withdraw at Swift
    assert await jobs(p, "approve", str(too.id)) == EXIT_FAILURE
    assert too_posts(emulator) == 0


async def test_a_new_attempt_of_an_approved_request_carries_the_approval(
    make_emulator: Any, make_pipeline: MakePipeline
) -> None:
    """The row a rejection policy adds (``Submitter._resubmit``'s plan, stored as the
    repository stores it) is sent without asking again; one of a request nobody approved
    is asked."""
    p, emulator, too, _ = await asked(make_emulator, make_pipeline)
    assert await jobs(p, "approve", str(too.id), "--by", "alice") == EXIT_OK
    await p.run(3)
    assert too_posts(emulator) == 1
    again = PlannedSubmission(
        key=submission_key(too.rule, too.group_key, too.action, 1),
        rule=too.rule,
        action=too.action,
        # Not the pre-send check's business here (test_presend.py): the emulator's fast clock
        # has Swift plan the first attempt's target, which a real rejection would not.
        spec=dataclasses.replace(too_spec(too).with_body(urgency=2), on_target=None),
        attempt=1,
        not_before=p.clock(),
    )
    new = await p.repo.add_submission(too.event_id, again, parent_id=too.id, detail="attempt 1")
    assert new is not None
    await p.run(3)
    sent = await p.repo.submission(new.id)
    assert sent is not None
    assert sent.remote_id is not None
    assert sent.approved_by == "alice"
    assert too_posts(emulator) == 2
    history = [h["detail"] for h in await p.repo.submission_log(new.id)]
    assert f"attempt 2: approved with submission {too.id} by alice" in history
    # an attempt whose predecessor nobody approved waits like any other
    third = dataclasses.replace(
        again, key=submission_key(too.rule, too.group_key, too.action, 5), attempt=5
    )
    lone = await p.repo.add_submission(too.event_id, third, parent_id=too.id, detail="attempt 5")
    assert lone is not None
    await p.run(2)
    assert await p.state_of(lone.key) is S.NEEDS_APPROVAL
    assert too_posts(emulator) == 2


async def test_jobs_cancel_also_withholds_a_waiting_request(
    make_emulator: Any, make_pipeline: MakePipeline
) -> None:
    p, emulator, too, xrt = await asked(make_emulator, make_pipeline)
    assert await jobs(p, "cancel", str(too.id), "--reason", "duplicate of a manual TOO") == EXIT_OK
    await p.run(3)
    assert await p.state_of(too.key) is S.CANCELLED
    assert await p.state_of(xrt.key) is S.CANCELLED
    assert too_posts(emulator) == 0


async def test_a_transients_shared_request_waits_too(
    make_emulator: Any, make_pipeline: MakePipeline
) -> None:
    """``once_per: transient`` (the default): the shared request waits and is sent once."""
    rules = APPROVED_RULE.replace("    once_per: event\n", "", 1)
    p, emulator, too, _ = await asked(make_emulator, make_pipeline, rules=rules)
    assert too.state is S.NEEDS_APPROVAL
    assert too.transient_id is not None
    assert too_posts(emulator) == 0
    assert await jobs(p, "approve", str(too.id), "--by", "alice") == EXIT_OK
    await p.run(5)
    assert too_posts(emulator) == 1
