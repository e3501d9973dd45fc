"""What the tests of several daemons on one PostgreSQL database share: waiting, a slow
Swift, the rows in flight, one instance's configuration and the end of a run."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Sequence
from typing import Any

import psycopg
from aiohttp import web

from autotoo.store.rows import ts, utcnow
from tests.chaos.streams import RULES, UKSSDC_USER, tune
from tests.fixtures.daemon import DaemonHarness
from tests.fixtures.postgres import PG_PASSWORD


async def wait_until(predicate, timeout: float) -> float:  # type: ignore[no-untyped-def]
    """Seconds until ``predicate()`` held (AssertionError after ``timeout``)."""
    began = time.monotonic()
    while not predicate():
        assert time.monotonic() - began < timeout, "timed out"
        await asyncio.sleep(0.05)
    return time.monotonic() - began


def slow_swift(seconds: float) -> web.middleware:
    """Every TOO POST is held before the emulator acts on it: the instances then hold
    'submitting' rows long enough to be signalled in the middle of one."""

    @web.middleware
    async def middleware(request: web.Request, handler):  # type: ignore[no-untyped-def]
        if request.method == "POST" and request.path.endswith("/swift/too"):
            await asyncio.sleep(seconds)
        return await handler(request)

    return middleware


def rows_in_post(url: str) -> list[tuple[int, int]]:
    """(submission id, owner's pid) of every 'submitting' row under a live lease."""
    with psycopg.connect(url, password=PG_PASSWORD) as conn:
        rows = conn.execute(
            "SELECT id, lease_owner FROM submissions WHERE state = 'submitting' "
            "AND lease_until > %s ORDER BY id",
            (ts(utcnow()),),
        ).fetchall()
    return [(int(i), int(owner.split(":")[1])) for i, owner in rows]


def states_of(url: str, ids: list[int]) -> list[str]:
    with psycopg.connect(url, password=PG_PASSWORD) as conn:
        return [
            conn.execute("SELECT state FROM submissions WHERE id = %s", (i,)).fetchone()[0]
            for i in ids
        ]


def configure_instance(
    d: DaemonHarness, *, url: str, password_file: str, lease_s: float
) -> DaemonHarness:
    """One of several live instances on the database at ``url``: a short lease and quick
    reconciliation, so that a takeover happens within a test."""
    d.configure(RULES, too_per_day=1000)
    tune(d.config, state=url)
    tune(d.config, store={"password_file": password_file, "lease": f"{lease_s}s"})
    tune(d.config, pipeline={"reconcile_delay": "0.5s", "retry_not_sent": "0.5s"})
    # a POST's timeout well above the emulator's hold: on a loaded machine the daemons, the
    # server and the emulator share two cores
    tune(d.config, swift={"timeout": "20s"})
    return d


async def finish(
    daemons: Sequence[DaemonHarness], emulator: Any, jobs: Any, events: int, lease_s: float
) -> None:
    """Wait for every TOO and XRT job of ``events``, then for a lease and a half more
    (nothing further may come: a late takeover, a repeat), and stop every daemon cleanly."""
    await wait_until(lambda: len(emulator.swift.toos) >= events, timeout=120)
    await wait_until(lambda: len(jobs.of_user(UKSSDC_USER)) >= events, timeout=120)
    await asyncio.sleep(lease_s + 1.5)
    for d in daemons:
        assert await d.stop() == 0


def release(daemons: Sequence[DaemonHarness]) -> None:
    """Whatever happened: no daemon is left stopped or running."""
    for d in daemons:
        if d.proc is not None and d.proc.poll() is None:
            d.proc.send_signal(signal.SIGCONT)
            d.proc.kill()


def assert_each_once(emulator: Any, jobs: Any, url: str, events: int) -> None:
    """Counted at the emulators and in the store at ``url``: one TOO POST and one TOO per
    event, one XRT job per event under distinct names, every alert processed, no row left
    in flight."""
    posts = [r for r in emulator.swift.received if r.api == "/swift/too"]
    assert (len(emulator.swift.toos), len(posts)) == (events, events)
    names = [j.name for j in jobs.of_user(UKSSDC_USER)]
    assert len(names) == len(set(names)) == events
    with psycopg.connect(url, password=PG_PASSWORD) as conn:
        inbox = dict(conn.execute("SELECT status, count(*) FROM inbox GROUP BY status").fetchall())
        states = dict(
            conn.execute("SELECT state, count(*) FROM submissions GROUP BY state").fetchall()
        )
    assert inbox == {"processed": events}, inbox
    assert set(states) <= {"submitted", "tracking", "done"}, states
