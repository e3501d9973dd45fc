"""SIGKILL the real daemon at several points of the pipeline, restart it on the same state,
and count at the emulators what arrived: every TOO and XRT job exactly once, none lost."""

from __future__ import annotations

import asyncio

from autotoo.emulators.ukssdc.routes import SERVICE_KEY
from tests.fixtures.daemon import StatusCollector, publish
from tests.pipeline.test_end_to_end import RULE, SHARED

EP_ALERTS = sorted((SHARED / "gcn-kafka-2026").glob("*einstein_probe_wxt_alert.json"))


def _distinct_events(count: int) -> list[bytes]:
    """Real EP alerts of ``count`` different events (their ids differ)."""
    import json  # noqa: PLC0415

    seen: dict[str, bytes] = {}
    for path in EP_ALERTS:
        raw = path.read_bytes()
        ident = json.loads(raw).get("id")
        key = str(ident[0] if isinstance(ident, list) else ident)
        seen.setdefault(key, raw)
    assert len(seen) >= count
    return list(seen.values())[:count]


async def test_kill_minus_nine_at_every_stage_submits_each_once(
    make_emulator, mosquitto_factory, daemon_factory
) -> None:
    emulator = await make_emulator(speed=20_000)
    broker = mosquitto_factory()
    daemon = daemon_factory(broker_port=broker.port, emulator_root=emulator.root)
    daemon.configure(RULE)
    alerts = _distinct_events(3)
    kills = 0
    async with StatusCollector(broker.port) as status:
        await daemon.start()
        for raw in alerts:
            await publish(broker.port, "gcn/notices/einstein_probe/wxt/alert", raw)
        # Kill at growing delays after each start: during intake, evaluation, the TOO POST,
        # tracking, the XRT submission and result retrieval.
        for delay in (0.0, 0.05, 0.15, 0.3, 0.6, 1.0, 1.5, 2.5):
            await asyncio.sleep(delay)
            await daemon.kill()
            kills += 1
            await daemon.start()

        def done() -> bool:
            complete = status.actions(action="xrt_products", state="complete")
            return len({m["event_key"] for m in complete if "products" in m}) == len(alerts)

        await status.wait_for(done, timeout=120)
        assert await daemon.stop() == 0
    toos = list(emulator.swift.toos.values())
    jobs = emulator.app[SERVICE_KEY].jobs.of_user("astronomer@example.org")
    assert kills == 8
    assert len(toos) == len(alerts), [t.form.target_name for t in toos]
    assert len({t.form.target_name for t in toos}) == len(alerts)
    assert len(jobs) == len(alerts), [j.name for j in jobs]
    assert sorted(j.pars["targ"] for j in jobs) == sorted(f"{t.target_id:08d}" for t in toos)
    needs_human = status.actions(state="needs_human")
    assert needs_human == []
