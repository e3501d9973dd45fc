"""A reload's settings reach the running pipeline: the components read them through one
function that keeps them per loaded config (wiring.build_components), not per call."""

from __future__ import annotations

import signal

from tests.chaos.streams import ep_alert
from tests.fixtures.daemon import StatusCollector, publish
from tests.pipeline.test_accounts import rules, users


async def test_a_daily_cap_lowered_by_a_reload_parks_the_next_too(
    make_emulator, mosquitto_factory, daemon_factory
) -> None:
    emulator = await make_emulator(speed=20_000, users=users())
    broker = mosquitto_factory()
    daemon = daemon_factory(broker_port=broker.port, emulator_root=emulator.root)
    only_ours = rules().split("  - name: theirs")[0]
    daemon.configure(only_ours, too_per_day=5)
    async with StatusCollector(broker.port) as status:
        await daemon.start()
        await publish(broker.port, "gcn/notices/einstein_probe/wxt/alert", ep_alert(7))
        await status.wait_for(lambda: status.actions(action="too", state="accepted"), timeout=60)
        daemon.configure(only_ours, too_per_day=1)  # one TOO today already: the cap is reached
        assert daemon.proc is not None
        daemon.proc.send_signal(signal.SIGHUP)
        await status.wait_for(
            lambda: any(e.get("event") == "reloaded" for e in daemon.logs()), timeout=30
        )
        await publish(broker.port, "gcn/notices/einstein_probe/wxt/alert", ep_alert(8))
        await status.wait_for(lambda: status.actions(state="needs_human"), timeout=60)
        assert await daemon.stop() == 0
    parked = status.actions(action="too", state="needs_human")
    assert [m["reason"] for m in parked] == ["global budget exhausted: 1 of 1 TOOs in 24 h"]
    assert parked[0]["event_key"].endswith("8")  # the second alert's; the first was sent
    assert len(emulator.swift.toos) == 1
