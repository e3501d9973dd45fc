"""Failover of two instances on PostgreSQL: the one holding a 'submitting' row is signalled
mid-POST; from the signal, the row's takeover and reconciliation (bench/instances.py)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg

from bench._common import EP_TOPIC_MQTT
from bench._fleet import Bench, until_posted
from tests.fixtures.pg_cluster import PG_PASSWORD

LEASE_S = 2.0
HOLD_S = 1.0  # the emulator's hold of each TOO POST during the failover trials
AFTER_ALERTS = 6  # published after a failover, to the group the signalled instance is in
AFTER_WAIT_S = 8.0


@dataclass(slots=True)
class Failover:
    """Seconds from each signal to the row's takeover and to its reconciliation."""

    taken: list[float] = field(default_factory=list)
    reconciled: list[float] = field(default_factory=list)
    outcomes: list[str] = field(default_factory=list)  # the state it was reconciled to
    after: list[int] = field(default_factory=list)  # of AFTER_ALERTS, TOOs POSTed in time
    logs: dict[str, str] = field(default_factory=dict)  # per alert, its row's history
    arrived: list[bool] = field(default_factory=list)  # its POST had been sent


def _parse(at: str) -> datetime:
    return datetime.strptime(at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _sending(conn: psycopg.Connection[Any]) -> list[tuple[int, int]]:
    """(submission id, owner's pid) of every 'submitting' row under a live lease."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    rows = conn.execute(
        "SELECT id, lease_owner FROM submissions WHERE state = 'submitting' "
        "AND lease_until > %s ORDER BY id",
        (now,),
    ).fetchall()
    return [(int(i), int(owner.split(":")[1])) for i, owner in rows]


def _log(conn: psycopg.Connection[Any], sub_id: int, signalled: datetime) -> str:
    """The row's whole submission_log, times from the signal: shown for an alert the
    emulator received more than one POST for."""
    rows = conn.execute(
        "SELECT from_state, to_state, at, detail FROM submission_log "
        "WHERE submission_id = %s ORDER BY id",
        (sub_id,),
    ).fetchall()
    return "; ".join(
        f"{(_parse(at) - signalled).total_seconds():+.2f} s {frm}->{to} ({detail or ''})"
        for frm, to, at, detail in rows
    )


def _history(conn: psycopg.Connection[Any], sub_id: int) -> tuple[str | None, str | None, str]:
    """When the row was first taken over, when it first left 'unknown' after that (a listing
    that does not find it yet keeps it 'unknown'), and to which state ('' while it has not)."""
    rows = conn.execute(
        "SELECT from_state, to_state, at, detail FROM submission_log "
        "WHERE submission_id = %s ORDER BY id",
        (sub_id,),
    ).fetchall()
    taken = next((at for _f, _t, at, d in rows if (d or "").startswith("taken over by")), None)
    if taken is None:
        return None, None, ""
    after = [(to, at) for frm, to, at, _d in rows if frm == "unknown" != to and at >= taken]
    return (taken, after[0][1], after[0][0]) if after else (taken, None, "")


async def _intake_after(bench: Bench, into: Failover) -> None:
    """Alerts published after the signal: how many reach a TOO within ``AFTER_WAIT_S``
    (the survivor's share; the signalled member's share waits in its MQTT session)."""
    async with bench.publisher() as pub:
        keys = await pub.burst(EP_TOPIC_MQTT, AFTER_ALERTS, 1e6)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(AFTER_WAIT_S):
            await until_posted(bench.stamps, keys)
    into.after.append(sum(k in bench.stamps.at for k in keys))


async def failover_trial(
    bench: Bench, sig: signal.Signals, into: Failover, *, intake: bool = False
) -> None:
    """Two instances; the one holding the alert's 'submitting' row gets ``sig`` mid-POST.
    With ``intake``, alerts are then published to the group the signalled one is still in."""
    url = bench.cluster.new_database()
    group = bench.group()
    configs = [bench.config(url, group=group, lease=LEASE_S) for _ in range(2)]
    conn = await asyncio.to_thread(psycopg.connect, url, password=PG_PASSWORD, autocommit=True)
    try:
        with bench.instances(configs) as procs:
            by_pid = {p.pid: p for p in procs}
            bench.hold.seconds = HOLD_S
            try:
                async with bench.publisher() as pub:
                    (key,) = await pub.burst(EP_TOPIC_MQTT, 1, 1.0)
                async with asyncio.timeout(30):  # the row is 'submitting' for HOLD_S at least
                    # Polling, not an Event: the row is in another process's database.
                    while not (sending := await asyncio.to_thread(_sending, conn)):  # noqa: ASYNC110
                        await asyncio.sleep(0.01)
                sub_id, pid = sending[0]
                by_pid[pid].send_signal(sig)
                signalled = datetime.now(UTC)
                arrived: bool | None = None
                async with asyncio.timeout(120):
                    while True:
                        taken, reconciled, to = await asyncio.to_thread(_history, conn, sub_id)
                        if taken is not None and arrived is None:
                            # Sent before the signal? (The signalled instance sends nothing
                            # until woken, and nobody else before the row is reconciled.)
                            arrived = key in bench.stamps.at
                        if reconciled is not None:
                            break
                        await asyncio.sleep(0.05)
                into.arrived.append(bool(arrived))
                bench.hold.seconds = 0.0
                if intake:
                    await _intake_after(bench, into)
            finally:
                bench.hold.seconds = 0.0
        # after the exits: a paused instance was woken, and did what it does then
        into.logs[key] = await asyncio.to_thread(_log, conn, sub_id, signalled)
    finally:
        await asyncio.to_thread(conn.close)
    assert taken is not None
    into.taken.append((_parse(taken) - signalled).total_seconds())
    into.reconciled.append((_parse(reconciled) - signalled).total_seconds())
    into.outcomes.append(to)
