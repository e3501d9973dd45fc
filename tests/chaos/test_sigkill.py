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
import json
import random
from collections import Counter
from pathlib import Path

from autotoo.emulators.ukssdc.routes import SERVICE_KEY
from tests.chaos.conftest import Record, scale
from tests.chaos.streams import RULES, UKSSDC_USER, Stream, make_stream, read_state, tune
from tests.fixtures.daemon import DaemonHarness, StatusCollector, publish

TERMINAL = {"done", "rejected", "failed", "cancelled"}


async def publish_stream(port: int, stream: Stream, rng: random.Random) -> None:
    for topic, raw in stream.messages:
        await publish(port, topic, raw)
        await asyncio.sleep(rng.uniform(0.0, 0.25))


def dump_status(status: StatusCollector, path: Path) -> None:
    """What the collector saw, next to the daemon's logs, for the post-mortem of a seed."""
    path.write_text("".join(json.dumps([t, m]) + "\n" for t, m in status.messages))


def event_key(number: int) -> str:
    return f"einstein_probe:0999{number:07d}"


def completed(status: StatusCollector, stream: Stream) -> bool:
    keys = {event_key(n) for n in stream.fast}
    done = {
        m["event_key"]
        for m in status.actions(action="xrt_products", state="complete")
        if "products" in m
    }
    cancelled = {m["event_key"] for m in status.actions(state="cancelled")}
    return keys <= done and {event_key(n) for n in stream.settled_retracted} <= cancelled


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
        try:
            await status.wait_for(lambda: completed(status, stream), timeout=60)
        finally:
            dump_status(status, daemon.workdir / "status.jsonl")
        assert await daemon.stop() == 0
    toos = list(emulator.swift.toos.values())
    jobs = emulator.app[SERVICE_KEY].jobs.of_user(UKSSDC_USER)
    state = read_state(daemon.state)
    results = Counter(state.results)
    published = Counter(
        m["event_key"]
        for m in status.actions(action="xrt_products", state="complete")
        if "products" in m
    )
    chaos_record(
        "SIGKILL at random moments",
        kills=kills,
        kill_moments_s=moments,
        alerts_published=len(stream.messages),
        alerts_distinct=len(stream.distinct),
        inbox_rows=len(state.inbox_digests),
        expected_toos=len(stream.fast),
        toos=len(toos),
        expected_xrt_jobs=len(stream.fast),
        xrt_jobs=len(jobs),
        retracted_withheld=len(stream.settled_retracted),
        submissions_not_terminal=sum(1 for s in state.submissions if s[3] not in TERMINAL),
        results_stored=len(results),
        results_stored_twice=sum(1 for c in results.values() if c > 1),
        results_published=sum(published.values()),
        results_published_events=len(published),
    )
    # every alert is in the inbox, once
    assert state.inbox_digests == stream.distinct
    assert state.inbox_status.get("new", 0) == 0
    # exactly one TOO per matching event, none for the rest
    names = Counter(t.form.target_name for t in toos)
    assert sorted(names) == sorted(f"EP0999{n:07d}" for n in stream.fast), names
    assert set(names.values()) == {1}
    # exactly one XRT job per observed TOO, for the observed target
    assert sorted(j.pars["targ"] for j in jobs) == sorted(f"{t.target_id:08d}" for t in toos)
    # every submission reached a terminal state; the retracted ones were withheld
    assert [s for s in state.submissions if s[3] not in TERMINAL] == []
    withheld = {s[2] for s in state.submissions if s[1] == "ep-settled"}
    assert {s[3] for s in state.submissions if s[1] == "ep-settled"} == {"cancelled"}
    assert withheld == {event_key(n) for n in stream.settled_retracted}
    # results stored once, and published for every event
    assert set(results.values()) == {1}
    assert set(published) == {event_key(n) for n in stream.fast}
    assert status.actions(state="needs_human") == []
