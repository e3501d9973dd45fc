"""Several instances on one PostgreSQL database (store/leases.py): two submitters, each with
its own connections and clock, against the real Swift emulator, which counts the TOOs.

A "paused" instance is one whose lease expired while it held a row: its clock is moved past
the lease, or the other instance's clock is (the lease times are wall-clock UTC)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from autotoo.emulators.app import create_app
from autotoo.emulators.clock import SimClock
from autotoo.emulators.faults import Fault, FaultKind, FaultPlan
from autotoo.emulators.sky import Sky
from autotoo.store.errors import LeaseLostError
from autotoo.store.postgres import PgDatabase
from autotoo.store.rows import Api, ts
from autotoo.store.rows import SubmissionState as S
from tests.fixtures.postgres import PG_PASSWORD, PgCluster
from tests.pipeline.bursts import BAT, GBM, GBM_FIN, aligned
from tests.pipeline.conftest import Pipeline
from tests.pipeline.test_exactly_once import EP_FILES, EP_TOPIC, ep_alert, rule, served
from tests.pipeline.test_transients import rule as grb_rule

LEASE = timedelta(seconds=5)


@pytest.fixture
def too_per_day() -> int:
    """The global cap: six EP alerts may be six TOOs, beyond the default of five."""
    return 50


@pytest.fixture
def swift_poll() -> timedelta:
    """How long after a poll the next is due: none (the pipeline tests' default)."""
    return timedelta(0)


@pytest.fixture
def rules_text() -> str:
    return rule()


@pytest.fixture
async def two(  # type: ignore[no-untyped-def]
    postgres_cluster: PgCluster,
    make_emulator,
    make_pipeline,
    too_per_day: int,
    swift_poll: timedelta,
    rules_text: str,
):
    """Instances A and B on one fresh database, and the emulator they both send to."""
    url = postgres_cluster.new_database()
    dbs = [await PgDatabase.open_url(url, password=PG_PASSWORD) for _ in range(2)]
    emulator = await make_emulator(speed=1.0)
    pipes = [
        await make_pipeline(
            emulator,
            rules_text,
            db=db,
            instance=name,
            lease=LEASE,
            reconcile_checks=2,
            too_per_day=too_per_day,
            swift_poll=swift_poll,
        )
        for db, name in zip(dbs, ("A", "B"), strict=True)
    ]
    yield pipes[0], pipes[1], emulator
    for db in dbs:
        await db.close()


def posts(emulator) -> int:  # type: ignore[no-untyped-def]
    return len([r for r in emulator.swift.received if r.api == "/swift/too"])


async def _planned_and_claimed_by_a(a: Pipeline):  # type: ignore[no-untyped-def]
    """A plans the TOO and claims it, as its submitter does before handling the row."""
    await a.feed(ep_alert(0), EP_TOPIC)
    [row] = await a.rows()
    lease = await a.repo.leases.claim(
        row.id, state=S.PLANNED, owner="A", now=a.clock(), lease=LEASE
    )
    assert lease is not None and lease.token == 1
    a.submitter._lease = lease
    return row, lease


async def test_a_row_held_by_a_live_lease_is_left_alone(two) -> None:  # type: ignore[no-untyped-def]
    a, b, emulator = two
    row, _ = await _planned_and_claimed_by_a(a)
    assert (
        await b.repo.leases.claim(row.id, state=S.PLANNED, owner="B", now=b.clock(), lease=LEASE)
        is None
    )
    await b.submitter.step()
    assert (await b.state_of(row.key), posts(emulator)) == (S.PLANNED, 0)


async def test_a_paused_instance_whose_lease_was_taken_over_cannot_send(two) -> None:  # type: ignore[no-untyped-def]
    """A claims the row and is paused past its lease; B claims it (the token moves on).
    A, resumed, reaches the move to 'submitting': the fence refuses it, so no POST."""
    a, b, emulator = two
    row, _ = await _planned_and_claimed_by_a(a)
    b.clock.advance(seconds=LEASE.total_seconds() + 1)
    taken = await b.repo.leases.claim(
        row.id, state=S.PLANNED, owner="B", now=b.clock(), lease=LEASE
    )
    assert taken is not None and taken.token == 2
    with pytest.raises(LeaseLostError):
        await a.submitter._submit(row)
    assert (await a.state_of(row.key), posts(emulator)) == (S.PLANNED, 0)
    b.submitter._lease = taken
    await b.submitter._submit(row)
    assert (await b.state_of(row.key), posts(emulator), len(emulator.swift.toos)) == (
        S.SUBMITTED,
        1,
        1,
    )


async def test_an_expired_lease_nobody_took_does_not_send_either(two) -> None:  # type: ignore[no-untyped-def]
    a, _b, emulator = two
    row, _ = await _planned_and_claimed_by_a(a)
    a.clock.advance(seconds=LEASE.total_seconds() + 1)
    with pytest.raises(LeaseLostError):
        await a.submitter._submit(row)
    assert posts(emulator) == 0
    await a.submitter.step()  # claims it afresh: now it may
    assert (await a.state_of(row.key), posts(emulator)) == (S.SUBMITTED, 1)


async def test_a_replan_by_another_instance_between_read_and_send_is_not_sent_stale(two) -> None:  # type: ignore[no-untyped-def]
    """The planning lock across instances: the request changed after A read it (another
    instance's processor re-rendered it): A's fenced move does not match."""
    a, _b, emulator = two
    row, _ = await _planned_and_claimed_by_a(a)
    await a.repo.db.run(
        lambda conn: conn.execute(
            "UPDATE submissions SET request = replace(request, '\"urgency\":3', "
            "'\"urgency\":2') WHERE id = ?",
            (row.id,),
        )
    )
    fresh = await a.repo.submission(row.id)
    assert fresh is not None and fresh.spec != row.spec
    stale = row
    # the in-process re-read would catch it; the fence must catch it too: the re-read
    # is made to return the stale row (another process has no in-process lock)
    a.submitter.repo.submission = _returning(stale)  # type: ignore[method-assign]
    with pytest.raises(LeaseLostError):
        await a.submitter._submit(stale)
    assert posts(emulator) == 0


def _returning(row):  # type: ignore[no-untyped-def]
    async def submission(_sub_id: int):  # type: ignore[no-untyped-def]
        return row

    return submission


async def test_a_dead_instances_submitting_row_is_taken_over_and_reconciled(two) -> None:  # type: ignore[no-untyped-def]
    """A committed 'submitting', POSTed, and died before recording the reply. B leaves the
    row alone while A's lease is live, then takes it over as 'unknown' and finds the TOO in
    the listing: one TOO, never a second POST."""
    a, b, emulator = two
    row, _ = await _planned_and_claimed_by_a(a)
    sending = await a.repo.transition(
        row.id,
        expect=[S.PLANNED],
        to=S.SUBMITTING,
        durable=True,
        sent_at=a.clock(),
        lease_until=a.clock() + LEASE,
        fence=a.submitter._fence(row, request=True),
    )
    await a.submitter.remotes[Api.TOO].send(sending, a.settings)  # ... and A dies here
    assert posts(emulator) == 1
    await b.submitter.step()
    assert await b.state_of(row.key) is S.SUBMITTING  # A's lease is live: not B's to judge
    b.clock.advance(seconds=LEASE.total_seconds() + 0.5)
    await b.submitter.step()  # take over -> unknown -> reconciled: found in the listing
    after = await b.repo.submission(row.id)
    assert after is not None and after.state is S.SUBMITTED
    assert after.remote_id == str(next(iter(emulator.swift.toos.values())).too_id)
    assert (posts(emulator), len(emulator.swift.toos)) == (1, 1)
    log = await b.repo.submission_log(row.id)
    assert "taken over by B" in " ".join(e["detail"] or "" for e in log)


async def test_a_dead_instance_that_never_posted_is_resent_after_the_listings(two) -> None:  # type: ignore[no-untyped-def]
    a, b, emulator = two
    row, _ = await _planned_and_claimed_by_a(a)
    await a.repo.transition(
        row.id,
        expect=[S.PLANNED],
        to=S.SUBMITTING,
        durable=True,
        sent_at=a.clock(),
        lease_until=a.clock() + LEASE,
        fence=a.submitter._fence(row, request=True),
    )  # ... and A dies before its POST
    b.clock.advance(seconds=LEASE.total_seconds() + 0.5)
    for _ in range(4):  # take over; absent twice; planned again; sent
        await b.submitter.step()
    assert (await b.state_of(row.key), posts(emulator), len(emulator.swift.toos)) == (
        S.SUBMITTED,
        1,
        1,
    )


async def test_two_instances_racing_over_many_rows_send_each_once(two) -> None:  # type: ignore[no-untyped-def]
    a, b, emulator = two
    n = min(6, len(EP_FILES))
    for i in range(n):
        await a.feed(ep_alert(i), EP_TOPIC)
    rows = await a.rows()
    assert len(rows) == len({r.key for r in rows}) >= 2
    for _ in range(6):  # a POST refused for now (e.g. a rate limit) is due again next round
        await asyncio.gather(a.submitter.step(), b.submitter.step())
        if {r.state for r in await a.rows()} == {S.SUBMITTED}:
            break
    states = {r.key: r.state for r in await a.rows()}
    assert set(states.values()) == {S.SUBMITTED}
    assert posts(emulator) == len(emulator.swift.toos) == len(rows)
    owners = await a.repo.db.run(
        lambda conn: conn.execute("SELECT DISTINCT lease_owner FROM submissions").fetchall()
    )
    assert {o[0] for o in owners} <= {"A", "B"}


@pytest.mark.parametrize("too_per_day", [3])
async def test_two_instances_racing_keep_the_global_budget_exactly(two) -> None:  # type: ignore[no-untyped-def]
    """Each instance reads the count before it prepares a TOO; both read "2 of 3" at once
    and would each send one. The move to 'submitting' counts again under a lock every
    instance's move takes: the third TOO is sent once, the rest are parked saying why."""
    a, b, emulator = two
    n = min(6, len(EP_FILES))
    for i in range(n):
        await a.feed(ep_alert(i), EP_TOPIC)
    for _ in range(8):
        await asyncio.gather(a.submitter.step(), b.submitter.step())
        if not {r.state for r in await a.rows()} & {S.PLANNED, S.SUBMITTING}:
            break
    rows = await a.rows()
    sent = [r for r in rows if r.state is S.SUBMITTED]
    parked = [r for r in rows if r.state is S.NEEDS_HUMAN]
    assert posts(emulator) == len(emulator.swift.toos) == len(sent) == 3
    assert len(parked) == n - 3
    assert {r.reason for r in parked} == {"global budget exhausted: 3 of 3 TOOs in 24 h"}


@pytest.mark.parametrize("swift_poll", [timedelta(minutes=2)])
async def test_two_trackers_poll_each_due_row_once(two) -> None:  # type: ignore[no-untyped-def]
    """Both instances read the same due rows; each poll is claimed (its due time moved on)
    before it is made, so Swift is asked about each TOO once, not once per instance."""
    a, b, emulator = two
    n = min(4, len(EP_FILES))
    for i in range(n):
        await a.feed(ep_alert(i), EP_TOPIC)
    for _ in range(4):
        await a.submitter.step()
    rows = await a.rows()
    assert {r.state for r in rows} == {S.SUBMITTED} and len(rows) == n
    due = ts(a.clock() - timedelta(seconds=1))
    await a.repo.db.run(lambda conn: conn.execute("UPDATE submissions SET next_at = ?", (due,)))
    emulator.swift.callers.clear()
    await asyncio.gather(a.tracker.step(), b.tracker.step())
    polls = [path for _, path in emulator.swift.callers if path.rstrip("/").endswith("calendar")]
    assert len(polls) == n, polls
    # each row is due again at its poll's own next time
    assert all(r.next_at is not None and r.next_at > a.clock() for r in await a.rows())


@pytest.mark.parametrize("swift_poll", [timedelta(minutes=2)])
async def test_a_poll_claimed_by_an_instance_that_died_is_made_after_the_lease(two) -> None:  # type: ignore[no-untyped-def]
    """A claims a due poll and dies before making it: the row is not polled by B within
    the lease (A might still be polling), and is after it."""
    a, b, emulator = two
    await a.feed(ep_alert(0), EP_TOPIC)
    await a.submitter.step()
    [row] = await a.rows()
    due = ts(a.clock() - timedelta(seconds=1))
    await a.repo.db.run(lambda conn: conn.execute("UPDATE submissions SET next_at = ?", (due,)))
    active = [S.SUBMITTED, S.TRACKING]
    assert await a.repo.leases.claim_poll(row.id, states=active, now=a.clock(), lease=LEASE)
    assert not await b.repo.leases.claim_poll(row.id, states=active, now=b.clock(), lease=LEASE)
    emulator.swift.callers.clear()
    assert await b.tracker.step() == 0
    b.clock.advance(seconds=LEASE.total_seconds() + 1)
    assert await b.tracker.step() == 1
    assert [p for _, p in emulator.swift.callers if p.rstrip("/").endswith("calendar")]


@pytest.mark.parametrize("rules_text", ["rules:\n" + grb_rule("grb", "fermi, swift")])
async def test_two_missions_of_one_burst_at_two_instances_at_once_make_one_too(two) -> None:  # type: ignore[no-untyped-def]
    """GBM's notice reaches A and BAT's reaches B at the same moment; each instance's
    processor evaluates every pending inbox row (the inbox is shared) and commits a batch
    only if its rows are still new, so the two notices are associated in one order
    whoever commits: one transient, one TOO, for each of five bursts."""
    a, b, emulator = two
    bursts = 8
    for k in range(bursts):
        t0 = a.clock() - timedelta(minutes=10 + 15 * k)
        gbm_name, gbm_topic = GBM[1]
        where = (GBM_FIN[0] + 4.0 * k, GBM_FIN[1] + 4.0 * k)  # apart, far from the Sun
        gbm = aligned(gbm_name, gbm_topic, trigger=t0, position=where, key=f"80040{k:04d}")
        bat = aligned(*BAT, trigger=t0 + timedelta(seconds=2), position=where, key=f"11231{k:02d}")
        await asyncio.gather(a.feed(gbm, gbm_topic), b.feed(bat, BAT[1]))
    for _ in range(20):
        await asyncio.gather(a.processor.step(), b.processor.step())
        if not await a.repo.inbox_pending(limit=1):
            break
    for _ in range(3):
        await asyncio.gather(a.submitter.step(), b.submitter.step())
    transients = await a.repo.db.run(
        lambda conn: conn.execute("SELECT key FROM transients ORDER BY key").fetchall()
    )
    assert len(transients) == bursts, transients
    assert posts(emulator) == len(emulator.swift.toos) == bursts


async def test_a_retry_after_that_outlasts_half_the_lease_is_not_sent_late(
    postgres_cluster: PgCluster, make_pipeline
) -> None:  # type: ignore[no-untyped-def]
    """Swift says 429, come back in 3 s; the lease is 5 s, so by then another instance may
    be about to take the row over and, finding nothing in the listing, send it itself. The
    client's resend would then be a second TOO: it checks the send window (half the lease
    from the 'submitting' commit) right before it writes, and the row goes back to
    'planned', sent later under a new claim."""
    plan = FaultPlan(
        [Fault(FaultKind.HTTP_429, path="/swift/too", method="POST", nth=(1,), retry_after=3)]
    )
    sky = Sky(SimClock(speed=1.0))
    emulator = await served(create_app(sky=sky, faults=plan), sky)
    db = await PgDatabase.open_url(postgres_cluster.new_database(), password=PG_PASSWORD)
    try:
        a = await make_pipeline(emulator, rule(), db=db, instance="A", lease=LEASE)
        await a.feed(ep_alert(0), EP_TOPIC)
        await a.submitter.step()
        [row] = await a.rows()
        assert posts(emulator) == 0  # the 429's request was declined: not counted as received
        assert plan.faults[0].fired == 1
        assert row.state is S.PLANNED, row
        log = [entry["detail"] or "" for entry in await a.repo.submission_log(row.id)]
        assert any("lease ran short" in line for line in log), log
        a.clock.advance(seconds=60)
        await a.submitter.step()
        assert (await a.state_of(row.key), posts(emulator), len(emulator.swift.toos)) == (
            S.SUBMITTED,
            1,
            1,
        )
    finally:
        await db.close()
