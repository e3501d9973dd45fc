"""Alerts built by hand for rule tests, and real alerts read from tests/data/alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from autotoo.alerts import NormalizedAlert, parse_alert
from autotoo.config.yamlfile import load_yaml_text
from autotoo.rules import AlertContext, RuleSet, load_documents
from autotoo.rules.conditions import CelCondition, Outcome
from autotoo.rules.context import HELPER_NAMES
from autotoo.rules.needs import EVERYTHING, Needs
from tests.alerts.alert_corpus import CORPUS, capture_topic

SHARED_ALERTS: Path = CORPUS
REPO = Path(__file__).resolve().parents[2]

T0 = datetime(2026, 4, 30, 2, 32, 48, tzinfo=UTC)


def make_alert(**fields: Any) -> NormalizedAlert:
    """An EP-WXT-like alert; any field can be overridden."""
    base: dict[str, Any] = {
        "format": "gcn_json",
        "mission": "einstein_probe",
        "notice_type": "einstein_probe/wxt/alert",
        "event_key": "01709261081",
        "kind": "initial",
        "instrument": "WXT",
        "topic": "gcn.notices.einstein_probe.wxt.alert",
        "trigger_time": T0,
        "ra": 178.334,
        "dec": -10.202,
        "error_deg": 0.05,
        "image_snr": 9.4,
        "raw": {"net_count_rate": 0.08, "id": ["01709261081"]},
    }
    base.update(fields)
    return NormalizedAlert(**base)


def outcome_of(
    source: str,
    *,
    needs: Needs = EVERYTHING,
    after: timedelta = timedelta(minutes=1),
    **fields: Any,
) -> Outcome:
    """Compile one condition and evaluate it on ``make_alert(**fields)`` at T0 + ``after``."""
    condition = CelCondition(source, extra_functions=HELPER_NAMES)
    ctx = AlertContext(make_alert(**fields), (), T0 + after)
    return condition.evaluate(ctx.activation(needs))


def ruleset(text: str, file: str = "test.yaml") -> RuleSet:
    return load_documents([load_yaml_text(text, file)])


def real_alerts(suffix: str) -> list[tuple[Path, NormalizedAlert]]:
    """Every real 2026 Kafka notice whose file name ends with ``suffix``, in Kafka order."""
    files = sorted((SHARED_ALERTS / "gcn-kafka-2026").glob(f"*{suffix}"))
    return [(f, parse_alert(f.read_bytes(), capture_topic(f))) for f in files]


def parse_file(
    relative: str,
    topic: str,
    *,
    edit: tuple[str, str] | None = None,
    edits: tuple[tuple[str, str], ...] = (),
) -> NormalizedAlert:
    """A real alert from the corpus, optionally with textual edits (to make variants)."""
    data = (SHARED_ALERTS / relative).read_bytes()
    for old, new in (*([edit] if edit else []), *edits):
        assert old.encode() in data, f"{old!r} not in {relative}"
        data = data.replace(old.encode(), new.encode())
    return parse_alert(data, topic)
