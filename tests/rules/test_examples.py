"""The example rules in rules/ replayed over real alerts from tests/data/alerts.

Expected outcomes are computed here independently of the engine: thresholds from the rule
comments, Sun/Moon/Galactic geometry straight from astropy.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import json
from datetime import datetime, timedelta

import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord, get_body, get_sun
from astropy.table import Table
from astropy.time import Time

from autotoo.alerts import NormalizedAlert, parse_alert
from autotoo.rules import AlertContext, CompiledRule, RuleSet, evaluate, load_rules, render_actions
from autotoo.rules.engine import Decision
from tests.rules.factory import REPO, SHARED_ALERTS, parse_file, real_alerts

RULES = load_rules([REPO / "rules" / "*.yaml"])


def rule(name: str) -> CompiledRule:
    found = RULES.get(name)
    assert found is not None
    return found


def decide(name: str, alert: NormalizedAlert, *, now: datetime | None = None) -> Decision:
    """The rule's decision, evaluated at ``now`` (default: the alert's own time)."""
    when = now or alert.trigger_time or alert.issued_time
    assert when is not None
    (decision,) = evaluate(RuleSet((rule(name),)), alert, now=when, explain=True)
    return decision


def at(alert: NormalizedAlert) -> datetime:
    assert alert.trigger_time is not None
    return alert.trigger_time


def err(alert: NormalizedAlert) -> float:
    assert alert.error_deg is not None
    return alert.error_deg


def context(alert: NormalizedAlert, now: datetime | None = None) -> AlertContext:
    return AlertContext(alert, (), now or at(alert))


def observable(alert: NormalizedAlert, now: datetime, *, moon: bool = True) -> bool:
    when = Time(now)
    target = SkyCoord(alert.ra * u.deg, alert.dec * u.deg)
    sun = get_sun(when)
    ok = target.separation(SkyCoord(sun.ra, sun.dec)).deg > 46.0
    if moon:
        body = get_body("moon", when)
        ok = ok and target.separation(SkyCoord(body.ra, body.dec)).deg > 23.0
    return bool(ok)


def galactic_b(alert: NormalizedAlert) -> float:
    return float(SkyCoord(alert.ra * u.deg, alert.dec * u.deg).galactic.b.deg)


def test_all_examples_load() -> None:
    assert sorted(r.name for r in RULES) == [
        "ep-wxt-bright",
        "fermi-gbm-small-error",
        "icecube-gold-track",
        "lvk-bns-nsbh-galaxies",
        "lvk-bns-nsbh-notify",
        "svom-eclairs-grb",
        "swift-bat-grb-xrt",
    ]


def test_ep_wxt_over_all_real_alerts() -> None:
    replayed = real_alerts("einstein_probe_wxt_alert.json")
    assert len(replayed) == 18
    matched = []
    for _, alert in replayed:
        decision = decide("ep-wxt-bright", alert)
        expected = (
            err(alert) < 0.1
            and alert.raw["net_count_rate"] >= 0.05
            and abs(galactic_b(alert)) > 10.0
            and observable(alert, at(alert))
        )
        assert decision.matched == expected, (alert.event_key, decision)
        if decision.matched:
            matched.append(alert)
    assert 0 < len(matched) < len(replayed)
    planned = render_actions(rule("ep-wxt-bright"), context(matched[0]))
    assert planned.too is not None
    assert planned.too["urgency"] == 2
    assert planned.too["source_name"] == f"EP{matched[0].event_key}"
    assert planned.too["ra"] == matched[0].ra
    assert planned.too["xrt_countrate"] == pytest.approx(matched[0].raw["net_count_rate"] * 10)
    assert planned.xrt is not None
    assert planned.xrt["submit"] == "after_observation"
    assert set(planned.xrt["products"]) == {"EnhancedPos", "LightCurve"}


def test_svom_eclairs_over_all_real_svom_notices() -> None:
    seen_match = False
    for path, alert in real_alerts(".xml"):
        if "svom" not in path.name:
            continue
        decision = decide("svom-eclairs-grb", alert)
        if "eclairs" not in path.name:
            assert decision.stage == "filtered"  # grm and mxt topics, incl. the retraction
            continue
        expected = (
            alert.packet_type in {202, 204}
            and err(alert) <= 0.15
            and alert.raw["SNR"] >= 8.0
            and observable(alert, at(alert))
        )
        assert decision.matched == expected, (path.name, decision)
        seen_match |= decision.matched
    assert seen_match


def test_svom_too_is_a_grb_request() -> None:
    alert = parse_file(
        "gcn-kafka-2026/000000000042_312_gcn_notices_svom_voevent_eclairs.xml",
        "gcn.notices.svom.voevent.eclairs",
    )
    planned = render_actions(rule("svom-eclairs-grb"), context(alert))
    assert planned.too is not None
    assert planned.too["source_type"] == "GRB"
    assert planned.too["grb_detector"] == "SVOM/ECLAIRs"
    assert planned.too["grb_triggertime"] == "2026-05-04T09:31:19"


def test_fermi_gbm_over_all_real_ground_positions() -> None:
    outcomes = []
    for path, alert in real_alerts(".xml"):
        if "gnd_pos" not in path.name and "fin_pos" not in path.name:
            if "fermi" in path.name:
                assert decide("fermi-gbm-small-error", alert).stage == "filtered"
            continue
        decision = decide("fermi-gbm-small-error", alert)
        expected = (
            err(alert) <= 1.5 and not alert.flags["Def_NOT_a_GRB"] and observable(alert, at(alert))
        )
        assert decision.matched == expected, (path.name, decision)
        outcomes.append(decision.matched)
    assert any(outcomes)
    assert outcomes.count(True) < len(outcomes) / 4  # "small" really is the exception


def test_fermi_gbm_tiles_scale_with_the_error() -> None:
    for _, alert in real_alerts("gnd_pos.xml"):
        if decide("fermi-gbm-small-error", alert).matched:
            planned = render_actions(rule("fermi-gbm-small-error"), context(alert))
            assert planned.too is not None
            assert planned.too["tiling"] is True
            assert planned.too["number_of_tiles"] == ("37" if err(alert) > 0.8 else "19")
            return
    pytest.fail("no GND_POS notice matched")


ICECUBE = "gcn-schema/icecube/single_neutrino_alerts.gold_bronze_track_alerts.example.json"
ICECUBE_TOPIC = "gcn.notices.icecube.gold_bronze_track_alerts"


def test_icecube_bronze_is_not_gold() -> None:
    alert = parse_file(ICECUBE, ICECUBE_TOPIC)
    decision = decide("icecube-gold-track", alert)
    assert (decision.stage, decision.clause) == (
        "condition",
        "alert.raw.pipeline == 'Gold Track Alert'",
    )


def test_icecube_gold_variant_matches_when_observable() -> None:
    gold = parse_file(ICECUBE, ICECUBE_TOPIC, edit=("Bronze Track Alert", "Gold Track Alert"))
    assert gold.trigger_time is not None
    # In April the Sun is ~30 deg from this RA 345.8 position: Swift cannot look there yet.
    at_trigger = decide("icecube-gold-track", gold)
    assert not observable(gold, gold.trigger_time, moon=False)
    assert at_trigger.clause == "sun_distance(alert) > 46.0"
    # The Sun is where it was when the alert was issued, whenever it is evaluated: the same
    # alert evaluated half a year later (a replay, the demo) is decided the same way ...
    later = gold.trigger_time + timedelta(days=180)
    assert observable(gold, later, moon=False)
    late = decide("icecube-gold-track", gold, now=later)
    assert (bool(late.matched), late.clause) == (False, "sun_distance(alert) > 46.0")
    # ... and an alert at the same position issued half a year later matches.
    gold = dataclasses.replace(gold, trigger_time=later, issued_time=later)
    assert decide("icecube-gold-track", gold, now=later).matched
    planned = render_actions(rule("icecube-gold-track"), context(gold, later))
    assert planned.too is not None
    assert planned.too["source_name"] == "IceCube-230416A"
    assert planned.too["number_of_tiles"] == "19"


def igwn(stage: str, *, real: bool = False) -> NormalizedAlert:
    """The LVK user-guide samples are a mock ("M" superevent, search MDC); ``real`` turns them
    into what the same alert from a real superevent would look like."""
    edits: list[tuple[str, str]] = []
    if real:
        edits.append(("MS181101ab", "S181101ab"))
        if stage != "retraction":  # a retraction has no event block, hence no search
            edits.append(('"MDC"', '"AllSky"'))
    return parse_file(f"igwn/MS181101ab-{stage}.json", "igwn.gwalert", edits=tuple(edits))


def test_lvk_mock_superevents_are_ignored() -> None:
    for stage in ("preliminary", "initial", "update"):
        assert decide("lvk-bns-nsbh-notify", igwn(stage)).stage == "test_alert"


def test_lvk_bns_notifies_and_never_submits() -> None:
    decisions = {
        stage: decide("lvk-bns-nsbh-notify", igwn(stage, real=True))
        for stage in ("earlywarning", "preliminary", "initial", "update", "retraction")
    }
    assert decisions["earlywarning"].matched
    assert decisions["preliminary"].matched
    assert decisions["initial"].matched
    assert decisions["update"].matched
    assert decisions["retraction"].stage == "filtered"
    alert = igwn("preliminary", real=True)
    assert alert.issued_time is not None
    planned = render_actions(rule("lvk-bns-nsbh-notify"), context(alert, alert.issued_time))
    assert planned.too is None
    assert planned.xrt is None
    assert planned.notify[0] == {"channel": "mqtt", "text": None}
    assert planned.notify[1]["channel"] == "webhook"
    assert planned.notify[1]["text"].startswith(
        "LVK PRELIMINARY S181101ab: BNS 0.95, NSBH 0.01, FAR 9.11e-14 Hz."
    )


def test_lvk_near_bns_asks_for_galaxies_after_approval() -> None:
    """The galaxy rule fires on the real-ified candidate (~40 Mpc, 90% area ~31 deg2),
    never on the mock, and renders one TOO per galaxy of the example catalogue, best first."""
    for stage in ("preliminary", "initial", "update"):
        assert decide("lvk-bns-nsbh-galaxies", igwn(stage)).stage == "test_alert"
        assert decide("lvk-bns-nsbh-galaxies", igwn(stage, real=True)).matched, stage
    alert = igwn("preliminary", real=True)
    compiled = rule("lvk-bns-nsbh-galaxies")
    assert compiled.spec.approve is not None
    planned = render_actions(compiled, context(alert, alert.issued_time))
    assert planned.coverage is not None
    assert planned.coverage["choice"] == "galaxies"
    assert 1 <= len(planned.too_targets) <= 5
    assert planned.too_targets[0]["source_name"].startswith("S181101ab NGC ")
    assert "galaxies instead" in planned.coverage["explanation"]


SWIFT = "voevent-classic/gwcelery-swift_grb_gcn.xml"
SWIFT_TOPIC = "gcn.classic.voevent.SWIFT_BAT_GRB_POS_ACK"


def test_swift_bat_grb_gets_xrt_products_immediately() -> None:
    alert = parse_file(SWIFT, SWIFT_TOPIC)
    assert decide("swift-bat-grb-xrt", alert).matched
    planned = render_actions(rule("swift-bat-grb-xrt"), context(alert))
    assert planned.too is None
    assert planned.xrt is not None
    assert planned.xrt["submit"] == "immediately"
    assert planned.xrt["globals"]["name"] == "GRB 1123129"
    assert planned.xrt["products"]["LightCurve"] == {
        "binMeth": "counts",
        "pcCounts": 20,
        "wtCounts": 30,
        "dynamic": True,
    }


@pytest.mark.parametrize(
    ("edit", "clause"),
    [
        (
            (
                'name="StarTrack_Lost_Lock"      value="false"',
                'name="StarTrack_Lost_Lock"      value="true"',
            ),
            "!alert.flags.StarTrack_Lost_Lock",
        ),
        (
            (
                'name="Def_NOT_a_GRB"            value="false"',
                'name="Def_NOT_a_GRB"            value="true"',
            ),
            "!alert.flags.Def_NOT_a_GRB",
        ),
        (
            ('name="Packet_Type"  value="61"', 'name="Packet_Type"  value="83"'),
            "alert.packet_type == 61",
        ),
    ],
)
def test_swift_bat_exclusions(edit: tuple[str, str], clause: str) -> None:
    alert = parse_file(SWIFT, SWIFT_TOPIC, edit=edit)
    decision = decide("swift-bat-grb-xrt", alert)
    assert (decision.matched, decision.stage, decision.clause) == (False, "condition", clause)


def test_swift_rule_fails_closed_without_flags() -> None:
    alert = parse_file(
        SWIFT, SWIFT_TOPIC, edit=('name="StarTrack_Lost_Lock"', 'name="Something_Else"')
    )
    decision = decide("swift-bat-grb-xrt", alert)
    assert (decision.matched, decision.stage) == (False, "error")


def test_lvk_far_bns_only_notifies() -> None:
    """The same candidate ten times farther away (~400 Mpc, the map's distances scaled):
    the team is told, and no galaxy is asked for, with the distance that decided."""
    data = json.loads((SHARED_ALERTS / "igwn/MS181101ab-preliminary.json").read_bytes())
    data["superevent_id"], data["event"]["search"] = "S181101ac", "AllSky"
    table = Table.read(io.BytesIO(base64.b64decode(data["event"]["skymap"])), format="fits")
    table["DISTMU"] *= 10
    table.meta["DISTMEAN"] *= 10
    fits = io.BytesIO()
    table.write(fits, format="fits")
    data["event"]["skymap"] = base64.b64encode(fits.getvalue()).decode()
    alert = parse_alert(json.dumps(data).encode(), "igwn.gwalert")

    assert decide("lvk-bns-nsbh-notify", alert).matched
    galaxies = decide("lvk-bns-nsbh-galaxies", alert)
    assert not galaxies.matched
    assert galaxies.clause == "distance(alert).mean < 300.0", galaxies
    assert "distance(alert).mean = 397.7" in galaxies.reason
