"""SIGKILL the real daemon the instant it logs a TOO's observation, TOO after TOO.

That is the moment the tracker used to stand between storing the observation and releasing
the rule's ``after_observation`` XRT job (separate commits): a kill there left the TOO
'done' and the job 'planned' for ever. Several matching events are published on a real
mosquitto; each time the daemon writes its "observed" line it is killed (by a thread
reading its output through a pipe) and restarted on the same state file. Counted afterwards
at the emulators and in the state file: one TOO and exactly one XRT job per event, with the
observed target; no row left waiting; how many follow-ups the start-up sweep had to repair.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import sqlite3
from datetime import datetime
from typing import Any

from autotoo.emulators.ukssdc.routes import SERVICE_KEY
from tests.chaos.conftest import Record, scale
from tests.chaos.streams import (
    EP_TOPIC,
    RULES,
    UKSSDC_USER,
    completed_events,
    dump_status,
    ep_alert,
    event_key,
    tune,
)
from tests.fixtures.daemon import DaemonHarness, StatusCollector, publish
from tests.fixtures.mosquitto import free_port

# ep-fast only: a TOO at once, then XRT products of the observed target.
FAST_RULE = RULES.split("  - name: ep-settled")[0]
OBSERVED = b'"event": "observed"'


def _waiting_and_states(daemon: DaemonHarness) -> tuple[int, dict[str, int]]:
    """Rows still waiting for an observation, and submissions by api:state."""
    with contextlib.closing(sqlite3.connect(f"file:{daemon.state}?mode=ro", uri=True)) as db:
        waiting = db.execute(
            "SELECT COUNT(*) FROM submissions WHERE state = 'planned' AND next_at IS NULL"
        ).fetchone()[0]
        states = db.execute("SELECT api || ':' || state, COUNT(*) FROM submissions GROUP BY 1")
        return int(waiting), {str(k): int(n) for k, n in states}


def _kill_lags_ms(daemon: DaemonHarness) -> list[float]:
    """From the daemon's timestamp on each "observed" line to the SIGKILL, in ms."""
    lags = []
    for killed_at, line in daemon.kills:
        logged = json.loads(line[line.index(b">") + 1 :])["timestamp"]
        lags.append(round((killed_at - datetime.fromisoformat(logged).timestamp()) * 1000, 1))
    return lags


async def _until_killed(
    daemon: DaemonHarness, status: StatusCollector, events: set[str], timeout: float = 15.0
) -> bool:
    """Wait until the watcher killed the daemon (True), or every event is done or nothing
    was observed for ``timeout`` seconds (False: a lost follow-up waits for ever)."""
    assert daemon.proc is not None
    deadline = asyncio.get_running_loop().time() + timeout
    while daemon.proc.poll() is None:
        if completed_events(status) >= events or asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


async def test_sigkill_as_each_observation_is_logged_loses_no_followup(
    make_emulator: Any,
    mosquitto_factory: Any,
    daemon_factory: Any,
    chaos_seed: int,
    chaos_record: Record,
) -> None:
    rng = random.Random(chaos_seed)
    count = scale("observed_events", 3)
    numbers = [rng.randrange(1_000_000) * 100 + i for i in range(count)]
    events = {event_key(n) for n in numbers}
    emulator = await make_emulator(speed=20_000)
    broker = mosquitto_factory()
    daemon: DaemonHarness = daemon_factory(broker_port=broker.port, emulator_root=emulator.root)
    daemon.configure(FAST_RULE, too_per_day=1000)
    tune(daemon.config, pipeline={"reconcile_delay": "0.5s", "retry_not_sent": "0.5s"})
    unfinished: list[str] = []
    async with StatusCollector(broker.port) as status:
        await daemon.start(kill_on=OBSERVED)
        for number in numbers:
            await publish(broker.port, EP_TOPIC, ep_alert(number))
            await asyncio.sleep(rng.uniform(0.0, 0.5))
        # Every observation logged is a kill; a TOO whose observation was not stored is
        # observed (and logged) again after the restart. At most one more than the events:
        # a kill can also land before the observation's commit.
        while len(daemon.kills) <= count and await _until_killed(daemon, status, events):
            await daemon.kill()  # reaps it
            await daemon.start(kill_on=OBSERVED)
        try:
            await status.wait_for(lambda: completed_events(status) >= events, timeout=20)
        except AssertionError:
            unfinished.append("not every event got its XRT products within 20 s")
        dump_status(status, daemon.workdir / "status.jsonl")
        if await daemon.stop() != 0:
            unfinished.append("the daemon did not stop cleanly on SIGTERM")
    toos = list(emulator.swift.toos.values())
    jobs = emulator.app[SERVICE_KEY].jobs.of_user(UKSSDC_USER)
    observed = {f"{t.target_id:08d}" for t in toos if t.target_id is not None}
    targs = [str(j.pars["targ"]) for j in jobs]
    waiting, states = _waiting_and_states(daemon)
    repairs = [e for e in daemon.logs() if e.get("event") == "stranded follow-up repaired"]
    counts = {
        "events": count,
        "kills_at_observed": len(daemon.kills),
        "kill_lag_ms": _kill_lags_ms(daemon),
        "toos": len(toos),
        "xrt_jobs": len(jobs),
        "lost_followups": len(observed - set(targs)),
        "followups_waiting_in_state": waiting,
        "sweep_repairs": len(repairs),
        "submission_states": states,
    }
    violations = unfinished + [
        what
        for what, wrong in {
            f"{len(toos)} TOOs for {count} events": len(toos) != count,
            f"XRT jobs {sorted(targs)} are not one per observed TOO {sorted(observed)}": sorted(
                targs
            )
            != sorted(observed),
            f"{waiting} follow-ups still waiting": waiting != 0,
            "no kill landed at an observation": not daemon.kills,
            f"not all done: {states}": set(states) != {"swift_too:done", "ukssdc_xrt:done"},
        }.items()
        if wrong
    ]
    chaos_record("SIGKILL as each observation is logged", violations=violations, **counts)
    assert violations == []


async def test_the_start_up_sweep_repairs_the_state_an_earlier_version_left(
    make_emulator: Any, mosquitto_factory: Any, daemon_factory: Any, chaos_record: Record
) -> None:
    """The state file as the daemon before the fix left it after that SIGKILL (TOO 'done',
    its XRT job waiting, no target ID), given to this version: the sweep at start releases
    the job, which then reaches the UKSSDC once."""
    emulator = await make_emulator(speed=20_000)
    broker = mosquitto_factory()
    daemon: DaemonHarness = daemon_factory(broker_port=broker.port, emulator_root=emulator.root)
    # A closed port as the UKSSDC until the kill: on a loaded machine the kill can land
    # after the released job was already being sent, and this test needs it unsent.
    daemon.configure(FAST_RULE, too_per_day=1000, ukssdc_url=f"http://127.0.0.1:{free_port()}")
    async with StatusCollector(broker.port) as status:
        await daemon.start(kill_on=OBSERVED)
        await publish(broker.port, EP_TOPIC, ep_alert(4242))
        assert await _until_killed(daemon, status, {event_key(4242)}, timeout=30)
        await daemon.kill()
        daemon.configure(FAST_RULE, too_per_day=1000)
        with contextlib.closing(sqlite3.connect(daemon.state)) as db, db:
            # The earlier version's state: the job waiting (planned, no next time, no target
            # ID). On a loaded machine the kill can land after the released job was claimed
            # for its (refused) POST; that earlier version never got that far, so the row is
            # put back as it left it.
            db.execute(
                "UPDATE submissions SET state = 'planned', sent_at = NULL, next_at = NULL, "
                "request = json_remove(request, '$.request.globals.targ') WHERE api = 'ukssdc_xrt'"
            )
            db.execute(
                "UPDATE submissions SET state = 'done', next_at = NULL WHERE api = 'swift_too'"
            )
        assert _waiting_and_states(daemon) == (1, {"swift_too:done": 1, "ukssdc_xrt:planned": 1})
        await daemon.start()
        await status.wait_for(lambda: event_key(4242) in completed_events(status), timeout=30)
        assert await daemon.stop() == 0
    repairs = [e for e in daemon.logs() if e.get("event") == "stranded follow-up repaired"]
    [too] = emulator.swift.toos.values()
    jobs = emulator.app[SERVICE_KEY].jobs.of_user(UKSSDC_USER)
    chaos_record("start-up sweep on an earlier version's state", sweep_repairs=len(repairs))
    assert [(r["repair"], r["reason"]) for r in repairs] == [
        ("released", f"released: the TOO was observed (['{too.target_id:08d}'])")
    ]
    assert [j.pars["targ"] for j in jobs] == [f"{too.target_id:08d}"]
