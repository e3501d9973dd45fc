"""Impossible alerts are refused, never acted on (issue 16, item 4).

A trigger (or issue) time further in the future than ``max_clock_skew``, and an alert that
names no event (an Einstein Probe notice with ``"id": [""]``), are stored as unparsed with
the reason: never grouped into an event, never evaluated, never a TOO. Real store, real
parsers, the Swift emulator counting what reaches it.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from autotoo.config.load import load_config
from autotoo.wiring import pipeline_settings
from tests.chaos.streams import RULES, ep_alert
from tests.pipeline.conftest import Pipeline

EP = "gcn.notices.einstein_probe.wxt.alert"


def _ep(number: int, **changes: object) -> bytes:
    return json.dumps(json.loads(ep_alert(number)) | changes).encode()


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"trigger_time": "3026-04-30T02:32:47.999Z"}, "trigger time 3026-04-30"),
        ({"trigger_time": "9999-12-31T23:59:59Z"}, "trigger time 9999-12-31"),
        ({"alert_datetime": "3026-01-01T00:00:00Z"}, "issue time 3026-01-01"),
        ({"id": [""]}, "names no event"),
        ({"id": []}, "names no event"),
    ],
)
async def test_an_impossible_alert_is_refused_and_nothing_is_sent(
    make_emulator, make_pipeline, changes: dict[str, object], reason: str
) -> None:
    emulator = await make_emulator()
    p: Pipeline = await make_pipeline(emulator, RULES)
    await p.feed(_ep(1, **changes), EP)
    await p.run(3)
    (row,) = await p.repo.inbox_list()
    assert row.status == "unparsed"
    assert reason in (row.reason or ""), row.reason
    assert (row.reason or "").startswith("refused: ")
    assert await p.rows() == []
    assert emulator.swift.toos == {}
    assert p.processor.counters.parsed == 0


async def test_a_trigger_time_within_the_clock_skew_is_acted_on(
    make_emulator, make_pipeline
) -> None:
    emulator = await make_emulator()
    p: Pipeline = await make_pipeline(emulator, RULES)
    soon = p.clock() + timedelta(minutes=4)  # the default skew is 5 minutes
    await p.feed(_ep(2, trigger_time=soon.isoformat().replace("+00:00", "Z")), EP)
    await p.run(2)
    assert [(r.rule, r.api) for r in await p.rows()][:1] == [("ep-fast", "swift_too")]
    assert len(emulator.swift.toos) == 1


async def test_the_clock_skew_is_configurable(make_emulator, make_pipeline) -> None:
    emulator = await make_emulator()
    p: Pipeline = await make_pipeline(emulator, RULES, max_clock_skew=timedelta(seconds=30))
    soon = p.clock() + timedelta(minutes=1)
    await p.feed(_ep(3, trigger_time=soon.isoformat().replace("+00:00", "Z")), EP)
    (row,) = await p.repo.inbox_list()
    assert row.status == "unparsed"
    assert "max_clock_skew 0:00:30" in (row.reason or "")


async def test_a_refused_copy_does_not_shadow_the_real_notice(make_emulator, make_pipeline) -> None:
    """The real notice after an impossible one with the same id: evaluated, one TOO."""
    emulator = await make_emulator()
    p: Pipeline = await make_pipeline(emulator, RULES)
    await p.feed(_ep(4, trigger_time="9999-12-31T23:59:59Z"), EP)
    await p.feed(ep_alert(4), EP)
    await p.run(2)
    assert [r.status for r in await p.repo.inbox_list()] == ["processed", "unparsed"]
    assert len(emulator.swift.toos) == 1


def test_max_clock_skew_is_a_config_key(tmp_path: Path) -> None:
    config = tmp_path / "autotoo.yaml"
    config.write_text(f"state: sqlite:///{tmp_path}/s.db\nmax_clock_skew: 90s\n")
    assert pipeline_settings(load_config(config)).max_clock_skew == timedelta(seconds=90)
    config.write_text(f"state: sqlite:///{tmp_path}/s.db\n")
    assert pipeline_settings(load_config(config)).max_clock_skew == timedelta(minutes=5)
