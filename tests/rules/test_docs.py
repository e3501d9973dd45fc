"""docs/rules.md and docs/rules.schema.json stay true to the code."""

from __future__ import annotations

import json

import pytest

from autotoo.rules import rules_json_schema
from autotoo.rules.context import HELPER_NAMES
from autotoo.rules.fields import TOO_FIELDS, XRT_PRODUCTS
from tests.rules.factory import REPO, outcome_of

DOC = (REPO / "docs" / "rules.md").read_text(encoding="utf-8")


def test_schema_file_is_current() -> None:
    committed = json.loads((REPO / "docs" / "rules.schema.json").read_text(encoding="utf-8"))
    assert committed == rules_json_schema(), "regenerate docs/rules.schema.json"


def test_every_field_product_and_helper_is_documented() -> None:
    for name in (*TOO_FIELDS, *XRT_PRODUCTS, *HELPER_NAMES):
        assert f"`{name}" in DOC, name


@pytest.mark.parametrize(
    "source",
    [
        "has(alert.raw.pipeline) && alert.raw.pipeline == 'Gold Track Alert' || true",
        "alert.error_deg != null && alert.error_deg < 0.1",
        "alert.packet_type in [202, 204] || alert.packet_type == null",
        "alert.instrument.startsWith('WX') && alert.instrument.matches('^W') && size('ab') == 2",
        "alert.references.exists(r, r.cite == 'retraction') || true",
        "alert.raw['id'][0] == '01709261081'",
        "now - alert.trigger_time < duration('30m')",
        "alert.trigger_time > timestamp('2026-01-01T00:00:00Z')",
        "alert.error_deg < (alert.mission == 'fermi' ? 1.5 : 0.1)",
        "double(2) * 2.5 == 5.0 && int(2.7) == 2 && string(1) == '1'",
        "abs(galactic_latitude(alert)) > 10.0 && sun_distance(alert) > 0.0",
        "moon_distance(alert.ra, alert.dec) > 0.0 && separation(alert, alert) == 0.0",
        "since_trigger(alert) == 60.0 && error_arcmin(alert) == 3.0",
        "event.count == 1 && event.best.ra == alert.ra && !event.has_retraction",
    ],
)
def test_cheat_sheet_examples_evaluate_to_true(source: str) -> None:
    outcome = outcome_of(source, packet_type=None)
    assert (outcome.matched, outcome.error) == (True, None)
