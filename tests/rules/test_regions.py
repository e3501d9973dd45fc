"""Region functions in rules, on the real LVK lifecycle (MS181101ab, base64 multi-order maps)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from autotoo.alerts import NormalizedAlert, parse_alert
from autotoo.config.problems import ConfigError
from autotoo.rules import AlertContext, evaluate, load_rules, render_actions
from autotoo.rules.context import HELPER_NAMES
from autotoo.rules.needs import condition_needs
from tests.alerts.alert_corpus import CORPUS
from tests.alerts.skymap_files import LVK_ALERTS, LVK_AREA_90, LVK_PRELIMINARY
from tests.rules.factory import REPO, make_alert, ruleset

NOW = datetime(2018, 11, 1, 22, 30, tzinfo=UTC)


def lvk(stage: str) -> NormalizedAlert:
    return parse_alert(LVK_ALERTS[stage].read_bytes(), "igwn.gwalert")


def lvk_retraction() -> NormalizedAlert:
    return parse_alert((CORPUS / "igwn/MS181101ab-retraction.json").read_bytes(), "igwn.gwalert")


RULES = """\
rules:
  - name: small-and-near
    match: {missions: [lvk]}
    accept_test: true
    when: >
      area(alert, 0.9) < 50.0 && distance(alert).mean < 100.0 &&
      prob_in_fov(alert, max_prob_position(alert).ra, max_prob_position(alert).dec, 5.0) > 0.7
    notify:
      - channel: webhook
        text: >-
          {{ alert.event_key }}: {{ '%.1f' % area(alert, 0.9) }} deg2 (90%),
          {{ '%.0f' % distance(alert).mean }} +- {{ '%.0f' % distance(alert).std }} Mpc,
          {% set peak = max_prob_position(alert) -%}
          peak {{ '%.2f' % peak.ra }} {{ '%.2f' % peak.dec }}
  - name: tiny-only
    match: {missions: [lvk]}
    accept_test: true
    when: area(alert, 0.9) < 10.0
    notify: [mqtt]
  - name: chile-now
    match: {missions: [lvk]}
    accept_test: true
    when: prob_above_horizon(alert, -30.2, -70.7, 20.0) > 0.5
    notify: [mqtt]
  - name: covers-the-peak
    match: {missions: [lvk]}
    accept_test: true
    when: contains(event.first, 194.3, -17.86, 0.5) && region(alert).kind == 'skymap'
    notify: [mqtt]
"""


def _decisions(alert: NormalizedAlert, earlier: tuple[NormalizedAlert, ...] = ()) -> dict[str, str]:
    rules = ruleset(RULES)
    decisions = evaluate(rules, alert, earlier, now=NOW, explain=True)
    return {d.rule: d.stage + (f": {d.error}" if d.error else "") for d in decisions}


def test_region_functions_decide_on_the_real_lvk_lifecycle() -> None:
    preliminary, initial = lvk("preliminary"), lvk("initial")
    assert _decisions(initial, (preliminary,)) == {
        "small-and-near": "matched",  # 31.0 deg2, 40 Mpc, 0.75 within 5 deg of the peak
        "tiny-only": "condition",
        "chile-now": "condition",  # 22:30 UTC: the map is below La Silla's horizon
        "covers-the-peak": "matched",
    }


def test_templates_render_the_numbers() -> None:
    rules = ruleset(RULES)
    context = AlertContext(lvk("update"), (lvk("preliminary"),), NOW)
    rule = rules.get("small-and-near")
    assert rule is not None
    text = render_actions(rule, context).notify[0]["text"]
    assert text == ("MS181101ab: 31.0 deg2 (90%), 40 +- 8 Mpc, peak 194.30 -17.86")


def test_a_map_that_cannot_be_read_fails_the_rule_with_the_reason() -> None:
    payload = json.loads(LVK_PRELIMINARY.read_bytes())
    payload["event"]["skymap"] = base64.b64encode(b"SIMPLE  = T" + b" " * 100).decode()
    broken = parse_alert(json.dumps(payload).encode(), "igwn.gwalert")
    decisions = _decisions(broken)
    reason = "sky map unreadable: FITS header ends before its END card"
    for rule in ("small-and-near", "tiny-only", "chile-now", "covers-the-peak"):
        assert decisions[rule].startswith("error: Function "), decisions[rule]
        assert decisions[rule].endswith(f"ValueError: {reason}"), decisions[rule]
    context = AlertContext(broken, (), NOW)
    described = context.helpers["region"](context.alert_view)
    assert (described["kind"], described["skymap_error"]) == (None, reason)


def test_a_retraction_has_no_region() -> None:
    retraction = lvk_retraction()
    context = AlertContext(retraction, (lvk("preliminary"),), NOW)
    assert context.helpers["region"](context.alert_view) == {"kind": None, "skymap_error": None}
    rules = ruleset(
        "rules:\n  - name: r\n    accept_test: true\n    when: area(alert, 0.9) < 1e9\n"
        "    notify: [mqtt]\n"
    )
    [decision] = evaluate(rules, retraction, now=NOW, explain=True)
    assert decision.stage == "error"
    assert decision.error is not None
    assert decision.error.endswith("ValueError: the region has no position and no sky map")


def test_an_alert_with_a_circle_answers_too() -> None:
    rules = ruleset(
        "rules:\n  - name: c\n    when: area(alert, 0.9) < 0.01 && contains(alert, 178.334, "
        "-10.25, 0.9) && !contains(alert, 178.334, -10.26, 0.9)\n    notify: [mqtt]\n"
    )
    [decision] = evaluate(rules, make_alert(), now=NOW, explain=True)
    assert decision.stage == "matched", decision


def test_misspelt_region_functions_are_refused_at_load() -> None:
    with pytest.raises(ConfigError, match="unknown function 'aera' \\(did you mean 'area'\\?\\)"):
        ruleset("rules:\n  - name: a\n    when: aera(alert, 0.9) < 10.0\n    notify: [mqtt]\n")


def test_conditions_read_the_fields_regions_need() -> None:
    needs = condition_needs("area(alert, 0.9) < 10.0", HELPER_NAMES)
    assert needs.fields is not None
    assert {"skymap", "ra", "dec", "error_deg", "error_confidence", "ellipse"} <= needs.fields


def test_rule_sets_say_whether_they_use_regions() -> None:
    assert ruleset(RULES).uses_skymaps
    examples = ruleset((REPO / "rules" / "ep-wxt.yaml").read_text())
    assert not examples.uses_skymaps
    # The LVK example's galaxy rule asks for the map's area and distance.
    assert load_rules([REPO / "rules" / "lvk-bns-nsbh.yaml"]).uses_skymaps
    # "area" inside a word or a string is not a call.
    assert not ruleset(
        "rules:\n  - name: a\n    when: alert.raw.subarea == 'area('\n    notify: [mqtt]\n"
    ).uses_skymaps


def test_numpy_is_imported_only_when_a_region_function_runs() -> None:
    script = f"""
import sys
from datetime import UTC, datetime
from pathlib import Path
from autotoo.alerts import parse_alert
from autotoo.config.yamlfile import load_yaml_text
from autotoo.rules import evaluate, load_documents
rules = load_documents([load_yaml_text('''{RULES}''', "r.yaml")])
plain = load_documents([load_yaml_text(
    "rules:\\n  - name: p\\n    when: alert.far < 1.0\\n    notify: [mqtt]\\n", "p.yaml")])
alert = parse_alert(Path({str(LVK_PRELIMINARY)!r}).read_bytes(), "igwn.gwalert")
now = datetime(2018, 11, 1, 22, 30, tzinfo=UTC)
evaluate(plain, alert, now=now, explain=True)
print("numpy" in sys.modules, end=" ")
evaluate(rules, alert, now=now, explain=True)
print("numpy" in sys.modules)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "False True"


def test_the_area_the_rules_see_is_ligo_skymaps() -> None:
    context = AlertContext(lvk("earlywarning"), (), NOW)
    assert context.helpers["area"](context.alert_view, 0.9) == pytest.approx(LVK_AREA_90)


DOCUMENTED = [
    # (expression as docs/rules.md shows it, its value on the LVK update, the value as shown)
    ("area(alert, 0.5)", 8.900583, "8.90"),
    ("area(alert, 0.9)", 30.97986, "30.98"),
    ("prob_in_fov(alert, 194.30, -17.86, 0.2)", 0.0096, "0.0096"),
    ("prob_in_fov(alert, 194.30, -17.86, 1.0)", 0.163, "0.163"),
    ("prob_in_fov(alert, 194.30, -17.86, 5.0)", 0.750, "0.750"),
    ("contains(alert, 194.30, -16.86, 0.5)", True, "true"),
    ("contains(alert, 195.30, -17.86, 0.5)", False, "false"),
    ("contains(alert, 195.30, -17.86, 0.9)", True, "true"),
    (
        "prob_above_horizon(alert, -29.26, -70.73, 20.0, timestamp('2018-11-02T12:00:00Z'))",
        1.000,
        "1.000",
    ),
    (
        "prob_above_horizon(alert, -29.26, -70.73, 20.0, timestamp('2018-11-02T20:10:00Z'))",
        0.386,
        "0.386",
    ),
    (
        "prob_above_horizon(alert, -29.26, -70.73, 20.0, timestamp('2018-11-01T22:22:00Z'))",
        0.0012,
        "0.0012",
    ),
    ("distance(alert).mean", 39.77, "39.77"),
    ("distance(alert).std", 8.31, "8.31"),
    ("max_prob_position(alert).ra", 194.304, "194.304"),
    ("max_prob_position(alert).dec", -17.857, "-17.857"),
]


@pytest.mark.parametrize(("expression", "value", "shown"), DOCUMENTED)
def test_the_numbers_in_rules_md_are_what_the_functions_give(
    expression: str, value: object, shown: str
) -> None:
    from autotoo.rules.conditions import cel  # noqa: PLC0415
    from autotoo.rules.needs import EVERYTHING  # noqa: PLC0415

    doc = (REPO / "docs" / "rules.md").read_text(encoding="utf-8")
    section = doc[doc.index("#### Region functions") : doc.index("#### CEL cheat-sheet")]
    head = expression.split(", timestamp(", maxsplit=1)[0].split(").", maxsplit=1)[0]
    assert head in section, expression
    assert shown in section, shown
    context = AlertContext(lvk("update"), (), NOW)
    got = cel.compile(expression).execute(context.activation(EVERYTHING))
    if isinstance(value, bool):
        assert got is value
    else:
        assert isinstance(value, float)
        digits = len(shown.split(".")[1])
        assert round(got, digits) == pytest.approx(value, abs=10**-digits / 2)


def test_conditions_without_region_functions_do_not_bind_them() -> None:
    """Binding the seven region functions costs ~2 us per alert: only when a rule calls one."""
    plain = condition_needs("alert.raw.area > 1.0 && s.contains('area(')", HELPER_NAMES)
    assert not plain.regions
    regional = condition_needs(
        "region(event.best).kind == 'skymap'", HELPER_NAMES, frozenset({"region"})
    )
    assert regional.regions
    assert (plain | regional).regions
    rules = ruleset(
        "rules:\n  - name: p\n    match: {missions: [lvk]}\n    accept_test: true\n"
        "    when: alert.far < 1.0\n    notify: [mqtt]\n"
    )
    [rule] = rules
    assert not rule.needs.regions
    assert ruleset(RULES).all_needs.regions


def test_the_rule_in_rules_md_loads_and_decides() -> None:
    doc = (REPO / "docs" / "rules.md").read_text(encoding="utf-8")
    section = doc[doc.index("#### Region functions") : doc.index("#### CEL cheat-sheet")]
    block = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    rules = ruleset("rules:\n" + block)
    assert rules.uses_skymaps
    when = datetime(2018, 11, 2, 12, 0, tzinfo=UTC)  # the map is high above La Silla
    [decision] = evaluate(rules, lvk("update"), (lvk("preliminary"),), now=when, explain=True)
    assert decision.stage == "test_alert"  # MS... is a mock superevent: the rule says no
    [decision] = evaluate(
        ruleset("rules:\n" + block.replace("    notify:", "    accept_test: true\n    notify:")),
        lvk("update"),
        now=when,
        explain=True,
    )
    assert decision.stage == "matched", decision


def test_the_processor_imports_numpy_at_start_when_a_rule_uses_regions() -> None:
    """Off the event loop and before the first alert (a thread in Processor.start), not on
    the loop at the first region call; and not at all for rules that use no region."""
    script = f"""
import asyncio, sys, tempfile
from pathlib import Path
from autotoo.config.yamlfile import load_yaml_text
from autotoo.pipeline.processor import Processor
from autotoo.pipeline.settings import PipelineSettings
from autotoo.rules import load_documents
from autotoo.store.db import Database
from autotoo.store.repository import Repository

async def started(text):
    rules = load_documents([load_yaml_text(text, "r.yaml")])
    with tempfile.TemporaryDirectory() as tmp:
        db = await Database.open(Path(tmp) / "state.db")
        try:
            processor = Processor(
                Repository(db), rules=lambda: rules, settings=lambda: PipelineSettings()
            )
            await processor.start()
        finally:
            await db.close()
    return "numpy" in sys.modules

plain = "rules:\\n  - name: p\\n    when: alert.far < 1.0\\n    notify: [mqtt]\\n"
print(asyncio.run(started(plain)), asyncio.run(started('''{RULES}''')))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=120
    )
    assert done.stdout.strip() == "False True", done.stderr[-3000:]


def test_a_false_clause_names_what_its_region_functions_measured() -> None:
    """Why: "condition is false [distance(alert).mean < 30.0]" leaves an astronomer to work
    out the distance; the decision says the value that made the clause false."""
    rules = ruleset(
        "rules:\n"
        "  - {name: near, accept_test: true, when: 'distance(alert).mean < 30.0', notify: [mqtt]}\n"
        "  - name: small\n    accept_test: true\n    notify: [mqtt]\n"
        "    when: distance(alert).std > 1.0 && area(alert, 0.9) < 10.0\n"
        "  - name: fov\n    accept_test: true\n    notify: [mqtt]\n    when: >-\n"
        "      prob_in_fov(alert, max_prob_position(alert).ra, max_prob_position(alert).dec,"
        " 0.2) > 0.5 || contains(alert, 10.0, 20.0, 0.9)\n"
        "  - name: chile\n    accept_test: true\n    notify: [mqtt]\n"
        "    when: prob_above_horizon(alert, -30.2, -70.7, 20.0) > 0.5\n"
        "  - name: loop\n    accept_test: true\n    notify: [mqtt]\n"
        "    when: event.alerts.exists(a, area(a, 0.9) < 1.0)\n"
    )
    decisions = {d.rule: d for d in evaluate(rules, lvk("initial"), now=NOW, explain=True)}
    assert decisions["near"].reason == "condition is false: distance(alert).mean = 39.77"
    assert decisions["near"].clause == "distance(alert).mean < 30.0"
    assert decisions["small"].reason == "condition is false: area(alert, 0.9) = 30.98"
    assert decisions["small"].clause == "area(alert, 0.9) < 10.0"
    assert decisions["fov"].reason == (
        "condition is false: prob_in_fov(alert, max_prob_position(alert).ra, "
        "max_prob_position(alert).dec, 0.2) = 0.009635, contains(alert, 10.0, 20.0, 0.9) = false"
    )
    assert decisions["chile"].reason.startswith(
        "condition is false: prob_above_horizon(alert, -30.2, -70.7, 20.0) = 0."
    )
    # A call on a macro's variable cannot be evaluated alone: no value, the clause says it.
    assert decisions["loop"].reason == "condition is false"
