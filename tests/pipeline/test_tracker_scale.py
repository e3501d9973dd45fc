"""The tracker with more due XRT jobs than one fetch holds (bench/tracking.py found this).

XRT jobs held back by the global poll rate stay due, oldest first. With one shared fetch
window, 500 of them hid every TOO behind them and no TOO was polled again.
"""

from __future__ import annotations

import json
from datetime import timedelta

from autotoo.emulators.ukssdc.routes import SERVICE_KEY
from autotoo.store.rows import SubmissionState as S
from autotoo.store.rows import ts
from tests.fixtures.swift_emulator import Emulator
from tests.pipeline.conftest import MakePipeline
from tests.pipeline.test_exactly_once import EP_TOPIC, rule

WAITING_JOBS = 600  # more than the tracker's fetch window of 500
EP_ALERT = json.dumps(
    {
        "$schema": "https://gcn.nasa.gov/schema/v4.1.0/gcn/notices/einstein_probe/wxt/alert.schema.json",
        "instrument": "WXT",
        "trigger_time": "2026-04-30T02:32:47.999Z",
        "id": ["01709261081"],
        "ra": 178.334,
        "dec": -10.202,
        "ra_dec_error": 0.05096604,
        "net_count_rate": 0.08,
    }
).encode()


async def _seed_waiting_jobs(pipe, emulator: Emulator, event_id: int) -> None:
    """Running XRT jobs in the emulator, all due in the store an hour before the TOO."""
    service = emulator.app[SERVICE_KEY]
    due = ts(pipe.clock() - timedelta(hours=1))
    request = json.dumps({"request": {"products": {"LightCurve": {}}, "globals": {}}, "name": "j"})
    rows = []
    for k in range(WAITING_JOBS):
        job = service.jobs.create(
            user="astronomer@example.org",
            name=f"job {k}",
            products=["lc"],
            pars={},
            targets=[945521],
            base_url=emulator.ukssdc_url,
        )
        rows.append((f"xrt-{k}", event_id, request, str(job.job_id), due, due, due, due))
    async with pipe.repo.db.transaction() as tx:
        await tx.executemany(
            "INSERT INTO submissions (key, api, rule, event_id, action, state, request, "
            "remote_id, sent_at, next_at, created_at, updated_at) "
            "VALUES (?, 'ukssdc_xrt', 'ep', ?, 'xrt_products', 'tracking', ?, ?, ?, ?, ?, ?)",
            rows,
        )


async def test_due_toos_are_polled_while_xrt_jobs_wait_for_the_rate_limit(
    emulator: Emulator, make_pipeline: MakePipeline
) -> None:
    pipe = await make_pipeline(emulator, rule(), xrt_polls_per_minute=3)
    await pipe.feed(EP_ALERT, EP_TOPIC)
    await pipe.run()  # submitted, then polled once: tracking, due again now (swift_poll 0)
    (too,) = await pipe.rows(api="swift_too")
    assert too.state is S.TRACKING
    await _seed_waiting_jobs(pipe, emulator, too.event_id)
    before = dict(pipe.tracker.polls)

    await pipe.tracker.step()

    assert pipe.tracker.polls["swift_too"] == before["swift_too"] + 1
    assert pipe.tracker.polls["ukssdc_xrt"] == before["ukssdc_xrt"] + 3  # the rate limit
    remote = await pipe.repo.remote_job(too.id)
    assert remote is not None
    assert remote["polls"] == 2


async def test_xrt_polls_stay_within_the_rate_across_steps(
    emulator: Emulator, make_pipeline: MakePipeline
) -> None:
    pipe = await make_pipeline(emulator, rule(), xrt_polls_per_minute=5)
    await pipe.feed(EP_ALERT, EP_TOPIC)
    await pipe.run()
    (too,) = await pipe.rows(api="swift_too")
    await _seed_waiting_jobs(pipe, emulator, too.event_id)
    before = pipe.tracker.polls["ukssdc_xrt"]
    for _ in range(4):
        await pipe.tracker.step()
    assert pipe.tracker.polls["ukssdc_xrt"] == before + 5
