"""CEL conditions: compile-time checks, clause explanations, fail-closed evaluation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import cel
import pytest

from autotoo.rules.conditions import (
    BUILTIN_FUNCTIONS,
    CelCondition,
    split_top_level,
)
from autotoo.rules.context import HELPER_NAMES, AlertContext
from autotoo.rules.errors import ConditionSyntaxError
from autotoo.rules.needs import EVERYTHING, Needs
from tests.rules.factory import T0, make_alert, outcome_of


def run(source: str, **alert_fields: Any) -> tuple[bool, str | None, str | None]:
    outcome = outcome_of(source, after=timedelta(minutes=5), **alert_fields)
    return outcome.matched, outcome.clause, outcome.error


def test_every_listed_builtin_exists_in_the_binding() -> None:
    # The unknown-function check trusts this list: each name must really exist.
    samples = {
        "size": "size('a')",
        "contains": "'a'.contains('a')",
        "startsWith": "'a'.startsWith('a')",
        "endsWith": "'a'.endsWith('a')",
        "matches": "'a'.matches('a')",
        "int": "int(1.5)",
        "uint": "uint(1)",
        "double": "double(1)",
        "string": "string(1)",
        "bytes": "bytes('a')",
        "type": "type(1)",
        "dyn": "dyn(1)",
        "timestamp": "timestamp('2024-01-01T00:00:00Z')",
        "duration": "duration('1h')",
        "of": "optional.of(1)",
    }
    stamp = "timestamp('2024-01-01T00:00:00Z')"
    for getter in sorted(n for n in BUILTIN_FUNCTIONS if n.startswith("get")):
        samples[getter] = f"{stamp}.{getter}()"
    assert set(samples) == BUILTIN_FUNCTIONS
    for expression in samples.values():
        cel.compile(expression).execute({})


def test_first_false_conjunct_is_reported() -> None:
    matched, clause, error = run(
        "alert.error_deg < 0.1 && alert.raw.net_count_rate >= 0.5 && alert.dec < 0.0"
    )
    assert (matched, clause, error) == (False, "alert.raw.net_count_rate >= 0.5", None)


def test_all_true_conjuncts_match() -> None:
    assert run("alert.error_deg < 0.1 && alert.dec < 0.0") == (True, None, None)


def test_missing_field_fails_closed_with_the_clause() -> None:
    matched, clause, error = run("alert.error_deg < 0.1 && alert.raw.magg > 1")
    assert (matched, clause) == (False, "alert.raw.magg > 1")
    assert error == "no such field 'magg'"


def test_null_field_fails_closed_and_is_named() -> None:
    assert run("alert.error_deg < 0.1", error_deg=None) == (
        False,
        "alert.error_deg < 0.1",
        "alert.error_deg is null",
    )
    assert run("alert.ra + alert.dec > 1.0", ra=None, dec=None)[2] == (
        "alert.ra, alert.dec are null"
    )


def test_int_mixed_with_double_is_explained() -> None:
    assert run("alert.error_deg + 1 > 0.0")[2] == (
        "Unsupported operation: float + int (CEL does not mix int and double: write 2.0, "
        "or double(x))"
    )
    assert run("alert.raw.id > 1")[2] == (
        "operands of incompatible types (e.g. a list or text compared with a number, "
        "or int with double: write 2.0)"
    )


def test_non_boolean_result_fails_closed() -> None:
    assert run("alert.error_deg") == (False, "alert.error_deg", "not a boolean: 0.05")


def test_helper_error_fails_closed() -> None:
    matched, _, error = run("sun_distance(alert) > 46.0", ra=None, dec=None)
    assert not matched
    assert error is not None
    assert "no position" in error


def test_or_is_evaluated_whole_and_absorbs_a_failing_branch() -> None:
    # CEL's commutative || : an error on one side does not matter when the other is true.
    assert run("alert.raw.nope > 1 || alert.dec < 0.0") == (True, None, None)
    assert run("alert.dec > 0.0 || alert.ra < 0.0") == (
        False,
        "alert.dec > 0.0 || alert.ra < 0.0",
        None,
    )


def test_and_inside_a_top_level_or_is_not_split() -> None:
    # (a && b) || c: splitting at && would evaluate a, then "b || c".
    assert run("alert.dec > 0.0 && alert.ra > 0.0 || alert.ra > 100.0") == (True, None, None)
    assert run("alert.ra > 100.0 || alert.dec > 0.0 && alert.ra > 0.0") == (True, None, None)


def test_ternary_at_top_level_is_not_split() -> None:
    source = "alert.dec < 0.0 && alert.ra > 0.0 ? true : false"
    assert split_top_level(source, "&&") == [(0, source)]
    assert run(source) == (True, None, None)


def test_split_ignores_operators_in_strings_and_brackets() -> None:
    source = "alert.instrument == 'A && B' && (alert.ra > 1.0 && alert.dec < 0.0) && \"x||y\" != ''"
    parts = [text.strip() for _, text in split_top_level(source, "&&")]
    assert parts == [
        "alert.instrument == 'A && B'",
        "(alert.ra > 1.0 && alert.dec < 0.0)",
        "\"x||y\" != ''",
    ]


def test_syntax_error_offset_points_into_the_source() -> None:
    with pytest.raises(ConditionSyntaxError) as caught:
        CelCondition("alert.ra > 1 &&\nalert.(dec", extra_functions=HELPER_NAMES)
    assert caught.value.offset == len("alert.ra > 1 &&\nalert.")


def test_macro_variables_are_not_unknown_names() -> None:
    source = "alert.references.exists(r, r.cite == 'retraction') || size(alert.flags) == 0"
    assert run(source) == (True, None, None)


def test_timestamps_and_durations() -> None:
    assert run("now - alert.trigger_time < duration('10m')") == (True, None, None)
    assert run("since_trigger(alert) == 300.0") == (True, None, None)
    assert run("error_arcmin(alert) == 3.0") == (True, None, None)


def test_event_view() -> None:
    first = make_alert(error_deg=0.2, kind="initial")
    second = make_alert(error_deg=0.01, ra=10.0, dec=20.0, kind="update")
    third = make_alert(error_deg=0.05, kind="update")
    ctx = AlertContext(third, (first, second), T0)
    source = (
        "event.count == 3 && event.best.ra == 10.0 && event.first.error_deg == 0.2 && "
        "event.previous.ra == 10.0 && event.latest.error_deg == 0.05 && !event.has_retraction"
    )
    condition = CelCondition(source, extra_functions=HELPER_NAMES)
    assert condition.evaluate(ctx.activation(EVERYTHING)).matched


def test_event_is_absent_unless_a_rule_reads_it() -> None:
    ctx = AlertContext(make_alert(), (), T0)
    activation = ctx.activation(Needs(fields=frozenset({"ra"})))
    assert set(activation.variables) == {"alert", "now"}
    assert activation.variables["alert"] == {"ra": 178.334}
    assert "event" not in ctx.__dict__  # the event view was never built
