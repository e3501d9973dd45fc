"""A flood of matching alerts through the real daemon: no more TOOs than the budget.

1,000 distinct matching events (CI: ``AUTOTOO_CHAOS_FLOOD``, default 1,000) arrive on MQTT as
fast as one connection publishes them; the global budget is 5 TOOs per 24 h. Counted at the
Swift emulator: exactly the budget arrived; every other event is parked for a human.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3

import aiomqtt

from tests.chaos.conftest import Record, scale
from tests.chaos.streams import EP_TOPIC, RULES, ep_alert
from tests.fixtures.daemon import DaemonHarness, StatusCollector

BUDGET = 5


def submission_states(daemon: DaemonHarness) -> dict[str, int]:
    with contextlib.closing(sqlite3.connect(f"file:{daemon.state}?mode=ro", uri=True)) as db:
        return dict(db.execute("SELECT state, count(*) FROM submissions GROUP BY state"))


async def test_a_flood_submits_no_more_than_the_budget(
    make_emulator, mosquitto_factory, daemon_factory, chaos_record: Record
) -> None:
    flood = scale("flood", 1000)
    emulator = await make_emulator(speed=20_000)
    broker = mosquitto_factory()
    daemon: DaemonHarness = daemon_factory(broker_port=broker.port, emulator_root=emulator.root)
    fast_rule_only = RULES.split("  - name: ep-settled")[0].split("    xrt_products:")[0]
    daemon.configure(fast_rule_only + "    notify: [mqtt]\n", too_per_day=BUDGET)
    async with StatusCollector(broker.port) as status:
        await daemon.start()
        async with aiomqtt.Client("127.0.0.1", broker.port) as client:
            for number in range(1, flood + 1):
                await client.publish(EP_TOPIC, ep_alert(number), qos=1)
        parked = lambda: len(status.actions(state="needs_human"))  # noqa: E731 a short probe
        await status.wait_for(lambda: parked() >= flood - BUDGET, timeout=150)
        await asyncio.sleep(1.0)  # anything beyond the budget would have been sent by now
        assert await daemon.stop() == 0
    states = submission_states(daemon)
    chaos_record(
        "flood of matching alerts against the budget",
        alerts=flood,
        budget=BUDGET,
        toos=len(emulator.swift.toos),
        too_posts=sum(1 for r in emulator.swift.received if r.api == "/swift/too"),
        needs_human=states.get("needs_human", 0),
        submission_states=states,
    )
    assert len(emulator.swift.toos) == BUDGET
    assert sum(states.values()) == flood
    assert states.get("needs_human", 0) == flood - BUDGET
