"""Property: no alert, however odd, makes evaluate() or render_actions() raise unexpectedly."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autotoo.alerts import NormalizedAlert
from autotoo.config.problems import ConfigError
from autotoo.rules import AlertContext, RenderError, evaluate, load_rules, render_actions
from tests.rules.factory import REPO, make_alert, ruleset

EXAMPLES = load_rules([REPO / "rules" / "*.yaml"])
EXTRA = ruleset(
    """
rules:
  - name: everything
    accept_test: true
    when: >
      alert.raw.x.y > 1 || event.best.error_deg < alert.error_deg ||
      separation(alert, event.first) < 1.0 || since_trigger(alert) > 0.0 ||
      error_arcmin(alert) > 1.0 || abs(galactic_longitude(alert)) > 1.0
    notify: [{channel: webhook, text: "{{ alert.raw }} {{ event.count }}"}]
"""
)

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)
finite = st.floats(allow_nan=True, allow_infinity=True)
times = st.none() | st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
topics = st.none() | st.sampled_from(
    [
        "gcn.notices.einstein_probe.wxt.alert",
        "gcn/notices/einstein_probe/wxt/alert",
        "gcn.classic.voevent.SWIFT_BAT_GRB_POS_ACK",
        "gcn.classic.voevent.FERMI_GBM_GND_POS",
        "gcn.notices.svom.voevent.eclairs",
        "gcn.notices.icecube.gold_bronze_track_alerts",
        "igwn.gwalert",
        "",
    ]
)


@st.composite
def alerts(draw: Any) -> NormalizedAlert:
    return NormalizedAlert(
        format=draw(st.sampled_from(["gcn_json", "igwn_json", "voevent"])),
        mission=draw(
            st.sampled_from(["swift", "fermi", "svom", "einstein_probe", "lvk", "icecube", ""])
        ),
        notice_type=draw(st.text(max_size=10)),
        event_key=draw(st.text(max_size=10)),
        kind=draw(st.sampled_from(["initial", "update", "retraction"])),
        instrument=draw(st.none() | st.text(max_size=5)),
        topic=draw(topics),
        packet_type=draw(st.none() | st.integers(-(2**70), 2**70)),
        is_test=draw(st.booleans()),
        trigger_time=draw(times),
        ra=draw(st.none() | finite),
        dec=draw(st.none() | finite),
        error_deg=draw(st.none() | finite),
        flags=draw(
            st.dictionaries(
                st.sampled_from(["StarTrack_Lost_Lock", "Def_NOT_a_GRB"]), st.booleans()
            )
        ),
        raw=draw(json_values),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(alert=alerts(), earlier=st.lists(alerts(), max_size=3), minutes=st.integers(0, 10**6))
def test_evaluate_and_render_never_raise(
    alert: NormalizedAlert, earlier: list[NormalizedAlert], minutes: int
) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=minutes)
    for rules in (EXAMPLES, EXTRA):
        ctx = AlertContext(alert, earlier, now)
        for decision in evaluate(rules, alert, earlier, now=now, explain=True, context=ctx):
            assert decision.matched == (decision.stage == "matched")
            if decision.matched:
                rule = rules.get(decision.rule)
                assert rule is not None
                try:
                    render_actions(rule, ctx)
                except RenderError as exc:  # the only error allowed: it names the fields
                    problems = exc.problems
                    assert problems


cel_tokens = st.sampled_from(
    ["alert", ".", "raw", "ra", "(", ")", "[", "]", "&&", "||", "!", "?", ":", "'", '"', "1",
     "2.5", "<", "==", "size", "has", "event", "now", " ", ",", "x", "{", "}", "\\", "in"]
)  # fmt: skip
template_tokens = st.sampled_from(
    ["{{", "}}", "{%", "%}", "{#", "#}", "alert", ".", "ra", "if", "endif", "|", "upper", " ",
     "'", "x", "(", ")", "event", "__class__", "\n"]
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(
    when=st.lists(cel_tokens, min_size=1, max_size=12).map("".join),
    text=st.lists(template_tokens, max_size=12).map("".join),
)
def test_loading_any_condition_or_template_raises_only_config_errors(when: str, text: str) -> None:
    doc = {
        "rules": [{"name": "fuzz", "when": when, "notify": [{"channel": "webhook", "text": text}]}]
    }
    try:
        rules = ruleset(json.dumps(doc))  # JSON is YAML: no quoting worries
    except ConfigError as exc:  # the only error allowed: located problems
        problems = exc.problems
        assert problems
        return
    now = datetime(2026, 1, 1, tzinfo=UTC)
    (decision,) = evaluate(rules, make_alert(), now=now)
    if decision.matched:
        try:
            render_actions(rules.rules[0], AlertContext(make_alert(), (), now))
        except RenderError as exc:
            assert exc.problems  # the only error allowed: it names the fields
