"""The consistency sweep (pipeline/sweep.py) on a real SQLite file: each stranded state an
earlier version's SIGKILL could leave is written into the file as that version left it, and
the sweep must repair it once, the way the pipeline would have gone on.

Before the sweep existed nothing repaired these rows: each test's state is shown to survive
a restart's rounds (or is one no round ever looks at) before the sweep runs.
"""

from __future__ import annotations

import asyncio
from typing import Any

from autotoo.emulators.ukssdc.routes import SERVICE_KEY
from autotoo.pipeline.keys import submission_key
from autotoo.pipeline.sweep import Sweep
from autotoo.pipeline.tracker import NO_DATA_RETRY
from autotoo.store.rows import PlannedSubmission
from autotoo.store.rows import SubmissionState as S
from tests.chaos.streams import RULES, ep_alert
from tests.pipeline.conftest import MakePipeline, Pipeline, notice_states
from tests.pipeline.test_followups import TOPIC, sent_too, sql, too_and_xrt

# ep-fast with a policy: a 'constrained' refusal asks for attempts at urgency 3, then 4.
POLICY_RULE = RULES.split("  - name: ep-settled")[0].replace(
    '      exp_time_just: "2 ks reaches the flux needed to detect and localise it."\n',
    '      exp_time_just: "2 ks reaches the flux needed to detect and localise it."\n'
    "      on_reject: {constrained: {urgency: [3, 4]}}\n",
)


def sweep_of(p: Pipeline) -> Sweep:
    return Sweep(p.repo, settings=lambda: p.settings, clock=p.clock)


async def planned_only(emulator: Any, make_pipeline: MakePipeline) -> Pipeline:
    """The rule's TOO and its waiting XRT job, planned, nothing sent."""
    p = await make_pipeline(emulator, POLICY_RULE)
    await p.feed(ep_alert(1), TOPIC)
    return p


async def test_sweep_releases_a_job_stranded_by_a_crash_after_the_observation(
    make_emulator: Any, make_pipeline: MakePipeline
) -> None:
    """The reported state: TOO 'done', its XRT job 'planned' with nothing to release it.
    Restarting does not repair it (the tracker no longer polls a done TOO); the sweep does,
    and the job reaches the UKSSDC once, with the observed target."""
    p, emulator = await sent_too(make_emulator, make_pipeline)
    too, _ = await too_and_xrt(p)
    assert too.remote_id is not None and p.tracker.too is not None
    for _ in range(400):
        progress = await p.tracker.too.progress(too.remote_id)
        if progress.observations:
            break
        await asyncio.sleep(0.02)
    # What the tracker of before had committed when SIGKILL came: the observation in its
    # own transaction (the release never), then 'done' at the restart's next poll.
    await p.repo.add_observations(
        too.id, [{"target_id": o.target_id, "obsid": o.obsid} for o in progress.observations]
    )
    await sql(p, "UPDATE submissions SET state = 'done', next_at = NULL WHERE id = ?", too.id)
    await p.run(rounds=3)
    too, xrt = await too_and_xrt(p)
    assert (too.state, xrt.state, xrt.next_at) == (S.DONE, S.PLANNED, None)

    sweep = sweep_of(p)
    assert await sweep.step() == 1
    assert await sweep.step() == 0  # repaired once
    _, xrt = await too_and_xrt(p)
    target = progress.observations[0].target_id
    assert (xrt.state, xrt.request["request"]["globals"]["targ"]) == (S.PLANNED, target)
    await p.submitter.step()
    jobs = emulator.app[SERVICE_KEY].jobs.of_user("astronomer@example.org")
    assert [j.pars["targ"] for j in jobs] == [target]


async def test_sweep_points_a_job_at_the_resubmission_of_its_rejected_too(
    emulator: Any, make_pipeline: MakePipeline
) -> None:
    """SIGKILL between planning a policy resubmission and re-pointing the XRT job: the job
    waits for the rejected attempt. It must wait for the new one."""
    p = await planned_only(emulator, make_pipeline)
    too, xrt = await too_and_xrt(p)
    await sql(p, "UPDATE submissions SET state = 'rejected', next_at = NULL WHERE id = ?", too.id)
    plan = PlannedSubmission(
        key=submission_key(too.rule, too.group_key, "too", 1),
        rule=too.rule,
        action="too",
        spec=too.spec,
        attempt=1,
    )
    again = await p.repo.add_submission(too.event_id, plan, parent_id=too.id, detail="attempt 1")
    assert again is not None
    assert await sweep_of(p).step() == 1
    moved = await p.repo.submission(xrt.id)
    assert moved is not None
    assert (moved.state, moved.next_at, moved.parent_id) == (S.PLANNED, None, again.id)


async def test_sweep_parks_a_too_whose_policy_resubmission_was_lost(
    emulator: Any, make_pipeline: MakePipeline
) -> None:
    """SIGKILL between a rejection the policy answers with a new attempt and planning it:
    a human decides (a late TOO may no longer be worth it); its XRT job says why it waits."""
    p = await planned_only(emulator, make_pipeline)
    too, xrt = await too_and_xrt(p)
    await sql(
        p,
        "UPDATE submissions SET state = 'rejected', reason = ?, next_at = NULL WHERE id = ?",
        "constrained: the target is too close to the Sun",
        too.id,
    )
    assert await sweep_of(p).step() == 1  # the TOO; its job is settled with it
    too, xrt = await too_and_xrt(p)
    assert too.state is S.NEEDS_HUMAN
    assert "attempt 1 at urgency 3, which a crash lost" in (too.reason or "")
    assert xrt.state is S.NEEDS_HUMAN
    assert f"submission {too.id}" in (xrt.reason or "")
    assert notice_states(await p.notices()).count("needs_human") == 2
    assert await sweep_of(p).step() == 0
    assert list(emulator.swift.received) == []


async def test_sweep_plans_the_lost_retry_of_an_xrt_job_without_data(
    emulator: Any, make_pipeline: MakePipeline
) -> None:
    """SIGKILL between failing an XRT job that found no data yet and planning its retry."""
    p = await planned_only(emulator, make_pipeline)
    too, xrt = await too_and_xrt(p)
    await sql(p, "UPDATE submissions SET state = 'done', next_at = NULL WHERE id = ?", too.id)
    await sql(
        p,
        "UPDATE submissions SET state = 'failed', reason = ?, next_at = NULL WHERE id = ?",
        NO_DATA_RETRY,
        xrt.id,
    )
    assert await sweep_of(p).step() == 1
    rows = [r for r in await p.rows() if r.action == "xrt_products"]
    assert [(r.attempt, r.state) for r in rows] == [(0, S.FAILED), (1, S.PLANNED)]
    retry = rows[1]
    assert retry.parent_id == too.id and retry.next_at is not None
    assert retry.request["name"].endswith(retry.key)
    assert await sweep_of(p).step() == 0
