"""Exactly-once paths of the submitter and tracker, against the real emulators."""

from __future__ import annotations

import json

from aiohttp import web
from aiohttp.test_utils import TestServer
from astropy.coordinates import get_sun
from astropy.time import Time

from autotoo.emulators.app import create_app
from autotoo.emulators.clock import SimClock
from autotoo.emulators.sky import Sky
from autotoo.emulators.swift import SERVICE
from autotoo.emulators.ukssdc.routes import SERVICE_KEY
from autotoo.store.rows import SubmissionState as S
from tests.fixtures.swift_emulator import Emulator
from tests.pipeline.conftest import KAFKA, notice_states

EP_TOPIC = "gcn.notices.einstein_probe.wxt.alert"
EP_FILES = sorted(KAFKA.glob("*einstein_probe_wxt_alert.json"))

TOO_RULE = """\
rules:
  - name: ep
    match: {{topics: [gcn.notices.einstein_probe.wxt.alert]}}
    once_per: event
    {extra}
    too:
      source_name: "EP{{{{ alert.event_key }}}}"
      source_type: X-ray transient
      position: best
      urgency: {urgency}
      obs_type: Light Curve
      exp_time_per_visit: 2000
      num_of_visits: 1
      xrt_countrate: 0.5
      immediate_objective: "Localise EP {{{{ alert.event_key }}}}"
      science_just: "A new X-ray transient; XRT localises it."
      exp_time_just: "2 ks reaches the flux needed."
      on_reject: {{constrained: {{urgency: {policy}}}}}
"""


def rule(*, urgency: int = 3, policy: str = "[3, 4]", extra: str = "") -> str:
    return TOO_RULE.format(urgency=urgency, policy=policy, extra=extra)


def ep_alert(index: int = 0, **changes: object) -> bytes:
    data = json.loads(EP_FILES[index].read_bytes())
    data.update(changes)
    return json.dumps(data).encode()


async def served(app: web.Application, sky: Sky) -> Emulator:
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return Emulator(f"http://127.0.0.1:{server.port}", sky, app[SERVICE], app)


async def test_constraint_rejection_resubmits_at_the_policy_urgencies(
    make_emulator, make_pipeline
) -> None:
    emulator = await make_emulator(speed=1.0)
    sun = get_sun(Time(emulator.clock.now())).icrs
    p = await make_pipeline(emulator, rule(urgency=2, policy="[1, 3]"))
    # 10 degrees from the Sun: constrained for urgency 0-2, accepted at 3
    await p.feed(ep_alert(0, ra=float(sun.ra.deg), dec=float(sun.dec.deg) + 10), EP_TOPIC)
    await p.run(rounds=4)
    rows = await p.rows()
    assert [(r.attempt, r.state, r.request["body"]["urgency"]) for r in rows] == [
        (0, S.REJECTED, 2),
        (1, S.REJECTED, 1),
        (2, S.TRACKING, 3),
    ]
    assert "currently constrained" in (rows[0].reason or "")
    assert len({r.key for r in rows}) == 3  # explicit attempts: new keys, never an accident
    assert len(emulator.swift.toos) == 1
    assert next(iter(emulator.swift.toos.values())).form.urgency == 3
    assert notice_states(await p.notices(), "too").count("rejected") == 2


async def test_exhausted_policy_parks_for_a_human(make_emulator, make_pipeline) -> None:
    emulator = await make_emulator(speed=1.0)
    sun = get_sun(Time(emulator.clock.now())).icrs
    p = await make_pipeline(emulator, rule(urgency=2, policy="[1]"))
    await p.feed(ep_alert(0, ra=float(sun.ra.deg) + 5, dec=float(sun.dec.deg)), EP_TOPIC)
    await p.run(rounds=3)
    rows = await p.rows()
    assert [r.state for r in rows] == [S.REJECTED, S.NEEDS_HUMAN]
    assert "policy exhausted" in (rows[1].reason or "")
    assert emulator.swift.toos == {}
    assert "needs_human" in notice_states(await p.notices(), "too")


def _fault(*, act_first: bool, times: int = 1) -> tuple[list[int], web.middleware]:
    """A 502 on the first TOO POST(s): after the emulator acted on it, or before."""
    hits = [0]

    @web.middleware
    async def middleware(request: web.Request, handler):  # type: ignore[no-untyped-def]
        if request.method == "POST" and request.path.endswith("/swift/too") and hits[0] < times:
            hits[0] += 1
            if act_first:
                await handler(request)
            raise web.HTTPBadGateway(text="upstream went away")
        return await handler(request)

    return hits, middleware


async def test_post_acted_on_then_502_is_reconciled_not_resent(make_pipeline) -> None:
    sky = Sky(SimClock(speed=1.0))
    app = create_app(sky=sky)
    hits, fault = _fault(act_first=True)
    app.middlewares.append(fault)
    emulator = await served(app, sky)
    p = await make_pipeline(emulator, rule())
    await p.feed(ep_alert(0), EP_TOPIC)
    await p.submitter.step()
    [row] = await p.rows()
    assert (row.state, hits[0]) == (S.UNKNOWN, 1)
    await p.submitter.step()  # reconcile: the listing has it, with our marker
    [row] = await p.rows()
    assert row.state is S.SUBMITTED
    [too] = emulator.swift.toos.values()
    assert row.remote_id == str(too.too_id)
    posts = [r for r in emulator.swift.received if r.api == "/swift/too"]
    assert len(posts) == 1


async def test_post_lost_before_acting_is_resent_after_two_empty_listings(make_pipeline) -> None:
    sky = Sky(SimClock(speed=1.0))
    app = create_app(sky=sky)
    _, fault = _fault(act_first=False)
    app.middlewares.append(fault)
    emulator = await served(app, sky)
    p = await make_pipeline(emulator, rule())
    await p.feed(ep_alert(0), EP_TOPIC)
    await p.submitter.step()  # 502 before the service acted: outcome unknown to us
    await p.submitter.step()  # listing 1: not there
    assert [r.state for r in await p.rows()] == [S.UNKNOWN]
    await p.submitter.step()  # listing 2: still not there -> planned again -> (next step) sent
    await p.submitter.step()
    [row] = await p.rows()
    assert row.state is S.SUBMITTED
    assert len(emulator.swift.toos) == 1
    # the first POST died before the service saw it; only the resent one arrived
    assert len([r for r in emulator.swift.received if r.api == "/swift/too"]) == 1


async def test_global_budget_parks_the_excess(make_emulator, make_pipeline) -> None:
    emulator = await make_emulator(speed=1.0)
    p = await make_pipeline(emulator, rule(), too_per_day=2)
    events = {json.loads(f.read_bytes())["id"].__str__(): i for i, f in enumerate(EP_FILES)}
    for index in list(events.values())[:3]:
        await p.feed(ep_alert(index), EP_TOPIC)
    await p.run(rounds=2)
    states = sorted(r.state.value for r in await p.rows())
    assert states in (
        ["needs_human", "submitted", "submitted"],
        ["needs_human", "submitted", "tracking"],
        ["needs_human", "tracking", "tracking"],
    )
    assert len(emulator.swift.toos) == 2
    parked = [r for r in await p.rows() if r.state is S.NEEDS_HUMAN]
    assert "global budget exhausted" in (parked[0].reason or "")


async def test_rule_budget_parks_the_excess(make_emulator, make_pipeline) -> None:
    emulator = await make_emulator(speed=1.0)
    p = await make_pipeline(emulator, rule(extra="budget: {max: 1, per: 24h}"))
    events = {json.loads(f.read_bytes())["id"].__str__(): i for i, f in enumerate(EP_FILES)}
    for index in list(events.values())[:2]:
        await p.feed(ep_alert(index), EP_TOPIC)
    await p.run(rounds=2)
    assert sorted(r.state.value for r in await p.rows()) in (
        ["needs_human", "submitted"],
        ["needs_human", "tracking"],
    )
    assert len(emulator.swift.toos) == 1
    [parked] = [r for r in await p.rows() if r.state == S.NEEDS_HUMAN]
    # the reason is a sentence for the person on duty, not str(timedelta) ("1 day, 0:00:00")
    assert parked.reason == "rule budget exhausted: 1 of 1 TOOs in 1 day"


async def test_dry_run_decides_and_sends_nothing(make_emulator, make_pipeline) -> None:
    emulator = await make_emulator(speed=1.0)
    p = await make_pipeline(emulator, rule(), mode="dry-run")
    await p.feed(ep_alert(0), EP_TOPIC)
    await p.run(rounds=2)
    [row] = await p.rows()
    assert (row.state, row.reason) == (S.DONE, "dry-run: not sent")
    assert list(emulator.swift.received) == []
    # the status messages agree with the store, and say that nothing was sent
    last = [n for n in await p.notices() if n["_topic"].startswith("autotoo/actions/")][-1]
    assert (last["state"], last["reason"], last["dry_run"]) == ("done", "dry-run: not sent", True)


async def test_debug_mode_is_acknowledged_and_creates_no_too(make_emulator, make_pipeline) -> None:
    emulator = await make_emulator(speed=1.0)
    p = await make_pipeline(emulator, rule(), mode="debug")
    await p.feed(ep_alert(0), EP_TOPIC)
    await p.run(rounds=2)
    [row] = await p.rows()
    assert row.state is S.DONE
    assert "debug" in (row.reason or "")
    assert emulator.swift.toos == {}
    assert [r.body.get("debug") for r in emulator.swift.received if r.api == "/swift/too"] == [
        "true"
    ]


async def test_settle_waits_and_an_update_supersedes_before_sending(
    make_emulator, make_pipeline
) -> None:
    emulator = await make_emulator(speed=1.0)
    p = await make_pipeline(emulator, rule(extra="settle: 10m"))
    first = json.loads(EP_FILES[0].read_bytes())
    await p.feed(ep_alert(0, ra_dec_error=0.05), EP_TOPIC)
    await p.run()
    assert [r.state for r in await p.rows()] == [S.PLANNED]  # settling
    better = {**first, "ra_dec_error": 0.01, "ra": first["ra"] + 0.01}
    await p.feed(json.dumps(better).encode(), EP_TOPIC)
    p.clock.advance(minutes=11)
    await p.run()
    [row] = await p.rows()
    assert row.state in {S.SUBMITTED, S.TRACKING}
    [too] = emulator.swift.toos.values()
    assert abs(too.form.poserr - 0.6) < 1e-6  # 0.01 deg = 0.6 arcmin: the better position


async def test_better_position_after_submission_never_sends_a_second_too(
    make_emulator, make_pipeline
) -> None:
    emulator = await make_emulator(speed=1.0)
    p = await make_pipeline(emulator, rule())
    first = json.loads(EP_FILES[0].read_bytes())
    await p.feed(ep_alert(0, ra_dec_error=0.05), EP_TOPIC)
    await p.run()
    await p.feed(json.dumps({**first, "ra_dec_error": 0.01}).encode(), EP_TOPIC)
    await p.run(rounds=2)
    assert len(await p.rows()) == 1
    assert len(emulator.swift.toos) == 1
    updates = [n for n in await p.notices() if "better position" in (n.get("reason") or "")]
    assert updates
    assert updates[0]["position"]["err90_arcsec"] == 36.0


GRM_TRIGGER = KAFKA / "000000000057_341_gcn_notices_svom_voevent_grm.xml"
GRM_RETRACTION = KAFKA / "000000000058_342_gcn_notices_svom_voevent_grm.xml"
GRM_RULE = """\
rules:
  - name: svom-grm
    match: {{topics: [gcn.notices.svom.voevent.grm], kinds: [initial]}}
    settle: {settle}
    too:
      source_name: "SVOM {{{{ alert.event_key }}}}"
      source_type: GRB
      position: {{ra: 13.0234, dec: -72.4345, poserr: 6.0}}   # SMC X-3: archive data exist
      urgency: 3
      obs_type: Position
      other_brightness: "unknown: a GRB afterglow is expected"
      grb_detector: SVOM/GRM
      grb_triggertime: "{{{{ alert.trigger_time }}}}"
      exp_time_per_visit: 1000
      num_of_visits: 1
      immediate_objective: "Search for the afterglow of {{{{ alert.event_key }}}}"
      science_just: "SVOM GRM trigger; XRT searches the field for an afterglow."
      exp_time_just: "1 ks detects a typical afterglow."
    xrt_products:
      submit: immediately
      globals: {{RA: 13.0234, Dec: -72.4345, centroid: false, useSXPS: false, getTargs: true}}
      products: {{StandardPos: {{}}}}
"""


async def test_retraction_withholds_unsent_work(make_emulator, make_pipeline) -> None:
    emulator = await make_emulator(speed=1.0)
    p = await make_pipeline(emulator, GRM_RULE.format(settle="30m"))
    await p.feed(GRM_TRIGGER.read_bytes(), "gcn.notices.svom.voevent.grm")
    await p.run()
    assert {r.action: r.state for r in await p.rows()} == {
        "too": S.PLANNED,
        "xrt_products": S.PLANNED,
    }
    await p.feed(GRM_RETRACTION.read_bytes(), "gcn.notices.svom.voevent.grm")
    p.clock.advance(hours=1)
    await p.run(rounds=2)
    assert {r.state for r in await p.rows()} == {S.CANCELLED}
    assert list(emulator.swift.received) == []
    assert "cancelled" in notice_states(await p.notices())


async def test_retraction_cancels_a_running_xrt_job(make_emulator, make_pipeline) -> None:
    emulator = await make_emulator(speed=1e-6)  # the job stays queued
    p = await make_pipeline(emulator, GRM_RULE.format(settle="0s"))
    await p.feed(GRM_TRIGGER.read_bytes(), "gcn.notices.svom.voevent.grm")
    await p.run()
    xrt = [r for r in await p.rows() if r.action == "xrt_products"]
    assert xrt[0].state in {S.SUBMITTED, S.TRACKING}
    await p.feed(GRM_RETRACTION.read_bytes(), "gcn.notices.svom.voevent.grm")
    await p.run()
    xrt = [r for r in await p.rows() if r.action == "xrt_products"]
    assert xrt[0].state is S.CANCELLED
    [job] = emulator.app[SERVICE_KEY].jobs.of_user("astronomer@example.org")
    assert job.cancelled  # the UKSSDC was asked to cancel it


async def test_unknown_uvot_mode_falls_back_to_filter_of_the_day(
    make_emulator, make_pipeline
) -> None:
    emulator = await make_emulator(speed=1.0)
    text = rule().replace(
        "      on_reject:",
        '      uvot_mode: 0x1234\n      uvot_just: "a custom mode"\n'
        "      check_uvot_mode: true\n      on_reject:",
    )
    p = await make_pipeline(emulator, text)
    await p.feed(ep_alert(0), EP_TOPIC)
    await p.run()
    [row] = await p.rows()
    assert row.state in {S.SUBMITTED, S.TRACKING}
    [too] = emulator.swift.toos.values()
    assert too.form.uvot_mode in {0x9999, "0x9999"}
    log = await p.repo.submission_log(row.id)
    assert any("pre-submission check" in (e["detail"] or "") for e in log)


async def test_server_validation_first_then_one_submission(make_emulator, make_pipeline) -> None:
    emulator = await make_emulator(speed=1.0)
    text = rule().replace("      on_reject:", "      server_validate: true\n      on_reject:")
    p = await make_pipeline(emulator, text)
    await p.feed(ep_alert(0), EP_TOPIC)
    await p.run()
    posts = [r.body.get("validate_only") for r in emulator.swift.received if r.api == "/swift/too"]
    assert posts == ["true", "false"]
    assert len(emulator.swift.toos) == 1


XRT_RULE = """\
rules:
  - name: xrt-now
    match: {topics: [gcn.notices.einstein_probe.wxt.alert]}
    xrt_products:
      submit: immediately
      globals: {RA: 201.365, Dec: -43.019, centroid: false, useSXPS: false, getTargs: true}
      products: {StandardPos: {}}
      retry: {every: 10m, for: 2h}
"""


async def test_xrt_without_data_yet_is_retried_until_data_exist(
    make_emulator, make_pipeline
) -> None:
    emulator = await make_emulator(speed=1000.0)
    target = emulator.sky.add_target("New transient", 201.365, -43.019)  # no observation yet
    p = await make_pipeline(emulator, XRT_RULE)
    await p.feed(ep_alert(0), EP_TOPIC)
    await p.run()
    for _ in range(100):  # the emulated job runs to its end on the fast clock
        await p.run()
        if any(r.state is S.FAILED for r in await p.rows()):
            break
    rows = await p.rows()
    assert [(r.attempt, r.state) for r in rows] == [(0, S.FAILED), (1, S.PLANNED)]
    assert "no data yet" in (rows[0].reason or "")
    emulator.sky.add_observation(target.target_id, start=emulator.clock.now(), exposure_s=1.0)
    p.clock.advance(minutes=11)
    for _ in range(200):
        await p.run()
        if (await p.rows())[-1].state is S.DONE:
            break
    rows = await p.rows()
    assert [(r.attempt, r.state) for r in rows] == [(0, S.FAILED), (1, S.DONE)]
    assert rows[1].request["name"].endswith(rows[1].key)  # the new attempt's own key
    results = await p.repo.results(rows[1].id)
    assert [r["kind"] for r in results] == ["position_standard"]
    jobs = emulator.app[SERVICE_KEY].jobs.of_user("astronomer@example.org")
    assert len(jobs) == 2


async def test_retraction_after_a_submitted_too_asks_a_human(make_emulator, make_pipeline) -> None:
    emulator = await make_emulator(speed=1.0)
    p = await make_pipeline(emulator, GRM_RULE.format(settle="0s"))
    await p.feed(GRM_TRIGGER.read_bytes(), "gcn.notices.svom.voevent.grm")
    await p.run()
    await p.feed(GRM_RETRACTION.read_bytes(), "gcn.notices.svom.voevent.grm")
    await p.run()
    too = next(r for r in await p.rows() if r.action == "too")
    assert too.state in {S.SUBMITTED, S.TRACKING}  # still followed: Swift may observe it
    asks = [n for n in await p.notices() if n["state"] == "needs_human"]
    assert asks
    assert "withdraw" in asks[0]["reason"]
    assert asks[0]["too_id"] == too.remote_id


async def test_a_replan_during_the_pre_submission_check_sends_the_new_request_once(
    make_pipeline,
) -> None:
    """The validate_only POST is held open while a better position arrives: the submitter
    must not send the request it validated, but the replanned one, once."""
    import asyncio  # noqa: PLC0415

    sky = Sky(SimClock(speed=1.0))
    app = create_app(sky=sky)
    arrived, release = asyncio.Event(), asyncio.Event()

    @web.middleware
    async def hold_first_validation(request: web.Request, handler):  # type: ignore[no-untyped-def]
        if request.path.endswith("/swift/too") and not arrived.is_set():
            arrived.set()
            await release.wait()
        return await handler(request)

    app.middlewares.append(hold_first_validation)
    emulator = await served(app, sky)
    text = rule().replace("      on_reject:", "      server_validate: true\n      on_reject:")
    p = await make_pipeline(emulator, text)
    first = json.loads(EP_FILES[0].read_bytes())
    await p.feed(ep_alert(0, ra_dec_error=0.05), EP_TOPIC)
    submitting = asyncio.create_task(p.submitter.step())
    await asyncio.wait_for(arrived.wait(), 10)
    await p.feed(json.dumps({**first, "ra_dec_error": 0.01}).encode(), EP_TOPIC)  # replans
    release.set()
    await submitting
    assert emulator.swift.toos == {}  # the stale, validated request was not sent
    await p.run()
    [row] = await p.rows()
    assert row.state in {S.SUBMITTED, S.TRACKING}
    [too] = emulator.swift.toos.values()
    assert abs(too.form.poserr - 0.6) < 1e-6  # the better position


CAP_RULE = """\
rules:
  - name: xrt-cap
    match: {topics: [gcn.notices.einstein_probe.wxt.alert]}
    xrt_products:
      submit: immediately
      globals: {RA: 13.0234, Dec: -72.4345, centroid: false, useSXPS: false, getTargs: true}
      products: {StandardPos: {}}
"""


async def test_active_xrt_job_cap_holds_further_jobs_back(make_emulator, make_pipeline) -> None:
    emulator = await make_emulator(speed=1e-6)  # jobs stay running
    p = await make_pipeline(emulator, CAP_RULE, xrt_max_active=1)
    events = {json.loads(f.read_bytes())["id"].__str__(): i for i, f in enumerate(EP_FILES)}
    for index in list(events.values())[:2]:
        await p.feed(ep_alert(index), EP_TOPIC)
    await p.run(rounds=3)
    states = sorted(r.state.value for r in await p.rows())
    assert states in (["planned", "submitted"], ["planned", "tracking"])
    assert len(emulator.app[SERVICE_KEY].jobs.of_user("astronomer@example.org")) == 1
