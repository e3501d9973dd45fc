"""A real fail-over: the primary crashes and its streaming replica is promoted, as
docs/postgresql.md ("Two hosts") tells an operator to run it: both hosts in libpq's
multi-host URL with ``target_session_attrs=read-write``, and ``synchronous_standby_names`` on
the primary, so that a durable commit (the inbox's, before a source acknowledges; the
``submitting`` one, before a POST) has reached the replica before it returns.

The store meets the crash as a server gone away (unavailable: intake refuses, workers wait),
its probe finds the promoted replica through the same URL, and every write that returned
before the crash is there. On loopback an asynchronous replica would keep up as well: that
no acknowledged write can be lost to a lagging replica rests on the durable commits asking
for ``synchronous_commit`` (test_postgres.py), which is what makes the primary wait for it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator

import pytest

from autotoo.pipeline.intake import Inbox
from autotoo.store.errors import StorageUnavailableError
from autotoo.store.postgres import open_postgresql
from autotoo.store.repository import Repository
from autotoo.store.rows import SubmissionState
from tests.fixtures.pg_cluster import PgCluster, private_cluster, standby_of
from tests.store.disk_episode import message


@pytest.fixture
def primary_and_standby() -> Iterator[tuple[PgCluster, PgCluster]]:
    """A primary of its own (this test crashes it) with a synchronous streaming replica."""
    with private_cluster() as primary, standby_of(primary) as standby:
        primary.admin("ALTER SYSTEM SET synchronous_standby_names = '*'")
        primary.admin("SELECT pg_reload_conf()")
        deadline = time.monotonic() + 30
        while primary.scalar("SELECT sync_state FROM pg_stat_replication") != "sync":
            assert time.monotonic() < deadline, "the replica never became synchronous"
            time.sleep(0.1)
        yield primary, standby


async def test_a_promoted_replica_has_every_acknowledged_write_and_takes_the_next(
    primary_and_standby: tuple[PgCluster, PgCluster],
) -> None:
    primary, standby = primary_and_standby
    name = f"t_{uuid.uuid4().hex[:16]}"
    primary.admin(f"CREATE DATABASE {name} TEMPLATE template0")
    both = f"127.0.0.1:{primary.port},127.0.0.1:{standby.port}"
    url = f"{primary.url(name).replace(f'127.0.0.1:{primary.port}', both)}"
    db = await open_postgresql(f"{url}?target_session_attrs=read-write", str(primary.password_file))
    try:
        repo = Repository(db)
        inbox = Inbox(repo)
        for number in range(1, 51):
            await inbox(message(number))  # returned: durable, the source would acknowledge
        assert await repo.count_in_states(api="swift_too", states=[SubmissionState.PLANNED]) == 0

        primary.crash()
        with pytest.raises(StorageUnavailableError):
            await inbox(message(51))  # the writer's connection is gone: "not now"
        assert db.storage.problem is not None
        await asyncio.sleep(1.0)
        assert db.storage.problem is not None  # nothing takes writes: the probes fail
        standby.promote()
        await asyncio.wait_for(db.storage.wait(), 30)  # the probe found the new primary

        await inbox(message(51))  # offered again, as the source does, and stored now
        stored = {row.raw for row in await repo.inbox_list(limit=1000)}
        assert stored == {message(n).raw for n in range(1, 52)}
        assert standby.scalar("SELECT count(*) FROM inbox", database=name) == 51
        assert standby.scalar("SELECT pg_is_in_recovery()") is False
    finally:
        await db.close()
