"""The 'planned' status of a TOO says "settling until" only for a rule with ``settle``
(issue 16, item 6: a datetime is always truthy, so every planned TOO said it settled)."""

from __future__ import annotations

from datetime import timedelta

from tests.pipeline.conftest import Pipeline
from tests.pipeline.test_exactly_once import EP_TOPIC, ep_alert, rule


async def _planned_reasons(p: Pipeline) -> list[str | None]:
    return [
        n.get("reason")
        for n in await p.notices()
        if "/actions/" in n["_topic"] and (n["action"], n["state"]) == ("too", "planned")
    ]


async def test_a_rule_without_settle_plans_without_settling(make_emulator, make_pipeline) -> None:
    p: Pipeline = await make_pipeline(await make_emulator(), rule())
    await p.feed(ep_alert(), EP_TOPIC)
    assert await _planned_reasons(p) == [None]


async def test_a_settling_rule_says_until_when(make_emulator, make_pipeline) -> None:
    p: Pipeline = await make_pipeline(await make_emulator(), rule(extra="settle: 10m"))
    await p.feed(ep_alert(), EP_TOPIC)
    until = p.clock() + timedelta(minutes=10)
    assert await _planned_reasons(p) == [f"settling until {until:%H:%M:%S}Z"]
