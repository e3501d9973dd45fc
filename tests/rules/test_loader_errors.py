"""Malformed rule files: every problem reported at once, each at its exact file:line:col."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from autotoo.config.problems import ConfigError
from autotoo.rules import load_rules

GOOD_TOO = """\
too:
  source_name: X
  source_type: GRB
  obs_type: Light Curve
  immediate_objective: find it
  science_just: because
  exp_time_just: enough
  exp_time_per_visit: 1000
  xrt_countrate: 1
"""


def problems(tmp_path: Path, text: str, name: str = "r.yaml") -> list[str]:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_rules([path])
    return [str(p).replace(str(tmp_path) + "/", "") for p in caught.value.problems]


def rule(body: str, name: str = "a") -> str:
    return f"rules:\n  - name: {name}\n" + textwrap.indent(textwrap.dedent(body), "    ")


def test_typo_key(tmp_path: Path) -> None:
    text = rule("notfiy: [mqtt]\n")
    assert problems(tmp_path, text) == [
        "r.yaml:3:5: rules.0.notfiy: unknown key (did you mean 'notify'?)"
    ]


def test_cel_syntax_error_column_inside_block_string(tmp_path: Path) -> None:
    text = rule(
        """\
        when: >
          alert.error_deg < 0.1 &&
          alert.raw.(rate > 1
        notify: [mqtt]
        """
    )
    # Line 5 of the file is "      alert.raw.(rate > 1"; CEL points at the "(".
    assert problems(tmp_path, text) == [
        "r.yaml:5:17: rules.0.when: condition syntax error: no viable alternative at input '.('"
    ]


def test_cel_error_at_end_of_plain_string(tmp_path: Path) -> None:
    text = rule("when: alert.error_deg <\nnotify: [mqtt]\n")
    (message,) = problems(tmp_path, text)
    assert message.startswith("r.yaml:3:28: rules.0.when: condition syntax error: mismatched input")


def test_unknown_cel_variable(tmp_path: Path) -> None:
    text = rule("when: alert.ra > 1 && aler.dec > 0\nnotify: [mqtt]\n")
    assert problems(tmp_path, text) == [
        (
            "r.yaml:3:27: rules.0.when: unknown name 'aler' (did you mean 'alert'?): "
            "a condition can read alert, event, now, raw"
        )
    ]


def test_unknown_cel_function(tmp_path: Path) -> None:
    text = rule("when: sun_dist(alert) > 46.0\nnotify: [mqtt]\n")
    assert problems(tmp_path, text) == [
        "r.yaml:3:11: rules.0.when: unknown function 'sun_dist' (did you mean 'sun_distance'?)"
    ]


def test_bad_jinja(tmp_path: Path) -> None:
    text = rule(GOOD_TOO.replace("source_name: X", "source_name: 'EP{{ alert.event_key }'"))
    (message,) = problems(tmp_path, text)
    # The template's first character (after the quote); Jinja gives lines, not columns.
    assert message == "r.yaml:4:21: rules.0.too.source_name: template syntax error: unexpected '}'"


def test_jinja_unknown_name_on_its_line(tmp_path: Path) -> None:
    body = GOOD_TOO.replace(
        "science_just: because", "science_just: |\n    first line\n    {{ alrt.ra }} second"
    )
    assert problems(tmp_path, rule(body)) == [
        (
            "r.yaml:10:9: rules.0.too.science_just: unknown name 'alrt' (did you mean 'alert'?) "
            "in template: "
            "templates can read alert, event, now, raw, rule"
        )
    ]


def test_bad_duration(tmp_path: Path) -> None:
    text = rule("settle: 5 fortnights\nnotify: [mqtt]\n")
    assert problems(tmp_path, text) == [
        (
            "r.yaml:3:13: rules.0.settle: Value error, '5 fortnights' is not a duration: "
            "use e.g. 90s, 5m, 2h or 1 day"
        )
    ]


def test_duplicate_rule_name_across_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(rule("notify: [mqtt]\n", name="same"))
    (tmp_path / "b.yaml").write_text("# another file\n" + rule("notify: [mqtt]\n", name="same"))
    with pytest.raises(ConfigError) as caught:
        load_rules([tmp_path / "*.yaml"])
    assert [str(p).replace(str(tmp_path) + "/", "") for p in caught.value.problems] == [
        "b.yaml:3:11: rules.0.name: duplicate rule name 'same' (first defined at a.yaml:2:11)"
    ]


def test_wrong_type(tmp_path: Path) -> None:
    text = rule("enabled: maybe\nbudget: {max: lots}\nnotify: [mqtt]\n")
    assert problems(tmp_path, text) == [
        "r.yaml:3:14: rules.0.enabled: Input should be a valid boolean, unable to interpret input",
        (
            "r.yaml:4:19: rules.0.budget.max: Input should be a valid integer, "
            "unable to parse string as an integer"
        ),
    ]


def test_unknown_product_and_too_field_and_parameter(tmp_path: Path) -> None:
    body = GOOD_TOO.replace("source_name: X", "source_name: X\n  urgancy: 2") + textwrap.dedent(
        """\
        xrt_products:
          submit: immediately
          products:
            LightCurve: {binMethod: counts}
            Lightcurve: {}
        """
    )
    assert problems(tmp_path, rule(body)) == [
        "r.yaml:5:7: rules.0.too.urgancy: unknown key (did you mean 'urgency'?)",
        # found beside the model's problems, in the same run
        (
            "r.yaml:16:22: rules.0.xrt_products.products.LightCurve.binMethod: unknown LightCurve "
            "parameter"
        ),
        (
            "r.yaml:17:9: rules.0.xrt_products.products.Lightcurve: Input should be 'LightCurve', "
            "'Spectrum', 'StandardPos', 'EnhancedPos', 'AstromPos', 'Image' or 'SourceDet'"
        ),
    ]


def test_unknown_xrt_parameter(tmp_path: Path) -> None:
    body = textwrap.dedent(
        """\
        xrt_products:
          submit: immediately
          globals: {centroid: true, posErr: 1, useSXPS: 2}
          products:
            LightCurve: {binMethod: counts}
        """
    )
    assert problems(tmp_path, rule(body)) == [
        "r.yaml:5:53: rules.0.xrt_products.globals.useSXPS: expected true or false, got 2",
        (
            "r.yaml:7:22: rules.0.xrt_products.products.LightCurve.binMethod: "
            "unknown LightCurve parameter"
        ),
    ]


def test_duplicate_yaml_key(tmp_path: Path) -> None:
    text = rule("notify: [mqtt]\nnotify: [webhook]\n")
    (message,) = problems(tmp_path, text)
    assert message.startswith("r.yaml:4:5: ")
    assert "duplicate key" in message


def test_literal_value_checked_against_field(tmp_path: Path) -> None:
    body = GOOD_TOO.replace("obs_type: Light Curve", "obs_type: Lightcurve\n  urgency: 7")
    assert problems(tmp_path, rule(body)) == [
        (
            "r.yaml:6:17: rules.0.too.obs_type: 'Lightcurve' is not one of: "
            "Spectroscopy, Light Curve, Position, Timing"
        ),
        "r.yaml:7:16: rules.0.too.urgency: 7 is not one of: 0, 1, 2, 3, 4",
    ]


def test_missing_required_too_fields(tmp_path: Path) -> None:
    body = "too:\n  source_name: X\n  source_type: GRB\n"
    assert problems(tmp_path, rule(body)) == [
        f"r.yaml:3:5: rules.0.too: a TOO needs {name}"
        for name in ("obs_type", "immediate_objective", "science_just", "exp_time_just")
    ] + [
        "r.yaml:3:5: rules.0.too: a TOO needs one of exp_time_per_visit, exposure",
        (
            "r.yaml:3:5: rules.0.too: a TOO needs one of xrt_countrate, bat_countrate, "
            "other_brightness, opt_mag"
        ),
    ]


def test_every_problem_in_every_file_at_once(tmp_path: Path) -> None:
    (tmp_path / "one.yaml").write_text(
        "rules:\n  - name: Bad Name\n    notify: [mqtt]\n  - name: ok\n    when: 'alert.ra >'\n"
        "    notify: [mqtt]\n"
    )
    (tmp_path / "two.yaml").write_text("rules:\n  - name: fine\n    notify: [pager]\n")
    with pytest.raises(ConfigError) as caught:
        load_rules([tmp_path / "one.yaml", tmp_path / "two.yaml", tmp_path / "none-*.yaml"])
    where = [f"{Path(p.file).name}:{p.line}:{p.col}" for p in caught.value.problems]
    assert where == ["none-*.yaml:1:1", "one.yaml:2:11", "one.yaml:5:22", "two.yaml:3:14"]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_rules([tmp_path / "absent.yaml"])
    assert [p.message for p in caught.value.problems] == ["file not found"]


def test_xrt_request_checked_by_the_ukssdc_builder(tmp_path: Path) -> None:
    body = textwrap.dedent(
        """\
        xrt_products:
          submit: after_observation
          globals: {centroid: true, useSXPS: false}
          products:
            LightCurve: {binMeth: Counts}
        """
    )
    assert problems(tmp_path, rule(body)) == [
        (
            "r.yaml:4:15: rules.0.xrt_products.submit: after_observation needs a too action in the "
            "same rule: its observation releases the job"
        ),
    ]
    body = body.replace("after_observation", "immediately")
    assert problems(tmp_path, rule(body)) == [
        f"r.yaml:3:5: rules.0.xrt_products: XRT request: {text}"
        for text in (
            "Global parameter `targ` is not set, and nor is the alternative: `getTargs`.",
            "Global parameter `posErr` is not set.",
            "light curve: The light curve parameter `pcCounts` is not set.",
            "light curve: The light curve parameter `wtCounts` is not set.",
            "light curve: The light curve parameter `dynamic` is not set.",
        )
    ]


def test_rule_name_must_be_a_slug(tmp_path: Path) -> None:
    assert problems(tmp_path, rule("notify: [mqtt]\n", name="EP WXT")) == [
        (
            "r.yaml:2:11: rules.0.name: Value error, a rule name is 1-64 lower-case letters, "
            "digits, '.', '_' or '-', starting with a letter or digit (e.g. ep-wxt-bright)"
        )
    ]


@pytest.mark.parametrize(
    "topic", ["gcn.classic.voevent.FERMI_GBM_*", "gcn.classic.voevent.FERMI_GBM_+", "gcn.#.svom"]
)
def test_topic_wildcards_must_be_whole_mqtt_levels(tmp_path: Path, topic: str) -> None:
    text = rule(f"match: {{topics: ['{topic}']}}\nnotify: [mqtt]\n")
    (message,) = problems(tmp_path, text)
    assert message.startswith(f"r.yaml:3:21: rules.0.match.topics: Value error, '{topic}': topic")


def test_whole_level_wildcards_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(
        rule("match: {topics: [gcn.classic.voevent.+, 'gcn/notices/#']}\nnotify: [mqtt]\n")
    )
    assert len(load_rules([path])) == 1


def test_unknown_keys_deep_in_a_rule_get_suggestions(tmp_path: Path) -> None:
    body = textwrap.dedent(
        """\
        match: {topic: [x]}
        xrt_products:
          submit: immediately
          globals: {getTargs: true, centroid: true, posErr: 1, useSXPS: false}
          products: {EnhancedPos: {}}
          retry: {evry: 5m}
        notify: [{chanel: mqtt}]
        """
    )
    assert [p.split(": ", 1)[1] for p in problems(tmp_path, rule(body))] == [
        "rules.0.match.topic: unknown key (did you mean 'topics'?)",
        "rules.0.xrt_products.retry.evry: unknown key (did you mean 'every'?)",
        "rules.0.notify.0.channel: required key is missing",
        "rules.0.notify.0.chanel: unknown key (did you mean 'channel'?)",
    ]


def test_an_unknown_key_does_not_hide_the_rules_other_problems(tmp_path: Path) -> None:
    """The model refuses the rule for its typo; the CEL syntax error and the bad obs_type
    beside it are still found, in the same run (issue 17: one typo hid both)."""
    text = rule(
        """\
        descripton: a typo
        when: alert.error_deg < (0.2
        too:
          source_name: X
          source_type: GRB
          obs_type: Lightcurve
          immediate_objective: find it
          science_just: because
          exp_time_just: enough
          exp_time_per_visit: 1000
          xrt_countrate: 1
        notify: [pager]
        """
    )
    assert problems(tmp_path, text) == [
        "r.yaml:3:5: rules.0.descripton: unknown key (did you mean 'description'?)",
        "r.yaml:4:33: rules.0.when: condition syntax error: missing ')' at '<EOF>'",
        (
            "r.yaml:8:17: rules.0.too.obs_type: 'Lightcurve' is not one of: Spectroscopy, "
            "Light Curve, Position, Timing"
        ),
        "r.yaml:14:14: rules.0.notify.0: Input should be 'mqtt' or 'webhook'",
    ]


def test_misspelt_alert_fields_in_conditions_and_templates_fail_at_load(tmp_path: Path) -> None:
    """Issue 17: ``{{ alert.event_ky }}`` passed check-config and failed for every matching
    alert at run time. Both languages are checked against the normalized alert's fields."""
    text = rule(
        """\
        when: >
          alert.error_deg < 0.1 && alert.misson == 'swift' &&
          event.best.eror_deg < 1.0 && alert.raw.anything > 0 && 'alert.notafield' != ''
        notify:
          - channel: webhook
            text: "{{ alert.event_ky }}"
        """
    )
    assert problems(tmp_path, text) == [
        "r.yaml:4:38: rules.0.when: alert has no field 'misson' (did you mean 'mission'?)",
        "r.yaml:5:18: rules.0.when: event.best has no field 'eror_deg' (did you mean 'error_deg'?)",
        (
            "r.yaml:8:16: rules.0.notify.0.text: alert has no field 'event_ky' (did you mean "
            "'event_key'?) in template"
        ),
    ]
