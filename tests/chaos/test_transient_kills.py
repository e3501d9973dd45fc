"""SIGKILL while one burst's notices from four missions are associated and arbitrated.

Each burst is Fermi GBM, Swift BAT, SVOM ECLAIRs and Einstein Probe WXT notices of one
source (real notices aligned in time and position, ``tests/pipeline/bursts.py``), and two
rules want a TOO for it (a GRB rule and an EP rule of higher priority). The real daemon is
killed with SIGKILL at random moments, and on the log line of an evaluated alert (the
commit of an association and its plan has just happened), and restarted on the same state
file. Counted at the emulator: exactly one TOO per burst, at the burst's position.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sqlite3
from datetime import UTC, datetime, timedelta

from autotoo.alerts.values import separation_deg
from tests.chaos.conftest import Record, scale
from tests.chaos.streams import tune
from tests.fixtures.daemon import DaemonHarness, publish
from tests.pipeline.bursts import BAT, ECLAIRS, GBM, WXT, aligned

TOO = """\
    too:
      source_name: "{name} {{{{ alert.event_key }}}}"
      source_type: X-ray transient
      position: alert
      instrument: XRT
      urgency: 3
      obs_type: Light Curve
      exp_time_per_visit: 2000
      num_of_visits: 1
      xrt_countrate: 0.5
      immediate_objective: "Localise {{{{ alert.group_key }}}}"
      science_just: "A new burst; XRT localises it."
      exp_time_just: "2 ks reaches the flux needed."
"""
RULES = (
    "rules:\n"
    "  - name: grb-any\n"
    "    match: {missions: [fermi, swift, svom]}\n"
    "    when: alert.ra != null && alert.error_deg != null && alert.error_deg < 10.0\n"
    + TOO.format(name="GRB")
    + "  - name: ep-wxt\n"
    "    match: {missions: [einstein_probe]}\n"
    "    priority: 10\n" + TOO.format(name="EP")
)


def _burst(number: int, t0: datetime, rng: random.Random) -> list[tuple[str, bytes]]:
    """Four missions' notices of burst ``number`` at its own place, in a shuffled order
    (GBM's own notices keep theirs)."""
    where = (round(30.0 + 9.7 * number % 90.0, 3), round(-30.0 + 13.0 * number % 60.0, 3))
    gbm = [
        (topic, aligned(name, topic, trigger=t0, position=where, key=f"9{number:08d}"))
        for name, topic in GBM[1:]
    ]
    others = [
        (
            BAT[1],
            aligned(*BAT, trigger=t0 + timedelta(seconds=2), position=where, key=f"8{number:06d}"),
        ),
        (
            ECLAIRS[1],
            aligned(
                *ECLAIRS, trigger=t0 + timedelta(seconds=1), position=where, key=f"sb9{number:07d}"
            ),
        ),
        (
            WXT[1],
            aligned(
                *WXT, trigger=t0 + timedelta(seconds=40), position=where, key=f"07{number:09d}"
            ),
        ),
    ]
    rng.shuffle(others)
    merged: list[tuple[str, bytes]] = []
    while gbm or others:
        queue = rng.choice([q for q in (gbm, others) if q])
        merged.append(queue.pop(0))
    return merged


def _positions(bursts: int) -> list[tuple[float, float]]:
    return [
        (round(30.0 + 9.7 * n % 90.0, 3), round(-30.0 + 13.0 * n % 60.0, 3)) for n in range(bursts)
    ]


def _settled(state: object) -> bool:
    """Every alert evaluated and no request between states (read-only, between kills)."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{state}?mode=ro", uri=True)) as db:
            new = db.execute("SELECT count(*) FROM inbox WHERE status = 'new'").fetchone()[0]
            moving = db.execute(
                "SELECT count(*) FROM submissions WHERE state IN "
                "('planned', 'submitting', 'unknown')"
            ).fetchone()[0]
    except sqlite3.Error:
        return False
    return new == 0 and moving == 0


async def test_sigkill_during_association_never_makes_two_toos_for_one_transient(
    make_emulator, mosquitto_factory, daemon_factory, chaos_seed: int, chaos_record: Record
) -> None:
    rng = random.Random(chaos_seed)
    bursts = scale("transient_bursts", 4)
    kills = scale("transient_kills", 4)
    emulator = await make_emulator(speed=20_000)
    broker = mosquitto_factory()
    daemon: DaemonHarness = daemon_factory(broker_port=broker.port, emulator_root=emulator.root)
    daemon.configure(RULES, too_per_day=1000)
    tune(daemon.config, pipeline={"reconcile_delay": "0.5s", "retry_not_sent": "0.5s"})
    start = datetime.now(UTC) - timedelta(hours=bursts + 1)
    messages = [m for n in range(bursts) for m in _burst(n, start + timedelta(hours=n), rng)]
    moments: list[float] = []
    await daemon.start()

    async def send() -> None:
        for topic, raw in messages:
            await publish(broker.port, topic.replace(".", "/"), raw)
            await asyncio.sleep(rng.uniform(0.0, 0.15))

    sender = asyncio.create_task(send())
    for index in range(kills):
        if index % 2 == 0:
            moments.append(round(rng.uniform(0.05, 1.0), 3))
            await asyncio.sleep(moments[-1])
            await daemon.kill()
            await daemon.start()
        else:  # the moment an evaluated alert (its association, its plan) was committed
            await daemon.kill()
            await daemon.start(kill_on=b'"alert evaluated"')
            await asyncio.sleep(1.0)
            if daemon.proc is not None and daemon.proc.poll() is not None:
                await daemon.start()
            else:
                await daemon.kill()
                await daemon.start()
    await sender
    deadline = asyncio.get_running_loop().time() + 60
    while asyncio.get_running_loop().time() < deadline:
        if len(emulator.swift.toos) >= bursts and _settled(daemon.state):
            break
        await asyncio.sleep(0.3)
    await asyncio.sleep(1.0)  # anything still on its way would show now
    code = await daemon.stop()
    per_burst = [0] * bursts
    stray = 0
    for too in emulator.swift.toos.values():
        near = [
            i
            for i, (ra, dec) in enumerate(_positions(bursts))
            if separation_deg(ra, dec, float(too.form.ra), float(too.form.dec)) < 0.1
        ]
        if near:
            per_burst[near[0]] += 1
        else:
            stray += 1
    with contextlib.closing(sqlite3.connect(f"file:{daemon.state}?mode=ro", uri=True)) as db:
        transients = db.execute("SELECT count(*) FROM transients").fetchone()[0]
        inbox = db.execute("SELECT count(*) FROM inbox").fetchone()[0]
    violations = [
        what
        for what, failed in {
            f"TOOs per burst {per_burst} (want one each)": per_burst != [1] * bursts,
            f"{stray} TOO(s) at no burst's position": stray != 0,
            f"{transients} transients for {bursts} bursts": transients != bursts,
            f"{inbox} inbox rows for {len(messages)} notices": inbox != len(messages),
            f"the daemon exited with {code} on SIGTERM": code != 0,
        }.items()
        if failed
    ]
    chaos_record(
        "SIGKILL during association and arbitration",
        bursts=bursts,
        notices=len(messages),
        kills=kills,
        kill_moments_s=moments,
        kills_on_evaluated=len(daemon.kills),
        toos=len(emulator.swift.toos),
        transients=transients,
        violations=violations,
    )
    assert violations == []
