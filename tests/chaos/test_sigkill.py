"""SIGKILL the real daemon at random moments while a stream of real alerts arrives.

Matching events (some with an update), events that are retracted while still settling, and
alerts no rule wants are published on a real mosquitto while the daemon is killed with
SIGKILL and restarted on the same state file, at moments drawn from a seeded RNG. Counted
afterwards at the emulators and in the state file: one TOO and one XRT job per matching
event and nothing else, every alert in the inbox, every submission in a terminal state, every
result stored once and published.
"""

from __future__ import annotations

import asyncio
import random

from tests.chaos.conftest import Record, scale
from tests.chaos.streams import (
    RULES,
    finish,
    make_stream,
    publish_stream,
    tune,
    verify,
)
from tests.fixtures.daemon import DaemonHarness, StatusCollector


async def test_sigkill_at_random_moments_submits_each_once(
    make_emulator, mosquitto_factory, daemon_factory, chaos_seed: int, chaos_record: Record
) -> None:
    rng = random.Random(chaos_seed)
    kills = scale("kills", 6)
    stream = make_stream(
        rng, fast=scale("fast_events", 4), settled=scale("retracted", 2), ignored=3
    )
    emulator = await make_emulator(speed=20_000)
    broker = mosquitto_factory()
    daemon: DaemonHarness = daemon_factory(broker_port=broker.port, emulator_root=emulator.root)
    daemon.configure(RULES, too_per_day=1000)
    tune(daemon.config, pipeline={"reconcile_delay": "0.5s", "retry_not_sent": "0.5s"})
    moments: list[float] = []
    async with StatusCollector(broker.port) as status:
        await daemon.start()
        sender = asyncio.create_task(publish_stream(broker.port, stream, rng))
        for _ in range(kills):
            moments.append(round(rng.uniform(0.05, 2.0), 3))
            await asyncio.sleep(moments[-1])
            await daemon.kill()
            await daemon.start()
        await sender
        unfinished = await finish(status, stream, daemon, timeout=60)
    counts, violations = verify(emulator, daemon.state, status, stream)
    violations = unfinished + violations
    chaos_record(
        "SIGKILL at random moments",
        kills=kills,
        kill_moments_s=moments,
        violations=violations,
        **counts,
    )
    assert violations == []
