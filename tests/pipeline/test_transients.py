"""One transient, one request: association across missions and arbitration between rules,
against the real emulators (each TOO counted where it arrives)."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

from autotoo.store.rows import SubmissionState as S
from tests.pipeline.bursts import BAT, ECLAIRS, GBM, GBM_FIN, LVK, WXT, aligned
from tests.pipeline.conftest import notice_states

TOO = """\
    too:
      source_name: "{name} {{{{ alert.event_key }}}}"
      source_type: X-ray transient
      position: alert
      urgency: 2
      obs_type: Light Curve
      exp_time_per_visit: 2000
      num_of_visits: 1
      xrt_countrate: 0.5
      immediate_objective: "Localise {{{{ alert.group_key }}}}"
      science_just: "A new burst; XRT localises it."
      exp_time_just: "2 ks reaches the flux needed."
"""


def rule(name: str, missions: str, *, extra: str = "", too_name: str = "GRB") -> str:
    return (
        f"  - name: {name}\n"
        f"    match: {{missions: [{missions}]}}\n"
        f"    when: alert.ra != null && alert.error_deg != null && alert.error_deg < 10.0\n"
        + "".join(f"    {line}\n" for line in extra.splitlines())
        + TOO.format(name=too_name)
    )


GRB_RULES = (
    "rules:\n"
    + rule("grb-any", "fermi, swift, svom")
    + rule("ep-wxt", "einstein_probe", extra="priority: 10", too_name="EP")
)


def _store(p) -> sqlite3.Connection:
    return sqlite3.connect(p.repo.db.path)


async def _feed_burst(p, t0, *, ep_delay: float = 60.0) -> None:
    """GBM ALERT .. FIN_POS, Swift BAT, SVOM ECLAIRs and EP WXT of one burst."""
    for name, topic in GBM[:2]:
        await p.feed(aligned(name, topic, trigger=t0), topic)
    await p.feed(aligned(*BAT, trigger=t0 + timedelta(seconds=2), position=GBM_FIN), BAT[1])
    ep_at = (GBM_FIN[0] + 0.02, GBM_FIN[1] - 0.01)
    await p.feed(aligned(*WXT, trigger=t0 + timedelta(seconds=ep_delay), position=ep_at), WXT[1])
    await p.feed(aligned(*ECLAIRS, trigger=t0 + timedelta(seconds=1), position=GBM_FIN), ECLAIRS[1])
    for name, topic in GBM[2:]:
        await p.feed(aligned(name, topic, trigger=t0), topic)


async def test_four_missions_and_two_rules_make_one_too(make_emulator, make_pipeline) -> None:
    emulator = await make_emulator()
    p = await make_pipeline(emulator, GRB_RULES)
    await _feed_burst(p, p.clock() - timedelta(minutes=20))
    await p.run(rounds=3)
    assert len(emulator.swift.toos) == 1  # counted where it arrives
    with _store(p) as conn:
        transients = conn.execute("SELECT key FROM transients").fetchall()
        assert transients == [("T:fermi:800400263",)]
        joined = dict(
            conn.execute(
                "SELECT e.group_key, a.reason FROM associations a "
                "JOIN events e ON e.id = a.event_id"
            ).fetchall()
        )
    assert set(joined) == {
        "fermi:800400263",
        "swift:1123129",
        "svom:sb26050402",
        "einstein_probe:01709261081",
    }
    assert joined["swift:1123129"].startswith("joined T:fermi:800400263 because it triggered 2.0 s")
    assert "within their 99% radii" in joined["swift:1123129"]
    rows = [r for r in await p.rows() if r.action == "too"]
    assert len(rows) == 1
    # The EP rule has the higher priority: it took over the GRB rule's unsent TOO.
    assert rows[0].rule == "ep-wxt"
    assert rows[0].state in {S.SUBMITTED, S.TRACKING}
    with _store(p) as conn:
        covered = conn.execute(
            "SELECT reason FROM decisions WHERE rule = 'grb-any' AND reason LIKE '%covered by%'"
        ).fetchall()
    assert covered, "the GRB rule's later matches say whose TOO covers them"


async def test_unrelated_bursts_minutes_apart_stay_apart(make_emulator, make_pipeline) -> None:
    emulator = await make_emulator()
    p = await make_pipeline(emulator, GRB_RULES)
    t0 = p.clock() - timedelta(hours=2)
    name, topic = GBM[3]
    await p.feed(aligned(name, topic, trigger=t0), topic)
    # Two minutes later, 60 degrees away: another burst.
    far = ((GBM_FIN[0] + 60.0) % 360.0, GBM_FIN[1] + 30.0)
    await p.feed(aligned(*BAT, trigger=t0 + timedelta(minutes=2), position=far), BAT[1])
    # At the same position, but an hour later: also another.
    await p.feed(aligned(*ECLAIRS, trigger=t0 + timedelta(hours=1), position=GBM_FIN), ECLAIRS[1])
    await p.run(rounds=3)
    with _store(p) as conn:
        reasons = [r[0] for r in conn.execute("SELECT reason FROM associations ORDER BY alert_id")]
    assert len(reasons) == 3
    assert all(r.startswith("new transient") for r in reasons), reasons
    assert "beyond their 99% radii" in reasons[1], reasons[1]
    rows = [r for r in await p.rows() if r.action == "too"]
    assert len(rows) == 3  # one request per transient...
    # ...and the third, at the first one's place an hour later, finds Swift already asked
    # for that position (the checks before sending): not sent, and it says so.
    assert len(emulator.swift.toos) == 2
    assert (rows[2].reason or "").startswith("skipped: "), rows[2].reason


async def test_an_lvk_candidate_and_a_coincident_gbm_trigger_are_one_transient(
    make_emulator, make_pipeline
) -> None:
    emulator = await make_emulator()
    p = await make_pipeline(emulator, "rules: []\n")
    t0 = p.clock() - timedelta(minutes=20)
    await p.feed(aligned(*LVK, trigger=t0, key="S261206ab"), LVK[1])
    # GBM 1.5 s after the GW (inside LVK's [-1, +5] s), where its map is most probable...
    from autotoo.alerts import parse_alert, regions  # noqa: PLC0415
    from autotoo.alerts.skymaps import region_of  # noqa: PLC0415

    gw = parse_alert(aligned(*LVK, trigger=t0, key="S261206ab"), LVK[1])
    region, _ = region_of(gw)
    assert region is not None
    peak = regions.max_prob_position(region)
    # A GBM burst 1.5 s after the GW (inside LVK's [-1, +5] s) where the map holds
    # nothing: apart...
    away = next(
        (ra, dec)
        for ra in range(0, 360, 15)
        for dec in range(-75, 90, 15)
        if not regions.contains(region, ra, dec, 0.999)
    )
    name, topic = GBM[3]
    await p.feed(aligned(name, topic, trigger=t0 + timedelta(seconds=1.5), position=away), topic)
    # ...and BAT 2 s after the GW where the map is most probable: the same transient.
    await p.feed(aligned(*BAT, trigger=t0 + timedelta(seconds=2), position=peak), BAT[1])
    with _store(p) as conn:
        rows = conn.execute(
            "SELECT e.group_key, t.key, a.reason FROM associations a "
            "JOIN events e ON e.id = a.event_id JOIN transients t ON t.id = a.transient_id "
            "ORDER BY a.alert_id"
        ).fetchall()
    assert [(g, t) for g, t, _ in rows] == [
        ("lvk:S261206ab", "T:lvk:S261206ab"),
        ("fermi:800400263", "T:fermi:800400263"),
        ("swift:1123129", "T:lvk:S261206ab"),
    ]
    assert "not T:lvk:S261206ab: lvk:S261206ab's sky map holds" in rows[1][2], rows[1][2]
    assert "window -1…+5 s for gw-grb" in rows[2][2]
    assert "inside lvk:S261206ab's sky map's 99% region" in rows[2][2], rows[2][2]


async def test_a_better_position_outside_the_sent_field_repoints(
    make_emulator, make_pipeline
) -> None:
    """A TOO sent on GBM's final position (degrees wide); BAT then puts the burst 40
    arcmin away: a new pointing, with the reason. A position inside the field only updates."""
    emulator = await make_emulator()
    rules = "rules:\n" + rule("grb-any", "fermi, swift, svom, einstein_probe")
    p = await make_pipeline(emulator, rules)
    t0 = p.clock() - timedelta(minutes=20)
    name, topic = GBM[3]
    await p.feed(aligned(name, topic, trigger=t0), topic)
    await p.run(rounds=2)
    assert len(emulator.swift.toos) == 1
    away = (GBM_FIN[0], GBM_FIN[1] + 40 / 60)
    await p.feed(aligned(*BAT, trigger=t0 + timedelta(seconds=2), position=away), BAT[1])
    await p.run(rounds=2)
    assert len(emulator.swift.toos) == 2
    rows = [r for r in await p.rows() if r.action == "too"]
    assert len(rows) == 2
    assert (
        "re-pointed: swift:1123129 puts it 40.0 arcmin from the TOO"
        in rows[1].request["body"]["science_just"]
    )
    assert rows[1].request["body"]["dec"] == away[1]
    states = notice_states(await p.notices(), "too")
    assert states.count("planned") >= 2
    # SVOM's worse position 2.4 arcmin from the new pointing changes nothing; EP's better
    # one 1.5 arcmin from it is published, and no third TOO is sent.
    inside = (away[0] + 0.05, away[1])
    await p.feed(aligned(*ECLAIRS, trigger=t0 + timedelta(seconds=1), position=inside), ECLAIRS[1])
    inside = (away[0], away[1] + 0.025)
    await p.feed(
        aligned(*WXT, trigger=t0 + timedelta(seconds=30), position=inside, error_deg=0.02), WXT[1]
    )
    await p.run(rounds=2)
    assert len(emulator.swift.toos) == 2
    told = [n for n in await p.notices() if "no new TOO is sent" in (n.get("reason") or "")]
    assert told, "the better position inside the field is published"


async def test_with_association_off_the_burst_is_one_request_per_mission(
    make_emulator, make_pipeline
) -> None:
    """What the daemon did before transients (and does with ``transients: {associate:
    false}``): every mission's event is its own transient, each with its own TOO."""
    from autotoo.pipeline.transients import AssociationSettings  # noqa: PLC0415

    emulator = await make_emulator()
    p = await make_pipeline(emulator, GRB_RULES, association=AssociationSettings(enabled=False))
    await _feed_burst(p, p.clock() - timedelta(minutes=20))
    await p.run(rounds=3)
    assert len([r for r in await p.rows() if r.action == "too"]) == 4


async def test_a_rule_can_condition_on_the_transients_missions(
    make_emulator, make_pipeline
) -> None:
    """``event.transient``: a GBM rule that stands aside when Swift triggered on the burst
    itself (Swift slews to its own BAT triggers)."""
    emulator = await make_emulator()
    rules = "rules:\n" + rule(
        "gbm-unless-swift",
        "fermi",
        extra='when: alert.ra != null && !("swift" in event.transient.missions)',
    ).replace(
        "    when: alert.ra != null && alert.error_deg != null && alert.error_deg < 10.0\n", ""
    )
    p = await make_pipeline(emulator, rules)
    t0 = p.clock() - timedelta(minutes=20)
    await p.feed(aligned(*BAT, trigger=t0 + timedelta(seconds=2), position=GBM_FIN), BAT[1])
    name, topic = GBM[3]
    await p.feed(aligned(name, topic, trigger=t0), topic)
    await p.run(rounds=2)
    assert emulator.swift.toos == {}
    with _store(p) as conn:
        (reason,) = conn.execute(
            "SELECT reason FROM decisions WHERE rule = 'gbm-unless-swift'"
        ).fetchone()
    assert "false" in reason, reason
    # Without the Swift trigger, the same GBM notice is acted on.
    p2 = await make_pipeline(emulator, rules)
    await p2.feed(aligned(name, topic, trigger=t0 - timedelta(hours=3)), topic)
    await p2.run(rounds=2)
    assert len(emulator.swift.toos) == 1


async def test_a_retracted_event_withdraws_only_what_it_planned(
    make_emulator, make_pipeline
) -> None:
    """SVOM planned the transient's TOO (settling) and GBM's match was covered by it; SVOM
    then retracts its trigger. The TOO it planned is withheld, and GBM's next notice of the
    same burst plans it again (a new attempt), so the transient is still followed."""
    emulator = await make_emulator()
    rules = "rules:\n" + rule("grb-any", "fermi, svom", extra="settle: 10m")
    p = await make_pipeline(emulator, rules)
    t0 = p.clock() - timedelta(minutes=20)
    await p.feed(aligned(*ECLAIRS, trigger=t0 + timedelta(seconds=1), position=GBM_FIN), ECLAIRS[1])
    name, topic = GBM[2]
    await p.feed(aligned(name, topic, trigger=t0), topic)
    retraction = aligned(
        "svom_sb26043009_2_retraction.xml",
        "gcn.notices.svom.voevent.grm",
        trigger=t0 + timedelta(seconds=1),
        key="sb26050402",
    )
    await p.feed(retraction, "gcn.notices.svom.voevent.grm")
    rows = [r for r in await p.rows() if r.action == "too"]
    assert [(r.state, r.reason) for r in rows] == [(S.CANCELLED, "retracted")]
    name, topic = GBM[3]
    await p.feed(aligned(name, topic, trigger=t0), topic)
    p.clock.advance(minutes=11)
    await p.run(rounds=2)
    rows = [r for r in await p.rows() if r.action == "too"]
    assert [r.state for r in rows] == [S.CANCELLED, S.TRACKING]
    assert rows[1].group_key == "fermi:800400263"
    assert len(emulator.swift.toos) == 1
