"""The whole loop with real parts: mosquitto, the daemon process, both emulators.

A real Einstein Probe WXT alert is published on MQTT; the daemon must submit exactly one TOO,
follow it until the emulated Swift observes the target, then request XRT products with the
observed target ID, follow the job to completion, and publish the positions.
"""

from __future__ import annotations

from autotoo.demo import DEMO_RULE
from autotoo.emulators.ukssdc.routes import SERVICE_KEY
from tests.alerts.alert_corpus import CORPUS
from tests.fixtures.daemon import StatusCollector, publish

SHARED = CORPUS
EP_ALERT = min((SHARED / "gcn-kafka-2026").glob("*einstein_probe_wxt_alert.json"))

RULE = DEMO_RULE  # the packaged demo rule: this test also guards `autotoo demo`


def _ukssdc_jobs(emulator) -> list:
    return emulator.app[SERVICE_KEY].jobs.of_user("astronomer@example.org")


async def test_alert_to_too_to_observation_to_products(
    make_emulator, mosquitto_factory, daemon_factory
) -> None:
    emulator = await make_emulator(speed=20_000)
    broker = mosquitto_factory()
    daemon = daemon_factory(broker_port=broker.port, emulator_root=emulator.root)
    daemon.configure(RULE)
    raw = EP_ALERT.read_bytes()
    async with StatusCollector(broker.port) as status:
        await daemon.start()
        await publish(broker.port, "gcn/notices/einstein_probe/wxt/alert", raw)
        await status.wait_for(
            lambda: any(
                m.get("position", {}).get("source") == "xrt_enhanced"
                for m in status.actions(action="xrt_products", state="complete")
            ),
            timeout=90,
        )
        # the same alert again (a redelivery, or a second transport): nothing new
        await publish(broker.port, "gcn/notices/einstein_probe/wxt/alert", raw)
        await status.wait_for(
            lambda: any(e.get("event") == "duplicate ignored" for e in daemon.logs()), timeout=30
        )
        assert await daemon.stop() == 0
    toos = list(emulator.swift.toos.values())
    assert len(toos) == 1, toos
    too = toos[0]
    assert too.username == "myuser"
    assert too.form.urgency == 3
    jobs = _ukssdc_jobs(emulator)
    assert len(jobs) == 1
    observed_target = f"{too.target_id:08d}"
    assert jobs[0].pars["targ"] == observed_target  # products of what Swift observed
    assert jobs[0].targets == [too.target_id]
    states = [(m["action"], m["state"]) for m in status.actions(rule="demo-ep-wxt")]
    for expected in [
        ("too", "planned"),
        ("too", "submitting"),
        ("too", "accepted"),
        ("too", "observed"),
        ("xrt_products", "submitted"),
        ("xrt_products", "complete"),
    ]:
        assert expected in states, states
    positions = {
        m["position"]["source"]: m["position"]
        for m in status.actions(rule="demo-ep-wxt")
        if "position" in m and m["position"]["source"].startswith("xrt")
    }
    assert {"xrt_standard", "xrt_enhanced"} <= set(positions)
    assert positions["xrt_enhanced"]["err90_arcsec"] < 10
