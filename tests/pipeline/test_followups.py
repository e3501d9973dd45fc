"""Follow-ups that wait for their TOO's observation (issue 16, item 1): the tracker's
observation, notice and release are one transaction, and a parent that ends takes its
waiting rows with it (tests/pipeline/test_sweep.py: what an older version's crash left).

Real parts: a SQLite file, the Swift and UKSSDC clients against the emulators; a fault is a
SQLite trigger in that file.
"""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import pytest
from astropy.coordinates import get_sun
from astropy.time import Time

from autotoo.config.yamlfile import load_yaml_text
from autotoo.rules import load_documents
from autotoo.store.rows import SubmissionRow
from autotoo.store.rows import SubmissionState as S
from tests.chaos.streams import RULES, ep_alert
from tests.fixtures.swift_emulator import Emulator
from tests.pipeline.conftest import MakePipeline, Pipeline, notice_states
from tests.pipeline.test_exactly_once import EP_TOPIC as EXACTLY_ONCE_TOPIC
from tests.pipeline.test_exactly_once import XRT_RULE, rule
from tests.pipeline.test_exactly_once import ep_alert as exactly_once_alert

TOPIC = "gcn.notices.einstein_probe.wxt.alert"
# ep-fast: a TOO, then XRT products of the observed target (submit: after_observation).
FAST_RULE = RULES.split("  - name: ep-settled")[0]


async def too_and_xrt(p: Pipeline) -> tuple[SubmissionRow, SubmissionRow]:
    by_action = {r.action: r for r in await p.rows()}
    return by_action["too"], by_action["xrt_products"]


async def sql(p: Pipeline, statement: str, *params: Any) -> None:
    """Write to the state file directly: the state an earlier version left, or a fault."""
    await p.repo.db.run(lambda conn: conn.execute(statement, params))


async def sent_too(
    make_emulator: Any, make_pipeline: MakePipeline, **settings: Any
) -> tuple[Pipeline, Emulator]:
    """One matching EP alert evaluated and its TOO handed to the submitter."""
    emulator = await make_emulator(speed=20_000)
    p = await make_pipeline(emulator, FAST_RULE, **settings)
    await p.feed(ep_alert(1), TOPIC)
    await p.submitter.step()
    return p, emulator


async def test_observation_release_and_notice_are_one_transaction(
    make_emulator: Any, make_pipeline: MakePipeline
) -> None:
    """A fault at the release (a SQLite trigger aborts it, as a SIGKILL would stop it) must
    leave no observation and no notice either: the next poll then does all three. Before the
    fix the observation was already committed, so no later poll ever released the job."""
    p, _ = await sent_too(make_emulator, make_pipeline)
    await sql(
        p,
        "CREATE TRIGGER fail_release BEFORE UPDATE OF next_at ON submissions "
        "WHEN OLD.api = 'ukssdc_xrt' AND OLD.next_at IS NULL AND NEW.next_at IS NOT NULL "
        "BEGIN SELECT RAISE(ABORT, 'the release fails'); END",
    )
    for _ in range(400):  # until the emulated Swift has observed the target
        try:
            await p.tracker.step()
        except sqlite3.DatabaseError as exc:
            assert "the release fails" in str(exc)
            break
        await asyncio.sleep(0.02)
    else:
        pytest.fail("the TOO was never observed")
    too, xrt = await too_and_xrt(p)
    assert await p.repo.observations(too.id) == []
    assert "observed" not in notice_states(await p.notices(), "too")
    assert (xrt.state, xrt.next_at) == (S.PLANNED, None)

    await sql(p, "DROP TRIGGER fail_release")
    await p.tracker.step()
    too, xrt = await too_and_xrt(p)
    observed = await p.repo.observations(too.id)
    assert observed
    assert notice_states(await p.notices(), "too").count("observed") == 1
    assert xrt.next_at is not None
    assert xrt.request["request"]["globals"]["targ"] == observed[0]["target_id"]


@pytest.mark.parametrize(
    ("settings", "too_state", "xrt_state"),
    [
        ({"mode": "dry-run"}, S.DONE, S.CANCELLED),
        ({"too_per_day": 0}, S.NEEDS_HUMAN, S.NEEDS_HUMAN),
    ],
)
async def test_a_parent_that_ends_unobserved_takes_its_waiting_job_with_it(
    make_emulator: Any,
    make_pipeline: MakePipeline,
    settings: dict[str, Any],
    too_state: S,
    xrt_state: S,
) -> None:
    """Before, a dry-run TOO ('done') or one parked for a human left its XRT job 'planned'
    for ever, waiting for an observation nothing would ever record."""
    p, emulator = await sent_too(make_emulator, make_pipeline, **settings)
    too, xrt = await too_and_xrt(p)
    assert (too.state, xrt.state) == (too_state, xrt_state)
    assert xrt.reason is not None and f"submission {too.id}" in xrt.reason
    assert xrt_state.value in notice_states(await p.notices(), "xrt_products")
    assert list(emulator.swift.received) == []


async def test_a_job_planned_after_its_too_was_observed_is_released_at_once(
    make_emulator: Any, make_pipeline: MakePipeline
) -> None:
    """A rule that gains ``after_observation`` XRT products (a reload) once its TOO was
    observed: the processor plans a job for an observation that has already happened. It
    must be released in the processor's own transaction; before, it waited for ever."""
    emulator = await make_emulator(speed=20_000)
    p = await make_pipeline(emulator, FAST_RULE.split("    xrt_products:")[0])
    await p.feed(ep_alert(1), TOPIC)
    [too] = await p.rows()
    for _ in range(400):
        await p.run()
        if observed := await p.repo.observations(too.id):
            break
        await asyncio.sleep(0.02)
    else:
        pytest.fail("the TOO was never observed")
    with_products = load_documents([load_yaml_text(FAST_RULE, "rules.yaml")])
    p.processor.rules = lambda: with_products
    await p.feed(ep_alert(1, alert_type="update"), TOPIC)
    _, xrt = await too_and_xrt(p)
    assert (xrt.state, xrt.parent_id) == (S.PLANNED, too.id)
    assert xrt.next_at is not None
    assert xrt.request["request"]["globals"]["targ"] == observed[0]["target_id"]


async def test_an_xrt_job_without_data_fails_only_with_its_retry_planned(
    make_emulator: Any, make_pipeline: MakePipeline
) -> None:
    """The failed job and its retry are one transaction: a fault at the retry's insert (a
    SQLite trigger) leaves the job as it was, to be retried at the next poll. Before, the
    job was already 'failed' and the retry was lost for good."""
    emulator = await make_emulator(speed=1000.0)
    emulator.sky.add_target("New transient", 201.365, -43.019)  # no observation: no data
    p = await make_pipeline(emulator, XRT_RULE)
    await p.feed(exactly_once_alert(0), TOPIC)
    await sql(
        p,
        "CREATE TRIGGER fail_retry BEFORE INSERT ON submissions WHEN NEW.attempt = 1 "
        "BEGIN SELECT RAISE(ABORT, 'the retry fails'); END",
    )
    for _ in range(100):  # the emulated job runs to its end on the fast clock
        try:
            await p.run()
        except sqlite3.DatabaseError as exc:
            assert "the retry fails" in str(exc)
            break
    else:
        pytest.fail("the job never ended without data")
    assert [(r.attempt, r.state) for r in await p.rows()] == [(0, S.TRACKING)]
    await sql(p, "DROP TRIGGER fail_retry")
    await p.tracker.step()
    assert [(r.attempt, r.state) for r in await p.rows()] == [(0, S.FAILED), (1, S.PLANNED)]


async def test_a_policy_rejection_its_new_attempt_and_the_waiting_job_commit_together(
    make_emulator: Any, make_pipeline: MakePipeline
) -> None:
    """Swift refuses the TOO (10 degrees from the Sun at urgency 2) and the policy asks for
    urgency 3. A fault at re-pointing the XRT job (a SQLite trigger) must leave no rejection
    and no new attempt either: the row stays 'submitting', is reconciled after the restart
    (Swift made no TOO), sent again, and this time all three commit. Before, the rejection
    and the new attempt were committed and the job waited for the rejected TOO for ever."""
    emulator = await make_emulator(speed=1.0)
    sun = get_sun(Time(emulator.clock.now())).icrs
    products = (
        "xrt_products: {submit: after_observation, "
        "globals: {centroid: true, posErr: 1, useSXPS: false}, "
        "products: {StandardPos: {}}}"
    )
    p = await make_pipeline(emulator, rule(urgency=2, policy="[3]", extra=products))
    alert = exactly_once_alert(0, ra=float(sun.ra.deg), dec=float(sun.dec.deg) + 10)
    await p.feed(alert, EXACTLY_ONCE_TOPIC)
    await sql(
        p,
        "CREATE TRIGGER fail_repoint BEFORE UPDATE OF parent_id ON submissions "
        "BEGIN SELECT RAISE(ABORT, 'the re-pointing fails'); END",
    )
    with pytest.raises(sqlite3.DatabaseError, match="the re-pointing fails"):
        await p.submitter.step()
    states = [(r.action, r.attempt, r.state) for r in await p.rows()]
    assert states == [("too", 0, S.SUBMITTING), ("xrt_products", 0, S.PLANNED)]

    await sql(p, "DROP TRIGGER fail_repoint")
    await p.submitter.recover()  # the restart
    for _ in range(6):
        await p.submitter.step()
    rows = await p.rows()
    assert [(r.action, r.attempt, r.state) for r in rows] == [
        ("too", 0, S.REJECTED),
        ("xrt_products", 0, S.PLANNED),
        ("too", 1, S.SUBMITTED),
    ]
    assert (rows[1].parent_id, rows[1].next_at) == (rows[2].id, None)
    assert [t.form.urgency for t in emulator.swift.toos.values()] == [3]
