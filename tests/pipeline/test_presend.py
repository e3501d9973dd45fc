"""Checks before a TOO is sent (pipeline/presend.py), with real parts: the emulator over HTTP,
a real SQLite store, the real Swift client and adapter.

Swift is put "on" a position the way the emulator offers: its own slew to a BAT trigger
(``POST /emulator/swift/bat_trigger``), or a TOO another user submitted through the API.
"""

from __future__ import annotations

import asyncio
import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
import structlog
from aiohttp import web
from astropy.coordinates import SkyCoord, get_body, get_sun
from astropy.time import Time

from autotoo.adapters.swift import SwiftTooAdapter
from autotoo.emulators.app import create_app
from autotoo.emulators.clock import SimClock
from autotoo.emulators.faults import Fault, FaultKind, FaultPlan
from autotoo.emulators.sky import Sky
from autotoo.emulators.users import Users
from autotoo.pipeline import presend
from autotoo.pipeline.ports import Pointing
from autotoo.store.rows import SubmissionState as S
from autotoo.store.specs import OnTarget, TooSpec
from autotoo.swift import SwiftV1Client, SwiftV2Client, TooRequest
from tests.fixtures.swift_emulator import Emulator
from tests.pipeline.conftest import KAFKA, Pipeline, notice_states
from tests.pipeline.test_exactly_once import served

EP_TOPIC = "gcn.notices.einstein_probe.wxt.alert"
EP_FILE = min(KAFKA.glob("*einstein_probe_wxt_alert.json"))
OTHER = {"username": "otheruser", "shared_secret": "other_secret"}
CREDS = {"username": "myuser", "shared_secret": "my_shared_secret"}
JUST = "A new X-ray transient; XRT localises it."

RULE = """\
rules:
  - name: ep
    match: {{topics: [gcn.notices.einstein_probe.wxt.alert]}}
    too:
      source_name: "EP{{{{ alert.event_key }}}}"
      source_type: X-ray transient
      urgency: {urgency}
      obs_type: Light Curve
      exp_time_per_visit: 2000
      num_of_visits: 1
      xrt_countrate: 0.5
      immediate_objective: "Localise EP {{{{ alert.event_key }}}}"
      science_just: "{just}"
      exp_time_just: "2 ks reaches the flux needed."
{extra}"""


def rule(*, urgency: int = 2, extra: str = "") -> str:
    indented = "".join(f"      {line}\n" for line in extra.splitlines())
    return RULE.format(urgency=urgency, just=JUST, extra=indented)


def ep_alert(ra: float, dec: float, trigger: datetime, event: str | None = None) -> bytes:
    data = json.loads(EP_FILE.read_bytes())
    data.update(ra=ra, dec=dec, trigger_time=trigger.isoformat().replace("+00:00", "Z"))
    if event is not None:
        data["id"] = [event]
    return json.dumps(data).encode()


def posts(emulator: Emulator) -> list[dict[str, str]]:
    """The TOO submissions the emulator received (the checks are GETs, never counted here)."""
    return [r.body for r in emulator.swift.received if r.api == "/swift/too"]


def observable(now: datetime) -> tuple[float, float]:
    """A position Swift can observe now: far from the Sun, the Moon and the orbit poles."""
    t = Time(now)
    sun, moon = get_sun(t).icrs, get_body("moon", t).icrs
    for ra_off in (180.0, 150.0, 210.0, 120.0, 240.0):
        for dec in (0.0, 20.0, -20.0):
            here = SkyCoord((sun.ra.deg + ra_off) % 360.0, dec, unit="deg")
            if here.separation(sun).deg > 90 and here.separation(moon).deg > 45:
                return float(here.ra.deg), dec
    raise AssertionError("no observable position found")


async def emulator_with(make: Any, **kw: Any) -> Emulator:
    users = Users(swift={"myuser": "my_shared_secret", OTHER["username"]: OTHER["shared_secret"]})
    emulator: Emulator = await make(users=users, **kw)
    return emulator


async def bat_trigger(emulator: Emulator, ra: float, dec: float, at: datetime) -> dict[str, Any]:
    body = {"ra": ra, "dec": dec, "at": at.isoformat(), "exposure_s": 600, "trigger": 1309876}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{emulator.root}/emulator/swift/bat_trigger", json=body) as resp,
    ):
        assert resp.status == 200
        made: dict[str, Any] = await resp.json()
        return made


async def someone_elses_too(emulator: Emulator, ra: float, dec: float) -> int:
    too = TooRequest(
        target_name="AT2026abc", target_type="Supernova", ra=ra, dec=dec, urgency=1,
        exp_time_per_visit=1000, num_of_visits=1, obs_type="Light Curve", xrt_countrate=1,
        immediate_objective="XRT of a young supernova", science_just="Early X-rays.",
        exp_time_just="1 ks is enough.",
    )  # fmt: skip
    async with SwiftV2Client(emulator.swift_v2_url, **OTHER) as swift:
        result = await swift.submit(too)
    assert result.too_id is not None
    return result.too_id


async def sync(p: Pipeline, emulator: Emulator) -> None:
    """The daemon's clock at the emulator's (both advanced by hand from here)."""
    p.clock.now = emulator.clock.now()


async def test_swift_observed_it_already_nothing_is_sent(make_emulator, make_pipeline) -> None:
    emulator = await emulator_with(make_emulator, speed=1e-9)
    now = emulator.clock.now()
    ra, dec = observable(now)
    # Swift's own slew to a BAT trigger 30 min ago, flown by now; the EP alert comes after.
    made = await bat_trigger(emulator, ra + 0.05, dec, now - timedelta(minutes=30))
    p = await make_pipeline(emulator, rule())
    await sync(p, emulator)
    await p.feed(ep_alert(ra, dec, now - timedelta(minutes=25)), EP_TOPIC)
    await p.run(rounds=2)

    (row,) = await p.rows()
    assert row.state is S.DONE
    begin = datetime.fromisoformat(made["begin"])
    assert row.reason is not None
    assert row.reason.startswith(
        f"skipped: Swift observed this position at {begin:%Y-%m-%d %H:%M}Z"
    ), row.reason
    away = 0.05 * 60 * math.cos(math.radians(dec))
    seg = f"(target 01309876, obsid 01309876000: Swift-BAT trigger 1309876, {away:.1f} arcmin away)"
    assert seg in row.reason
    assert row.reason.endswith("— no TOO sent")
    assert posts(emulator) == []
    assert emulator.swift.toos == {}
    skipped = [n for n in await p.notices() if n.get("state") == "skipped"]
    assert skipped and skipped[0]["reason"] == row.reason


async def test_swift_plans_it_already_nothing_is_sent(make_emulator, make_pipeline) -> None:
    emulator = await emulator_with(make_emulator, speed=1e-9)
    now = emulator.clock.now()
    ra, dec = observable(now)
    too_id = await someone_elses_too(emulator, ra, dec)  # pending: not yet publicly listed
    target = emulator.swift.toos[too_id].target_id
    p = await make_pipeline(emulator, rule())
    await sync(p, emulator)
    await p.feed(ep_alert(ra + 0.1, dec, now), EP_TOPIC)  # 6 arcmin away: in the XRT field
    await p.run(rounds=2)

    (row,) = await p.rows()
    assert row.state is S.DONE
    assert row.reason is not None and row.reason.startswith("skipped: Swift plans this position")
    assert f"target {target:08d}, obsid {target:08d}001" in row.reason
    assert len(posts(emulator)) == 1  # the other user's, nothing of ours


async def test_someone_else_requested_it_recently(make_emulator, make_pipeline) -> None:
    """Only the listing knows: the other TOO was approved and already flown, before the trigger."""
    emulator = await emulator_with(make_emulator, speed=1e-9)
    ra, dec = observable(emulator.clock.now() + timedelta(hours=4))
    too_id = await someone_elses_too(emulator, ra, dec)
    emulator.clock.advance(timedelta(hours=4))  # approved, observed, its segment over
    assert all(o.end <= emulator.clock.now() for o in emulator.swift.toos[too_id].observations)
    p = await make_pipeline(emulator, rule())
    await sync(p, emulator)
    await p.feed(ep_alert(ra, dec, emulator.clock.now()), EP_TOPIC)
    await p.run(rounds=2)

    (row,) = await p.rows()
    assert row.state is S.DONE
    assert row.reason is not None
    assert f"TOO {too_id} (AT2026abc, 0.0 arcmin away) was requested for this position" in (
        row.reason
    )
    assert "observed" not in row.reason and "plans" not in row.reason
    assert len(posts(emulator)) == 1


async def test_submit_policy_sends_anyway(make_emulator, make_pipeline) -> None:
    emulator = await emulator_with(make_emulator, speed=1e-9)
    now = emulator.clock.now()
    ra, dec = observable(now)
    await bat_trigger(emulator, ra, dec, now - timedelta(minutes=30))
    p = await make_pipeline(emulator, rule(extra="if_swift_on_target: submit"))
    await sync(p, emulator)
    await p.feed(ep_alert(ra, dec, now - timedelta(minutes=25)), EP_TOPIC)
    await p.run(rounds=2)

    (row,) = await p.rows()
    assert row.state in {S.SUBMITTED, S.TRACKING}, (row.state, row.reason)
    assert len(posts(emulator)) == 1


async def test_outside_the_radius_is_not_on_target(make_emulator, make_pipeline) -> None:
    emulator = await emulator_with(make_emulator, speed=1e-9)
    now = emulator.clock.now()
    ra, dec = observable(now)
    await bat_trigger(emulator, ra + 0.3, dec, now - timedelta(minutes=30))  # 18 arcmin
    p = await make_pipeline(emulator, rule())
    await sync(p, emulator)
    await p.feed(ep_alert(ra, dec, now - timedelta(minutes=25)), EP_TOPIC)
    await p.run(rounds=2)
    assert [r.state for r in await p.rows()] == [S.TRACKING]
    assert len(posts(emulator)) == 1


READS = {
    "listing": Fault(FaultKind.HTTP_500, path="/swift/too", method="GET", probability=1.0),
    "planquery": Fault(FaultKind.HTTP_500, path="/swift/planquery", probability=1.0),
    "obsquery": Fault(FaultKind.HTTP_500, path="/swift/obsquery", probability=1.0),
}


@pytest.mark.parametrize("failing", [["obsquery"], list(READS)], ids=["obsquery", "all"])
async def test_a_failing_check_sends_anyway(make_pipeline, failing) -> None:
    """Swift did observe the position, but the check that would see it fails: the TOO is sent
    (docs/swift-too.md) and the log says which check was missing."""
    sky = Sky(SimClock(speed=1e-9))
    now = sky.clock.now()
    ra, dec = observable(now)
    plan = FaultPlan([READS[name] for name in failing])
    emulator = await served(create_app(sky=sky, faults=plan), sky)
    await bat_trigger(emulator, ra, dec, now - timedelta(minutes=30))  # flown, seen by ObsQuery
    p = await make_pipeline(emulator, rule())
    await sync(p, emulator)
    await p.feed(ep_alert(ra, dec, now - timedelta(minutes=25)), EP_TOPIC)
    with structlog.testing.capture_logs() as logs:
        await p.run(rounds=2)

    (row,) = await p.rows()
    assert row.state in {S.SUBMITTED, S.TRACKING}  # (a failing listing delays the tracking)
    assert len(posts(emulator)) == 1
    assert {i.path.rsplit("/", 1)[-1] for i in plan.injected} >= {"obsquery"}
    failed = [e["note"] for e in logs if e["event"] == "pre-send check failed; sending anyway"]
    assert any(note.startswith("not checked: ObsQuery: ") for note in failed), logs
    assert len(failed) == len(failing)


async def test_not_visible_in_time_lowers_the_urgency(make_emulator, make_pipeline) -> None:
    emulator = await make_emulator(speed=1e-9)
    sun = get_sun(Time(emulator.clock.now())).icrs
    extra = "visibility: {within: 24h, otherwise_urgency: 3}\nif_swift_on_target: submit"
    p = await make_pipeline(emulator, rule(urgency=1, extra=extra))
    await sync(p, emulator)
    # 10 degrees from the Sun: not observable for weeks
    alert = ep_alert(float(sun.ra.deg), float(sun.dec.deg) + 10, emulator.clock.now())
    await p.feed(alert, EP_TOPIC)
    await p.run(rounds=2)

    (row,) = await p.rows()
    assert row.state is S.TRACKING, row.reason  # accepted at 3, not refused at 1
    (sent,) = posts(emulator)
    assert sent["urgency"] == "3"
    assert sent["science_just"].startswith(JUST)
    assert "Not visible to Swift within 1 day of submission" in sent["science_just"]
    assert "urgency 3 instead of 1." in sent["science_just"]
    assert row.request["body"]["urgency"] == 3  # what was sent is what is stored


async def test_visible_in_time_is_unchanged(make_emulator, make_pipeline) -> None:
    emulator = await make_emulator(speed=1e-9)
    ra, dec = observable(emulator.clock.now())
    extra = "visibility: {within: 24h, otherwise_urgency: 3}"
    p = await make_pipeline(emulator, rule(urgency=1, extra=extra))
    await sync(p, emulator)
    await p.feed(ep_alert(ra, dec, emulator.clock.now()), EP_TOPIC)
    await p.run(rounds=2)

    assert [r.state for r in await p.rows()] == [S.TRACKING]
    (sent,) = posts(emulator)
    assert sent["urgency"] == "1"
    assert "Not visible" not in sent["science_just"]
    assert "skipped" not in notice_states(await p.notices(), "too")


async def v1_pipeline(make_pipeline: Any, emulator: Emulator) -> Pipeline:
    """The same pipeline speaking API v1 (swifttools 3's protocol): a listing, no queries."""
    p: Pipeline = await make_pipeline(emulator, rule())
    client = SwiftV1Client(
        emulator.swift_v1_url,
        poll_interval=0.01,
        username="myuser",
        shared_secret="my_shared_secret",
    )
    p.submitter.too = p.tracker.too = SwiftTooAdapter(client)
    await sync(p, emulator)
    return p


async def test_v1_has_no_queries_so_the_too_is_sent(make_emulator, make_pipeline) -> None:
    emulator = await emulator_with(make_emulator, speed=1e-9)
    now = emulator.clock.now()
    ra, dec = observable(now)
    await bat_trigger(emulator, ra, dec, now - timedelta(minutes=30))  # only ObsQuery sees it
    p = await v1_pipeline(make_pipeline, emulator)
    await p.feed(ep_alert(ra, dec, now - timedelta(minutes=25)), EP_TOPIC)
    with structlog.testing.capture_logs() as logs:
        await p.run(rounds=2)
    await p.submitter.too.client.close()

    assert [r.state for r in await p.rows()] == [S.TRACKING]
    assert len(emulator.swift.toos) == 1
    assert "Swift_TOO_Requests" in {r.api for r in emulator.swift.received}  # the listing, asked
    notes = sorted(e["note"] for e in logs if e["event"].startswith("pre-send check failed"))
    assert notes == [
        "not checked: ObsQuery: ObsQuery: the v1 protocol has no such query",
        "not checked: PlanQuery: PlanQuery: the v1 protocol has no such query",
    ]


async def test_v1_listing_still_finds_someone_elses_request(make_emulator, make_pipeline) -> None:
    emulator = await emulator_with(make_emulator, speed=1e-9)
    ra, dec = observable(emulator.clock.now() + timedelta(hours=4))
    too_id = await someone_elses_too(emulator, ra, dec)
    emulator.clock.advance(timedelta(hours=4))
    p = await v1_pipeline(make_pipeline, emulator)
    await p.feed(ep_alert(ra, dec, emulator.clock.now()), EP_TOPIC)
    await p.run(rounds=2)
    await p.submitter.too.client.close()

    (row,) = await p.rows()
    assert row.state is S.DONE
    assert row.reason is not None and f"TOO {too_id} (AT2026abc" in row.reason
    v1_calls = {r.api for r in emulator.swift.received if r.protocol == "v1"}
    assert v1_calls == {"Swift_TOO_Requests"}  # the listing, no submission


async def test_our_own_request_is_not_someone_elses(make_emulator) -> None:
    """A TOO carrying this row's own marker (and its timeline) is the reconcile path's
    business, not a reason to skip; a request of ours for another row is."""
    emulator = await emulator_with(make_emulator, speed=1e-9)
    now = emulator.clock.now()
    ra, dec = observable(now)
    body = {
        "target_name": "EP-ours", "target_type": "X-ray transient", "ra": ra, "dec": dec,
        "urgency": 1, "exp_time_per_visit": 1000, "num_of_visits": 1, "obs_type": "Light Curve",
        "xrt_countrate": 1, "immediate_objective": "ours", "science_just": "ours",
        "exp_time_just": "ours",
    }  # fmt: skip
    on = OnTarget("skip", 11.8, now - timedelta(minutes=10))
    async with SwiftV2Client(emulator.swift_v2_url, **CREDS) as swift:
        adapter = SwiftTooAdapter(swift)
        await adapter.submit(body, marker="atoo-ours", debug=False)
        mine = await presend.check(adapter, TooSpec(body, "atoo-ours", on_target=on), now=now)
        other = await presend.check(adapter, TooSpec(body, "atoo-other", on_target=on), now=now)
    assert (mine.skip, mine.notes) == (None, ())
    assert other.skip is not None
    assert "Swift plans this position" in other.skip
    assert "(EP-ours, 0.0 arcmin away) was requested for this position" in other.skip


def test_pointings_of_earlier_attempts_of_our_own_request_are_ours() -> None:
    """A new attempt (a rejection policy's, a re-sent request) is not skipped because of what
    its own earlier attempt got, even where the listing does not show that attempt."""
    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    ours = Pointing(3200001, "03200001001", "EP09990000001", now - timedelta(hours=1), now)
    answers: dict[str, Any] = {"the TOO listing": (), "PlanQuery": (), "ObsQuery": (ours,)}
    assert presend._on_target(answers, 41.3, -23.0, now, frozenset({3200001})) is None
    reason = presend._on_target(answers, 41.3, -23.0, now, frozenset())
    assert reason is not None
    assert "target 03200001" in reason


async def watched(
    make_pipeline: Any, **settings: Any
) -> tuple[Pipeline, list[str], datetime, float, float]:
    """A pipeline whose emulator notes each request as it arrives (method, path and a TOO's
    name), its clock at the emulator's, and a position Swift can observe now."""
    arrived: list[str] = []

    @web.middleware
    async def note(request: web.Request, handler: Any) -> web.StreamResponse:
        name = ""
        if request.method == "POST" and request.path.endswith("/swift/too"):
            name = str((await request.post()).get("target_name", ""))
        arrived.append(f"{request.method} {request.path.rsplit('/', 1)[-1]} {name}".strip())
        return await handler(request)

    sky = Sky(SimClock(speed=1e-9))
    app = create_app(sky=sky, users=Users(swift={"myuser": "my_shared_secret"}))
    app.middlewares.append(note)
    emulator = await served(app, sky)
    p = await make_pipeline(emulator, rule(), **settings)
    await sync(p, emulator)
    now = sky.clock.now()
    return (p, arrived, now, *observable(now))


async def test_the_next_toos_are_asked_while_one_is_sent(make_pipeline) -> None:
    """Four due TOOs far apart (pipeline/lookahead.py): the checks of the three after the
    first are asked before the first one's POST, and each is still sent once."""
    p, arrived, now, ra, dec = await watched(make_pipeline)
    for k in range(4):
        await p.feed(ep_alert((ra + 3.0 * k) % 360.0, dec, now, f"0170926{k}"), EP_TOPIC)
    await p.run(rounds=2)

    assert [r.state for r in await p.rows()] == [S.TRACKING] * 4
    sent = [a for a in arrived if a.startswith("POST too")]
    assert sent == [f"POST too EP0170926{k}" for k in range(4)]  # in turn, as before
    # One at a time, only the first one's three checks would come before its POST.
    asked = [a for a in arrived[: arrived.index(sent[0])] if a.startswith("GET")]
    assert len(asked) > 3, "\n".join(arrived)


async def test_a_too_near_one_not_yet_sent_is_asked_after_it(make_pipeline) -> None:
    """The second TOO lies in the first one's field: it is not asked ahead (the first one's
    request, once sent, is what its check must see), so it is skipped as before."""
    p, arrived, now, ra, dec = await watched(make_pipeline)
    await p.feed(ep_alert(ra, dec, now, "01709270"), EP_TOPIC)
    await p.feed(ep_alert(ra, dec + 0.05, now, "01709271"), EP_TOPIC)  # 3 arcmin away
    await p.run(rounds=2)

    first, second = await p.rows()
    assert first.state is S.TRACKING
    assert second.state is S.DONE and second.reason is not None
    assert "was requested for this position" in second.reason, second.reason
    (post,) = [a for a in arrived if a.startswith("POST too")]
    assert arrived.index(post) < len(arrived) - 3  # the second one's checks came after it
    assert arrived[arrived.index(post) + 1 :].count("GET planquery") == 1, arrived


async def test_a_planned_too_is_asked_before_the_submitters_turn(make_pipeline) -> None:
    """The processor hands a TOO due now to the submitter's early questions
    (lookahead.EarlyAsks) before committing it: they reach Swift before the submitter's turn,
    and that turn uses their answers instead of asking again."""
    p, arrived, now, ra, dec = await watched(make_pipeline)
    await p.feed(ep_alert(ra, dec, now, "01709280"), EP_TOPIC)  # the processor's step
    async with asyncio.timeout(10):
        while len([a for a in arrived if a.startswith("GET")]) < 3:  # noqa: ASYNC110 - the emulator's middleware fills it
            await asyncio.sleep(0.01)
    assert not [a for a in arrived if a.startswith("POST too")], arrived
    await p.run(rounds=1)

    (row,) = await p.rows()
    assert row.state is S.TRACKING
    post = arrived.index("POST too EP01709280")
    assert len([a for a in arrived[:post] if a.startswith("GET")]) == 3, arrived


async def test_nothing_is_asked_early_in_dry_run(make_pipeline) -> None:
    p, arrived, now, ra, dec = await watched(make_pipeline, mode="dry-run")
    await p.feed(ep_alert(ra, dec, now, "01709281"), EP_TOPIC)
    await asyncio.sleep(0.05)  # what an early question would need to arrive
    await p.run(rounds=1)

    (row,) = await p.rows()
    assert row.state is S.DONE
    assert row.key not in p.submitter.early  # never asked early (dry-run ends it before)
    assert arrived == []
