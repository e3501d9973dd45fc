"""Several instances on PostgreSQL beside one on SQLite: throughput, latency and failover.

Issue 22's benchmark, in one run against one emulator and one private mosquitto:

1. Baseline: one daemon on SQLite (the latency benchmark's config: live mode, 100 rules, the
   matching one without ``settle``). Then 1, 2 and 3 daemons on one private PostgreSQL
   database (a fresh database per configuration; ``store.password_file``), each with its
   own ``client_id`` and the same ``share_group``, so the broker splits the alerts between
   them instead of giving each to all.
2. For each configuration: p50/p99 latency (published -> TOO POST received at the emulator,
   one clock in this process) at a steady rate, then throughput: a burst of distinct alerts
   published at once, alerts/s from the first publish to the last TOO POST received.
3. Failover: two daemons on PostgreSQL with ``store.lease`` 2 s; the emulator holds every
   TOO POST 1 s, one alert is published, and the instance that holds its 'submitting' row
   (read from the database) is sent SIGKILL, or SIGSTOP, as soon as the row is seen. From the
   signal: the row being taken over (``submission_log`` 'taken over by ...', the survivor's
   wall clock) and reconciled (its first move out of 'unknown'). Repeated; median and max.

Every daemon, the cluster, the broker and the temporary directories are stopped and removed
when the run ends, failed or not.

    uv run python -m bench.instances [--quick]
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from bench._common import (
    EP_TOPIC_MQTT,
    Row,
    Stamps,
    commit_ms,
    emit,
    emulator,
    mosquitto,
    percentile,
    quick_flag,
)
from bench._cpu import Busy, seconds, server_seconds
from bench._failover import AFTER_ALERTS, AFTER_WAIT_S, HOLD_S, LEASE_S, Failover, failover_trial
from bench._fleet import Bench, Hold, until_posted
from bench.latency import RUN, WARMUP, phase
from bench.pg_drivers import psycopg_sync
from tests.fixtures.pg_cluster import PG_PASSWORD, PG_USER, PgCluster, private_cluster

BASELINE = "SQLite, 1 instance"
IDLE_S = 5.0


@dataclass(frozen=True, slots=True)
class Plan:
    steady_rate: float  # alerts/s for the latency phase
    steady_count: int
    burst: int  # alerts published at once for the throughput phase
    trials: int  # failover trials per signal


FULL = Plan(steady_rate=5.0, steady_count=100, burst=300, trials=5)
QUICK = Plan(steady_rate=5.0, steady_count=25, burst=60, trials=2)


@dataclass(slots=True)
class Result:
    """One configuration's figures."""

    label: str
    latencies: list[float]
    throughput: float
    posts: int  # TOO POSTs the emulator received during the configuration
    alerts: int  # alerts published during it
    daemons_ms: float  # CPU per alert, every instance together (steady phase and burst)
    server_ms: float  # PostgreSQL's CPU per alert
    busy_cores: float  # the machine's busy cores during the burst (every user's processes)
    idle_ms: float  # the instances' CPU per second while nothing is published
    idle_server_ms: float  # PostgreSQL's, likewise
    commits: float  # PostgreSQL: transactions committed in the database, per alert
    flushes: float  # PostgreSQL: WAL flushes (fsyncs) of the server, per alert


async def configuration(bench: Bench, plan: Plan, label: str, urls: Sequence[str | None]) -> Result:
    """Latency at the steady rate, then the burst, with one daemon per entry of ``urls``."""
    group = bench.group()
    configs = [bench.config(url, group=group) for url in urls]
    posts_before = bench.stamps.count
    data_dir = bench.cluster.directory / "data"
    postgres = urls[0] is not None
    with bench.instances(configs) as procs:
        pids = [p.pid for p in procs]
        idle = _Cpu.now(pids, data_dir if postgres else None)
        await asyncio.sleep(IDLE_S)  # nothing published: what the instances cost by themselves
        cpu = _Cpu.now(pids, data_dir if postgres else None)
        idle = cpu - idle
        counted = await asyncio.to_thread(_pg_counters, urls[0])
        async with bench.publisher() as pub:
            first = pub.next_index
            latencies, _rate = await phase(
                pub, bench.stamps, EP_TOPIC_MQTT, plan.steady_count, plan.steady_rate
            )
            busy = Busy.now()
            keys = await pub.burst(EP_TOPIC_MQTT, plan.burst, 1e6)  # all at once
            await until_posted(bench.stamps, keys)
            busy = Busy.now() - busy
            began = min(pub.sent[k] for k in keys)
            ended = max(bench.stamps.at[k] for k in keys)
            alerts = pub.next_index - first
        # a second POST of one alert would arrive by now, and the server's backends have
        # reported their counters (at most once a second while busy)
        await asyncio.sleep(1.5)
        cpu = _Cpu.now(pids, data_dir if postgres else None) - cpu
        commits, flushes = (
            a - b
            for a, b in zip(await asyncio.to_thread(_pg_counters, urls[0]), counted, strict=True)
        )
        dead = [p.pid for p in procs if p.poll() is not None]
        assert not dead, f"{label}: instances {dead} exited during the run"
    return Result(
        label=label,
        latencies=latencies,
        throughput=plan.burst / ((ended - began) / 1e9),
        posts=bench.stamps.count - posts_before,
        alerts=alerts,
        daemons_ms=cpu.daemons / alerts * 1e3,
        server_ms=cpu.server / alerts * 1e3,
        busy_cores=busy.cores,
        idle_ms=idle.daemons / IDLE_S * 1e3,
        idle_server_ms=idle.server / IDLE_S * 1e3,
        commits=commits / alerts,
        flushes=flushes / alerts,
    )


def _pg_counters(url: str | None) -> tuple[int, int]:
    """The database's committed transactions and the server's WAL flushes so far (0, 0 on
    SQLite)."""
    if url is None:
        return 0, 0
    with psycopg.connect(url, password=PG_PASSWORD, autocommit=True) as conn:
        row = conn.execute(
            "SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = "
            "current_database()), (SELECT wal_sync FROM pg_stat_wal)"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


@dataclass(frozen=True, slots=True)
class _Cpu:
    """CPU seconds so far: the daemons' and the PostgreSQL server's."""

    daemons: float
    server: float

    @classmethod
    def now(cls, pids: Sequence[int], data_dir: Path | None) -> _Cpu:
        return cls(seconds(pids), 0.0 if data_dir is None else server_seconds(data_dir))

    def __sub__(self, other: _Cpu) -> _Cpu:
        return _Cpu(self.daemons - other.daemons, self.server - other.server)


async def measure(plan: Plan) -> tuple[list[Row], list[str]]:
    stamps = Stamps("/swift/too", RUN.encode() + rb"\d{7}")
    hold = Hold()
    with (
        tempfile.TemporaryDirectory(prefix="bench-instances-") as tmp,
        private_cluster() as cluster,
        mosquitto() as port,
        emulator(middlewares=[stamps.middleware(), hold.middleware()]) as emu,
    ):
        bench = Bench(port, emu, stamps, hold, cluster, Path(tmp))
        results = [await configuration(bench, plan, BASELINE, [None])]
        for n in (1, 2, 3):
            url = cluster.new_database()
            label = f"PostgreSQL, {n} instance{'s' if n > 1 else ''}"
            results.append(await configuration(bench, plan, label, [url] * n))
        failovers: dict[str, Failover] = {}
        for sig in (signal.SIGKILL, signal.SIGSTOP):
            failovers[sig.name] = Failover()
            for trial in range(plan.trials):
                await failover_trial(bench, sig, failovers[sig.name], intake=trial == 0)
        posted = _posted_per_alert(emu)
        commits = await asyncio.to_thread(_commits, cluster, Path(tmp))
    rows = [*_rows(results, failovers), *commits]
    return rows, _notes(plan, results, failovers, posted)


def _commits(cluster: PgCluster, tmp: Path) -> list[Row]:
    """One durable commit on each store, without autotoo: the floor each pays per commit
    (bench/pg_drivers.py's transaction, psycopg sync; the SQLite probe of bench/_common)."""
    url = cluster.new_database().replace(f"{PG_USER}@", f"{PG_USER}:{PG_PASSWORD}@", 1)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE bench_t (id BIGSERIAL PRIMARY KEY, k TEXT UNIQUE, v TEXT)")
    pg_ms = psycopg_sync(url, 500, "c") / 1e3
    return [
        Row("one durable commit, PostgreSQL (median of 500; baseline SQLite)", pg_ms, "ms",
            commit_ms(tmp), "-", None),
    ]  # fmt: skip


def _posted_per_alert(emu: Any) -> Counter[str]:
    """TOO POSTs the emulator acted on over the whole run, per alert (its event key)."""
    marker = re.compile(RUN + r"\d{7}")
    found = (marker.search(str(r.body)) for r in emu.swift.received if r.api == "/swift/too")
    return Counter(m.group(0) for m in found if m is not None)


def _rows(results: list[Result], failovers: dict[str, Failover]) -> list[Row]:
    base = results[0]
    rows = []
    for r in results:
        ref = None if r is base else base
        rows += [
            Row(f"{r.label}: throughput (burst)", r.throughput, "alerts/s",
                None if ref is None else ref.throughput, "-", None),
            Row(f"{r.label}: p50 latency", percentile(r.latencies, 50), "ms",
                None if ref is None else percentile(ref.latencies, 50), "-", None),
            Row(f"{r.label}: p99 latency", percentile(r.latencies, 99), "ms",
                None if ref is None else percentile(ref.latencies, 99), "-", None),
            Row(f"{r.label}: daemons' CPU per alert", r.daemons_ms, "ms",
                None if ref is None else ref.daemons_ms, "-", None),
            Row(f"{r.label}: cores busy during the burst", r.busy_cores, "cores",
                None if ref is None else ref.busy_cores, "-", None),
            Row(f"{r.label}: daemons' CPU while idle", r.idle_ms, "ms/s",
                None if ref is None else ref.idle_ms, "-", None),
        ]  # fmt: skip
        if r is not base:
            rows += [
                Row(f"{r.label}: PostgreSQL's CPU per alert", r.server_ms, "ms", None, "-", None),
                Row(
                    f"{r.label}: PostgreSQL's CPU while idle",
                    r.idle_server_ms,
                    "ms/s",
                    None,
                    "-",
                    None,
                ),
                Row(f"{r.label}: commits per alert", r.commits, "", None, "-", None),
                Row(f"{r.label}: WAL flushes per alert", r.flushes, "", None, "-", None),
            ]
    for name, f in failovers.items():
        n = len(f.taken)
        rows += [
            Row(f"{name} -> taken over, median of {n}", statistics.median(f.taken), "s",
                None, "-", None),
            Row(f"{name} -> taken over, max of {n}", max(f.taken), "s", LEASE_S,
                f"<= lease + 1 s ({LEASE_S + 1:g} s)", max(f.taken) <= LEASE_S + 1.0),
            Row(f"{name} -> reconciled, median of {n}", statistics.median(f.reconciled), "s",
                None, "-", None),
            Row(f"{name} -> reconciled, max of {n}", max(f.reconciled), "s", None, "-", None),
        ]  # fmt: skip
    return rows


def _notes(
    plan: Plan, results: list[Result], failovers: dict[str, Failover], posted: Counter[str]
) -> list[str]:
    counts = ", ".join(f"{r.label}: {r.posts} POSTs for {r.alerts} alerts" for r in results)
    outcomes = "; ".join(
        f"{name}: " + ", ".join(sorted(set(f.outcomes))) for name, f in failovers.items()
    )
    twice = sorted(k for k, n in posted.items() if n > 1)
    after = "; ".join(
        f"{name}: {', '.join(map(str, f.after))} of {AFTER_ALERTS}" for name, f in failovers.items()
    )
    histories = [
        f"{key} ({name}) was POSTed {posted[key]} times; its row's submission_log, from the "
        f"signal: {f.logs[key]}"
        for name, f in failovers.items()
        for key in twice
        if key in f.logs
    ]
    return [
        (
            "each configuration: daemon subprocesses (python -m autotoo run, live mode, the "
            "latency benchmark's 100 rules), one private mosquitto, one Swift emulator in this "
            "process; on PostgreSQL each instance has its own client_id and the same "
            "share_group ($share/bench-N/gcn/#, N per configuration); a fresh database each, "
            "in one private cluster (tests/fixtures/pg_cluster.py, loopback TCP)"
        ),
        (
            f"latency: {plan.steady_count} alerts at {plan.steady_rate:g}/s after {WARMUP} "
            "unmeasured ones, published -> TOO POST received (one clock)"
        ),
        (
            f"throughput: {plan.burst} distinct alerts published at once (QoS 1), first "
            "publish -> last TOO POST received; ratios are against the SQLite instance"
        ),
        (
            "CPU per alert: utime+stime from /proc over the steady phase and the burst "
            "(after READY), divided by the alerts published; the daemons' is every instance's "
            "together, PostgreSQL's is the postmaster's and its children's (the backends of "
            "the daemons' connections included); cores busy: the whole machine's /proc/stat "
            f"during the burst, of {os.cpu_count()}, other users' processes included"
        ),
        (
            f"CPU while idle: the same counters over {IDLE_S:g} s after READY with nothing "
            "published (timers: the submitter's rounds, the takeover watch, heartbeats), "
            "per second"
        ),
        (
            "commits per alert: pg_stat_database.xact_commit of the configuration's database "
            "(every committed transaction, reads outside a transaction included, one each); "
            "WAL flushes: pg_stat_wal.wal_sync of the server (the fsyncs a durable commit "
            "waits for; one flush can cover several instances' commits); both over the same "
            "window as the CPU, divided by the alerts"
        ),
        f"TOO POSTs received per configuration: {counts}",
        (
            f"failover: 2 instances, store.lease {LEASE_S:g} s, reconcile_delay 0.5 s; the "
            f"emulator holds each TOO POST {HOLD_S:g} s; the signal is sent as soon as the "
            "alert's 'submitting' row is seen (just after its lease was renewed by that "
            "commit), so the takeover waits out nearly the whole lease; times are from the "
            "signal to the survivor's submission_log entries (its wall clock, same host)"
        ),
        f"failover: the state each taken-over row left 'unknown' for: {outcomes}",
        "failover: the signalled instance had sent its POST before the signal (the emulator "
        "had it when the row was taken over) in "
        + "; ".join(
            f"{name}: {sum(f.arrived)} of {len(f.arrived)}" for name, f in failovers.items()
        )
        + " trials (otherwise the listing cannot find it until the instance, woken, sends it)",
        (
            f"failover, intake: {AFTER_ALERTS} alerts published just after a failover's "
            f"reconciliation reached a TOO within {AFTER_WAIT_S:g} s: {after}. The signalled "
            "instance's persistent MQTT session stays in the share group, and mosquitto "
            "queues its share there until it comes back (or the session expires)"
        ),
        (
            f"the emulator acted on {sum(posted.values())} TOO POSTs for {len(posted)} alerts "
            f"over the run; alerts POSTed more than once: {len(twice)} {twice[:5]}"
        ),
        *histories,
    ]


def main(argv: Sequence[str] | None = None) -> int:
    plan = QUICK if quick_flag(argv) else FULL
    started = time.monotonic()
    rows, notes = asyncio.run(measure(plan))
    notes.append(f"the whole run took {time.monotonic() - started:.0f} s")
    emit("Instances: 1, 2, 3 on PostgreSQL beside 1 on SQLite, and failover", rows, notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
