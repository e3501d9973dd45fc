"""The store's one read of every instance (store/leases.py ``Leases.instances``), on both
backends: heartbeat age, live / stale / stopped judged against the lease, and the live
leases each holds. ``autotoo status``, the dashboard and ``/metrics`` all show this read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from autotoo.store.db import Database
from autotoo.store.repository import Repository
from autotoo.store.rows import AlertOutcome, PlannedSubmission
from autotoo.store.rows import SubmissionState as S
from autotoo.store.specs import TooSpec

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)


async def _planned(repo: Repository, count: int) -> list[int]:
    """``count`` planned TOOs of one alert: rows an instance can claim."""
    from autotoo.pipeline.intake import Inbox  # noqa: PLC0415
    from autotoo.sources.base import Received  # noqa: PLC0415

    await Inbox(repo)(
        Received.create(raw=b"{}", identity="t:1", topic="t", received_at=T0, source="test")
    )
    (item,) = await repo.inbox_pending()
    plans = [
        PlannedSubmission(
            key=f"too-{i}", rule="r", action="too", spec=TooSpec(body={}, marker=f"too-{i}")
        )
        for i in range(count)
    ]
    outcome = AlertOutcome(
        inbox_id=item.id, normalized={}, group_key="m:e1", mission="m", event_key="e1",
        kind="initial", is_test=False, error_deg=0.05, plans=plans,
    )  # fmt: skip
    await repo.commit_alert(outcome)
    return [r.id for r in await repo.submissions(limit=100)]


async def test_each_instance_with_its_liveness_and_live_leases(store_db: Database) -> None:
    repo = Repository(store_db)
    ids = await _planned(repo, 4)
    live, stale, stopped = "hostA:11:aaaaaa", "hostB:22:bbbbbb", "hostA:33:cccccc"
    for name in (live, stale, stopped):
        await repo.leases.register(name, T0)
    # live: two leases held now; stale: one lease taken when it last beat (expired since)
    for sub_id in ids[:2]:
        assert await repo.leases.claim(sub_id, state=S.PLANNED, owner=live, now=T0, lease=LEASE)
    assert await repo.leases.claim(ids[2], state=S.PLANNED, owner=stale, now=T0, lease=LEASE)
    await repo.leases.stopped(stopped, T0 + timedelta(seconds=5))
    now = T0 + timedelta(seconds=40)
    await repo.leases.heartbeat(live, now - timedelta(seconds=4))
    for sub_id in ids[:2]:  # renewed, as the live one's submitter does
        assert await repo.leases.claim(sub_id, state=S.PLANNED, owner=live, now=now, lease=LEASE)
    # an instance gone for longer than the listing window is not shown
    await repo.leases.register("hostC:44:dddddd", now - timedelta(hours=2))

    rows = await repo.leases.instances(now, within=timedelta(hours=1), live_within=LEASE)

    got = {r["id"]: r for r in rows}
    assert set(got) == {live, stale, stopped}
    assert (got[live]["state"], got[live]["leases"], got[live]["heartbeat_age_s"]) == (
        "live", 2, 4.0
    )  # fmt: skip
    assert (got[stale]["state"], got[stale]["leases"], got[stale]["heartbeat_age_s"]) == (
        "stale", 0, 40.0
    )  # fmt: skip
    assert (got[stopped]["state"], got[stopped]["leases"]) == ("stopped", 0)
    assert got[stale]["host"] == "hostB" and got[stale]["pid"] == 22
    assert got[live]["started_at"] == "2026-05-01T12:00:00.000000Z"
    # the stale one's lease was live when it held it
    earlier = await repo.leases.instances(
        T0 + timedelta(seconds=10), within=timedelta(hours=1), live_within=LEASE
    )
    assert {r["id"]: r["leases"] for r in earlier}[stale] == 1


async def test_an_instance_not_heard_of_for_a_week_is_forgotten_at_the_next_start(
    store_db: Database,
) -> None:
    """Every start registers a new instance id (host:pid:random): the table would grow by
    one row per restart for ever."""
    repo = Repository(store_db)
    await repo.leases.register("hostA:1:aaaaaa", T0)
    await repo.leases.stopped("hostA:1:aaaaaa", T0 + timedelta(hours=1))
    await repo.leases.register("hostB:2:bbbbbb", T0 + timedelta(days=6))
    await repo.leases.register("hostA:3:cccccc", T0 + timedelta(days=8))
    ids = await store_db.run(
        lambda conn: [r[0] for r in conn.execute("SELECT id FROM instances ORDER BY id")]
    )
    assert ids == ["hostA:3:cccccc", "hostB:2:bbbbbb"]
