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
import uuid

import pytest

from autotoo.pipeline.intake import Inbox
from autotoo.store.errors import StorageUnavailableError
from autotoo.store.postgres import open_postgresql
from autotoo.store.repository import Repository
from tests.fixtures.postgres import PgCluster, both_hosts
from tests.store.disk_episode import message


async def test_a_promoted_replica_has_every_acknowledged_write_and_takes_the_next(
    replicated_cluster: tuple[PgCluster, PgCluster],
) -> None:
    primary, standby = replicated_cluster
    name = f"t_{uuid.uuid4().hex[:16]}"
    primary.admin(f"CREATE DATABASE {name} TEMPLATE template0")
    db = await open_postgresql(both_hosts(primary, standby, name), str(primary.password_file))
    try:
        repo = Repository(db)
        inbox = Inbox(repo)
        for number in range(1, 51):
            await inbox(message(number))  # returned: durable, the source would acknowledge

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
