"""evaluate() and render_actions(): stages, explanations, the topic index, rendered actions."""

from __future__ import annotations

from datetime import timedelta

import pytest
import structlog.testing

from autotoo.rules import AlertContext, RenderError, evaluate, render_actions
from tests.rules.factory import T0, make_alert, ruleset

NOW = T0 + timedelta(minutes=5)

TOO = """
    too:
      source_name: "EP{{{{ alert.event_key }}}}"
      source_type: X-ray transient
      position: {position}
      obs_type: Light Curve
      urgency: "{{{{ 1 if alert.error_deg < 0.06 else 3 }}}}"
      immediate_objective: localise
      science_just: "S/N {{{{ alert.image_snr }}}} in {{{{ event.count }}}} alerts"
      exp_time_just: enough
      exp_time_per_visit: 1000
      xrt_countrate: "{{{{ alert.raw.net_count_rate * 10 }}}}"
      uvot_mode: 0x9999
"""


def one_rule(body: str, name: str = "r") -> str:
    return f"rules:\n  - name: {name}\n" + body


def test_stages_and_reasons() -> None:
    rules = ruleset(
        """
rules:
  - name: off
    enabled: false
    notify: [mqtt]
  - name: other-topic
    match: {topics: [gcn.notices.svom.voevent.eclairs]}
    notify: [mqtt]
  - name: other-mission
    match: {missions: [swift]}
    notify: [mqtt]
  - name: wrong-kind
    match: {kinds: [retraction]}
    notify: [mqtt]
  - name: wrong-instrument
    match: {instruments: [MXT]}
    notify: [mqtt]
  - name: false-clause
    when: alert.error_deg < 0.1 && alert.raw.net_count_rate > 1.0
    notify: [mqtt]
  - name: broken
    when: alert.raw.missing > 1
    notify: [mqtt]
  - name: always
    match: {topics: [gcn/notices/einstein_probe/wxt/alert], missions: [Einstein_Probe]}
    notify: [mqtt]
"""
    )
    decisions = evaluate(rules, make_alert(), now=NOW, explain=True)
    assert [(d.rule, d.matched, d.stage, d.reason) for d in decisions] == [
        ("off", False, "disabled", "rule is disabled"),
        (
            "other-topic",
            False,
            "filtered",
            (
                "topics: gcn.notices.einstein_probe.wxt.alert "
                "not in [gcn.notices.svom.voevent.eclairs]"
            ),
        ),
        ("other-mission", False, "filtered", "missions: einstein_probe not in [swift]"),
        ("wrong-kind", False, "filtered", "kinds: initial not in [retraction]"),
        ("wrong-instrument", False, "filtered", "instruments: WXT not in [mxt]"),
        ("false-clause", False, "condition", "condition is false"),
        ("broken", False, "error", "condition error: no such field 'missing'"),
        ("always", True, "matched", "no condition"),
    ]
    assert decisions[5].clause == "alert.raw.net_count_rate > 1.0"
    assert decisions[6].clause == "alert.raw.missing > 1"
    # The hot path skips disabled rules and rules indexed under other topics or missions.
    hot = evaluate(rules, make_alert(), now=NOW)
    assert [d.rule for d in hot] == [
        "wrong-kind",
        "wrong-instrument",
        "false-clause",
        "broken",
        "always",
    ]


def test_test_alerts_need_accept_test() -> None:
    rules = ruleset(
        """
rules:
  - name: strict
    notify: [mqtt]
  - name: lenient
    accept_test: true
    notify: [mqtt]
"""
    )
    decisions = evaluate(rules, make_alert(is_test=True), now=NOW)
    assert [(d.rule, d.stage) for d in decisions] == [
        ("strict", "test_alert"),
        ("lenient", "matched"),
    ]


def test_mqtt_wildcards_in_topics() -> None:
    rules = ruleset(one_rule("    match: {topics: ['gcn/notices/+/wxt/#']}\n    notify: [mqtt]\n"))
    assert evaluate(rules, make_alert(), now=NOW)[0].matched
    other = make_alert(topic="gcn.notices.svom.voevent.eclairs")
    (decision,) = evaluate(rules, other, now=NOW)
    assert decision.stage == "filtered"
    no_topic = make_alert(topic=None)
    (decision,) = evaluate(rules, no_topic, now=NOW)
    assert decision.reason == "topics: the alert came without a topic"


def test_render_too_with_alert_position() -> None:
    rules = ruleset(one_rule(TOO.format(position="alert")))
    rule = rules.rules[0]
    ctx = AlertContext(make_alert(), (), NOW)
    planned = render_actions(rule, ctx)
    assert planned.too == {
        "source_name": "EP01709261081",
        "source_type": "X-ray transient",
        "obs_type": "Light Curve",
        "urgency": 1,
        "immediate_objective": "localise",
        "science_just": "S/N 9.4 in 1 alerts",
        "exp_time_just": "enough",
        "exp_time_per_visit": 1000,
        "xrt_countrate": 0.8,
        "uvot_mode": "0x9999",
        "ra": 178.334,
        "dec": -10.202,
        "poserr": pytest.approx(3.0),
    }
    assert planned.too_policy == {
        "position": "alert",
        "on_reject": {},
        "check_uvot_mode": False,
        "uvot_fallback": "0x9999",
        "server_validate": False,
        "debug": False,
        "if_swift_on_target": "skip",  # the defaults of the checks before sending
        "on_target_radius_arcmin": 11.8,
        "visibility": None,
        "trigger_time": "2026-04-30T02:32:48+00:00",
    }
    assert planned.group_key == "einstein_probe:01709261081"
    assert planned.digest == rule.digest


def test_render_best_position_of_the_event() -> None:
    rules = ruleset(one_rule(TOO.format(position="best")))
    better = make_alert(ra=178.3, dec=-10.2, error_deg=0.01, kind="update")
    latest = make_alert(error_deg=0.08, kind="update")
    planned = render_actions(rules.rules[0], AlertContext(latest, (make_alert(), better), NOW))
    assert planned.too is not None
    assert (planned.too["ra"], planned.too["dec"]) == (178.3, -10.2)
    assert planned.too["poserr"] == pytest.approx(0.6)
    assert planned.too["urgency"] == 3  # templates still see *this* alert
    assert planned.too["science_just"] == "S/N 9.4 in 3 alerts"


def test_render_explicit_position() -> None:
    body = TOO.format(position="{ra: '{{ alert.ra + 1 }}', dec: -10.0, poserr: 0.5}")
    planned = render_actions(ruleset(one_rule(body)).rules[0], AlertContext(make_alert(), (), NOW))
    assert planned.too is not None
    assert (planned.too["ra"], planned.too["dec"], planned.too["poserr"]) == (179.334, -10.0, 0.5)


def test_render_errors_name_every_field() -> None:
    rules = ruleset(one_rule(TOO.format(position="alert")))
    alert = make_alert(ra=None, dec=None, raw={})
    with pytest.raises(RenderError) as caught:
        render_actions(rules.rules[0], AlertContext(alert, (), NOW))
    assert set(caught.value.problems) == {"too.xrt_countrate", "too.position"}
    assert caught.value.problems["too.position"] == "the alert has no position"


def test_render_xrt_and_notify() -> None:
    body = """
    xrt_products:
      submit: immediately
      globals:
        name: "GRB {{ alert.event_key }}"
        getTargs: true
        centroid: true
        posErr: 1
        useSXPS: false
      products:
        EnhancedPos: {}
        LightCurve: {binMeth: counts, pcCounts: "{{ 10 * 2 }}", wtCounts: 30, dynamic: true}
      retry: {every: 5m, for: 6h}
    notify:
      - mqtt
      - channel: webhook
        text: "{{ rule }}: {{ alert.event_key }}"
"""
    planned = render_actions(ruleset(one_rule(body)).rules[0], AlertContext(make_alert(), (), NOW))
    assert planned.too is None
    assert planned.xrt == {
        "submit": "immediately",
        "globals": {
            "name": "GRB 01709261081",
            "getTargs": True,
            "centroid": True,
            "posErr": 1.0,
            "useSXPS": False,
            "RA": 178.334,
            "Dec": -10.202,
        },
        "products": {
            "EnhancedPos": {},
            "LightCurve": {"binMeth": "counts", "pcCounts": 20, "wtCounts": 30, "dynamic": True},
        },
        "retry": {"every": 300.0, "for": 21600.0},
    }
    assert planned.notify == [
        {"channel": "mqtt", "text": None},
        {"channel": "webhook", "text": "r: 01709261081"},
    ]
    assert planned.to_json()["xrt"] == planned.xrt


def test_digest_ignores_layout_but_not_content() -> None:
    a = ruleset(one_rule("    notify: [mqtt]\n    when: alert.ra > 1.0\n"))
    b = ruleset(one_rule("    when: 'alert.ra > 1.0'\n    notify:\n      - mqtt\n"))
    c = ruleset(one_rule("    when: alert.ra > 2.0\n    notify: [mqtt]\n"))
    assert a.rules[0].digest == b.rules[0].digest != c.rules[0].digest
    assert a.digest == b.digest != c.digest


def test_context_is_shared_between_rules() -> None:
    rules = ruleset(
        """
rules:
  - name: a
    when: event.count == 1
    notify: [mqtt]
  - name: b
    when: event.count == 1 && alert.ra > 0.0
    notify: [mqtt]
"""
    )
    ctx = AlertContext(make_alert(), (), NOW)
    assert all(d.matched for d in evaluate(rules, ctx.alert, now=NOW, context=ctx))
    assert len(ctx._activations) == 1  # one CEL activation served both rules


def test_condition_errors_are_logged_with_rule_and_clause() -> None:
    rules = ruleset(
        one_rule("    when: alert.ra > 0.0 && alert.raw.magg < 18.5\n    notify: [mqtt]\n")
    )
    with structlog.testing.capture_logs() as logs:
        (decision,) = evaluate(rules, make_alert(), now=NOW)
    assert decision.stage == "error"
    assert logs == [
        {
            "event": "rule condition failed; counted as no match",
            "log_level": "warning",
            "rule": "r",
            "clause": "alert.raw.magg < 18.5",
            "error": "no such field 'magg'",
            "group_key": "einstein_probe:01709261081",
        }
    ]


def test_values_cel_cannot_hold_are_made_plain() -> None:
    rules = ruleset(
        one_rule("    when: has(alert.flags.odd) && alert.packet_type > 1\n    notify: [mqtt]\n")
    )
    odd = make_alert(flags={"odd": {1, 2}}, packet_type=2**70)  # a set: no CEL type
    (decision,) = evaluate(rules, odd, now=NOW)
    assert (decision.stage, decision.error) == ("matched", None)


def test_retraction_in_the_event() -> None:
    rules = ruleset(
        one_rule("    when: event.has_retraction && event.count == 2\n    notify: [mqtt]\n")
    )
    retraction = make_alert(kind="retraction", ra=None, dec=None, error_deg=None)
    (decision,) = evaluate(rules, retraction, [make_alert()], now=NOW)
    assert decision.matched


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{ rule }}", "r"),
        ("{{ alert.event_key }}", "01709261081"),
        ("{{ raw.net_count_rate }}", "0.08"),
        ("{{ event.count }} {{ event.transient.key }}", "1 T:einstein_probe:01709261081"),
        ("{{ now.year }}", str(NOW.year)),
        ("{{ '%.0f' % since_trigger(alert) }}", "300"),
        ("{{ contains(alert, alert.ra, alert.dec, 0.9) }}", "True"),
    ],
    ids=["rule", "alert", "raw", "event", "now", "helper", "region-helper"],
)
def test_a_template_sees_each_name_it_reads(text: str, expected: str) -> None:
    """Rendering builds only the names a rule's templates read (CompiledRule.template_names)."""
    body = f'    notify:\n      - channel: webhook\n        text: "{text}"\n'
    rule = ruleset(one_rule(body)).rules[0]
    planned = render_actions(rule, AlertContext(make_alert(), (), NOW))
    assert planned.notify == [{"channel": "webhook", "text": expected}]
