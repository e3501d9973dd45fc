"""Several accounts (issue 21): each rule's requests go out, are listed and are polled with
the credentials of the account it names, also after a restart; budgets count per account.

Real parts: a SQLite file, the Swift and UKSSDC clients through their adapters, against the
emulators, which know two users and check every request's credentials. Each test checks at
the emulator who asked (``SwiftService.toos`` keeps the submitting user, ``callers`` every
authenticated request's user, the UKSSDC its jobs per user id).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from autotoo.emulators.app import create_app
from autotoo.emulators.clock import SimClock
from autotoo.emulators.sky import Sky
from autotoo.emulators.ukssdc.routes import SERVICE_KEY
from autotoo.emulators.users import Users
from autotoo.store.rows import SubmissionRow
from autotoo.store.rows import SubmissionState as S
from tests.chaos.streams import ep_alert
from tests.fixtures.swift_emulator import Emulator, MakeEmulator
from tests.pipeline.conftest import MakePipeline, Pipeline
from tests.pipeline.test_exactly_once import served

TOPIC = "gcn.notices.einstein_probe.wxt.alert"
OURS = ("myuser", "my_shared_secret", "astronomer@example.org")
PARTNER = ("partneruser", "partner_secret", "partner@example.org")
ACCOUNTS = {"partner": PARTNER}


def users() -> Users:
    return Users(swift={OURS[0]: OURS[1], PARTNER[0]: PARTNER[1]}, ukssdc={OURS[2], PARTNER[2]})


RULE = """\
  - name: {name}
    match: {{topics: [gcn.notices.einstein_probe.wxt.alert]}}
    once_per: event
    {extra}
    too:
      source_name: "EP{{{{ alert.event_key }}}}"
      source_type: X-ray transient
      position: best
      urgency: 3
      obs_type: Light Curve
      exp_time_per_visit: 2000
      num_of_visits: 1
      xrt_countrate: 0.5
      immediate_objective: "Localise EP transient {{{{ alert.event_key }}}}"
      science_just: "Einstein Probe WXT found a new X-ray transient; XRT localises it."
      exp_time_just: "2 ks reaches the flux needed to detect and localise it."
      if_swift_on_target: submit     # both rules' TOOs go out, though they share a target
    xrt_products:
      submit: after_observation
      globals: {{centroid: true, posErr: 1, useSXPS: false}}
      products: {{StandardPos: {{}}}}
"""


def rules(ours: str = "", partner: str = "account: partner") -> str:
    """Two rules matching every EP alert: ``ours`` on the default account, ``theirs`` on the
    account ``partner`` (once_per: event, so each rule has its own request)."""
    return (
        "rules:\n"
        + RULE.format(name="ours", extra=ours or "enabled: true")
        + RULE.format(name="theirs", extra=partner)
    )


def by_rule(rows: list[SubmissionRow], action: str = "too") -> dict[str, SubmissionRow]:
    return {r.rule: r for r in rows if r.action == action}


async def run_until(p: Pipeline, done: Any, timeout: float = 60.0) -> None:
    """Rounds until ``done()``: bounded by time, not by a count of rounds, since a poll is
    due at a wall-clock time (a quick machine ran 400 empty rounds before the partner's
    next poll was due, and failed)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        await p.run()
        if await done():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("not done in time")


async def test_each_rule_sends_with_its_own_account(
    make_emulator: MakeEmulator, make_pipeline: MakePipeline
) -> None:
    emulator = await make_emulator(speed=20_000, users=users())
    p = await make_pipeline(emulator, rules(), accounts=ACCOUNTS)
    await p.feed(ep_alert(1), TOPIC)
    await p.submitter.step()
    rows = by_rule(await p.rows())
    assert {name: row.account for name, row in rows.items()} == {
        "ours": "default",
        "theirs": "partner",
    }
    sent_by = {str(t.too_id): t.username for t in emulator.swift.toos.values()}
    assert sent_by == {rows["ours"].remote_id: "myuser", rows["theirs"].remote_id: "partneruser"}
    # the account is part of the stored request, and the store's column reads it
    stored = await p.repo.db.run(
        lambda conn: conn.execute("SELECT rule, account FROM submissions ORDER BY rule").fetchall()
    )
    assert [tuple(r) for r in stored] == [
        ("ours", "default"),
        ("ours", "default"),
        ("theirs", "partner"),
        ("theirs", "partner"),
    ]


def _fault_after_acting(times: int) -> tuple[list[int], Any]:
    """A 502 on the first TOO POSTs, after the emulator acted on them: outcome unknown."""
    hits = [0]

    @web.middleware
    async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.method == "POST" and request.path.endswith("/swift/too") and hits[0] < times:
            hits[0] += 1
            await handler(request)
            raise web.HTTPBadGateway(text="upstream went away")
        return await handler(request)  # type: ignore[no-any-return]

    return hits, middleware


async def test_after_a_restart_each_account_reconciles_and_polls_its_own(
    make_pipeline: MakePipeline,
) -> None:
    """Both POSTs' outcomes are unknown; the daemon restarts. Reconciliation must read each
    account's own listing (another user's listing shows the partner's TOO without its
    texts, so the marker is not found and the TOO would be sent twice), and the tracker must
    poll the partner's TOO as the partner, whose XRT job then goes out under the partner's
    UKSSDC user id."""
    sky = Sky(SimClock(speed=20_000))
    app = create_app(sky=sky, users=users())
    hits, fault = _fault_after_acting(times=2)
    app.middlewares.append(fault)
    emulator: Emulator = await served(app, sky)
    first = await make_pipeline(emulator, rules(), accounts=ACCOUNTS, state_file="state.db")
    await first.feed(ep_alert(1), TOPIC)
    await first.submitter.step()
    assert hits[0] == 2
    assert {r.state for r in by_rule(await first.rows()).values()} == {S.UNKNOWN}

    # A restart: new workers and clients on the same state file; the old ones are gone.
    emulator.swift.callers.clear()
    p = await make_pipeline(emulator, rules(), accounts=ACCOUNTS, state_file="state.db")
    await p.submitter.start()
    jobs = emulator.app[SERVICE_KEY].jobs

    async def both_jobs_sent() -> bool:
        xrt = by_rule(await p.rows(), "xrt_products")
        return all(r.remote_id for r in xrt.values())

    await run_until(p, both_jobs_sent)
    toos = {t.username: t for t in emulator.swift.toos.values()}
    assert len(emulator.swift.toos) == 2, "a TOO was sent twice"
    rows = by_rule(await p.rows())
    assert rows["ours"].remote_id == str(toos["myuser"].too_id)
    assert rows["theirs"].remote_id == str(toos["partneruser"].too_id)
    assert {user for user, _ in emulator.swift.callers} == {"myuser", "partneruser"}
    [ours_job] = jobs.of_user(OURS[2])
    [their_job] = jobs.of_user(PARTNER[2])
    assert their_job.pars["targ"] == f"{toos['partneruser'].target_id:08d}"
    assert ours_job.pars["targ"] == f"{toos['myuser'].target_id:08d}"


async def test_budgets_are_counted_per_account(
    make_emulator: MakeEmulator, make_pipeline: MakePipeline
) -> None:
    """The partner's cap of one TOO a day parks its second; the default account, with no
    cap of its own, sends both (the global cap counts all four)."""
    emulator = await make_emulator(speed=1.0, users=users())
    p = await make_pipeline(
        emulator, rules(), accounts=ACCOUNTS, account_too_per_day={"partner": 1}, too_per_day=10
    )
    for event in (1, 2):
        await p.feed(ep_alert(event), TOPIC)
    await p.submitter.step()
    rows = [r for r in await p.rows() if r.action == "too"]
    states = sorted((r.rule, r.state.value) for r in rows)
    assert states == [
        ("ours", "submitted"),
        ("ours", "submitted"),
        ("theirs", "needs_human"),
        ("theirs", "submitted"),
    ]
    [parked] = [r for r in rows if r.state is S.NEEDS_HUMAN]
    assert parked.reason == "account partner budget exhausted: 1 of 1 TOOs in 24 h"
    assert sorted(t.username for t in emulator.swift.toos.values()) == [
        "myuser",
        "myuser",
        "partneruser",
    ]
    # the global cap counts every account's TOOs
    assert await p.repo.count_sent(api=rows[0].api, since=p.clock().replace(year=2000)) == 3
    assert json.loads(json.dumps(parked.request))["account"] == "partner"
