"""Literal-or-template values: sandbox, strict undefined, compile-time checks, coercion."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from autotoo.rules.errors import TemplateCompileError
from autotoo.rules.fields import (
    TOO_FIELDS,
    XRT_GLOBALS,
    FieldSpec,
    FieldType,
    coerce,
    format_uvot_mode,
)
from autotoo.rules.templates import compile_value, is_template

VARS: dict[str, Any] = {
    "alert": {
        "event_key": "123",
        "raw": {"rate": 1.234},
        "trigger_time": datetime(2026, 4, 30, 2, 32, 47, 999000, tzinfo=UTC),
    },
    "event": {},
    "raw": {"rate": 1.234},
    "now": datetime(2026, 4, 30, 3, 0, tzinfo=UTC),
    "rule": "r",
}


def render(text: object, field: str | None = None) -> object:
    spec = TOO_FIELDS[field] if field else None
    return compile_value(text, spec).render(VARS, spec)


def test_literals_are_not_parsed() -> None:
    assert not is_template("100% sure {not a template}")
    assert render("100% sure {not a template}") == "100% sure {not a template}"


def test_template_renders_and_formats() -> None:
    assert render("EP{{ alert.event_key }}") == "EP123"
    assert render("{{ '%.2f' % (alert.raw.rate * 0.5) }}", "xrt_countrate") == 0.62


def test_value_fields_are_coerced_to_the_field_type() -> None:
    assert render("{{ 1 + 1 }}", "urgency") == 2
    assert render("{{ 'true' }}", "tiling") is True
    assert render("{{ 2000.0 }}", "exp_time_per_visit") == 2000
    assert render(0x9999, "uvot_mode") == 0x9999
    assert format_uvot_mode(0x9999) == "0x9999"
    assert format_uvot_mode("0x30ed") == "0x30ed"


def test_coercion_rejects_wrong_values() -> None:
    with pytest.raises(ValueError, match="not one of"):
        render("{{ 7 }}", "urgency")
    with pytest.raises(ValueError, match="whole number"):
        render("{{ 2.5 }}", "num_of_visits")
    with pytest.raises(ValueError, match="true or false"):
        coerce(XRT_GLOBALS["centroid"], "maybe")


def test_strict_undefined_is_an_error() -> None:
    # The payload under raw differs per mission: a missing key shows only at run time.
    with pytest.raises(ValueError, match="has no attribute 'nope'"):
        render("{{ alert.raw.nope }}")


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ("{{ alert.event_ky }}", "alert has no field 'event_ky' (did you mean 'event_key'?)", 1),
        ("x\n{{ alert['error_degs'] }}", "alert has no field 'error_degs' (did you mean", 2),
        ("{{ event.frist.ra }}", "event has no field 'frist' (did you mean 'first'?)", 1),
        ("{{ event.best.ra_deg }}", "event.best has no field 'ra_deg'", 1),
        ("{{ alert.__class__ }}", "alert has no field '__class__'", 1),
    ],
)
def test_a_misspelt_field_is_refused_at_load(text: str, message: str, line: int) -> None:
    """Checked against the normalized alert's fields, not found at run time during a burst."""
    with pytest.raises(TemplateCompileError) as caught:
        compile_value(text, None)
    assert caught.value.message.startswith(message)
    assert caught.value.line == line


def test_real_fields_and_mapping_methods_pass_at_load() -> None:
    for text in (
        "{{ alert.event_key }} {{ alert['error_deg'] }} {{ alert.raw.anything }}",
        "{{ event.best.error_deg if event.best else event.count }} {{ event.first.ra }}",
        "{{ alert.flags.get('x') }} {% for a in event.alerts %}{{ a.ra }}{% endfor %}",
    ):
        assert compile_value(text, None).template is not None


def test_sandbox_blocks_attribute_walks() -> None:
    with pytest.raises(ValueError, match="unsafe"):
        render("{{ alert.raw.__class__.__mro__ }}")
    with pytest.raises(ValueError, match="unsafe"):
        render("{{ now.__class__ }}")


def test_templates_cannot_change_the_shared_context() -> None:
    with pytest.raises(ValueError, match="unsafe"):
        render("{{ alert.raw.update({'rate': 99}) }}")
    with pytest.raises(ValueError, match="unsafe"):
        render("{{ alert.raw.pop('rate') }}")
    assert VARS["alert"]["raw"] == {"rate": 1.234}


def test_swift_time_filter() -> None:
    assert render("{{ alert.trigger_time | swift_time }}") == "2026-04-30T02:32:47"


def test_compile_errors_carry_the_template_line() -> None:
    with pytest.raises(TemplateCompileError) as caught:
        compile_value("line one\n{{ alert.ra b }}\n", None)
    assert caught.value.line == 2
    with pytest.raises(TemplateCompileError, match="No filter named 'nofilter'"):
        compile_value("{{ alert | nofilter }}", None)
    with pytest.raises(TemplateCompileError, match="unknown name 'alret'"):
        compile_value("a\nb {{ alret.ra }}", None)


def test_literal_checked_at_compile() -> None:
    with pytest.raises(ValueError, match="not one of"):
        compile_value("Lightcurve", TOO_FIELDS["obs_type"])
    assert compile_value("Light Curve", TOO_FIELDS["obs_type"]).template is None


S, N, F, B, M = (FieldSpec(kind, "test") for kind in FieldType)


@pytest.mark.parametrize(
    ("spec", "value", "expected"),
    [
        (S, 12, "12"),
        (S, "x", "x"),
        (N, "2", 2),
        (N, " 3.0 ", 3),
        (N, 4.0, 4),
        (F, "0.25", 0.25),
        (F, 3, 3.0),
        (B, "yes", True),
        (B, "False", False),
        (B, 1, True),
        (M, "PC", "PC"),
        (M, "7", 7),
        (M, 0x9999, 0x9999),
        (
            FieldSpec(FieldType.STR, "folded", ("counts", "time"), fold_case=True),
            "Counts",
            "counts",
        ),
    ],
)
def test_coerce_accepts(spec: FieldSpec, value: object, expected: object) -> None:
    assert coerce(spec, value) == expected


@pytest.mark.parametrize(
    ("spec", "value"),
    [
        (S, None),
        (S, True),
        (N, True),
        (N, "2.5"),
        (N, "two"),
        (N, None),
        (F, "nan"),
        (F, "inf"),
        (F, False),
        (F, "x"),
        (F, None),
        (B, 2),
        (B, "maybe"),
        (M, True),
        (M, "  "),
        (FieldSpec(FieldType.STR, "cased", ("counts",)), "Counts"),
    ],
)
def test_coerce_refuses(spec: FieldSpec, value: object) -> None:
    with pytest.raises(ValueError):  # CoercionError, which pydantic and the loader report
        coerce(spec, value)
