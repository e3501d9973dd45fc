"""PostgreSQL's own disk fills up: a database's tablespace on a real, small tmpfs.

The server refuses the write with SQLSTATE 53100 (disk_full); the store must treat that as
SQLite's full disk (tests/store/test_full_disk.py): the write is refused as "not now"
(StorageUnavailableError, so a source leaves the message unacknowledged), every write after
it is refused at once, and the storage probe finds out by itself when space is back, on the
same connections. Only the database's tablespace is on the small filesystem: the server's
WAL is not, so the server stays up (a full WAL disk makes PostgreSQL stop, which is the lost
server of test_postgres.py).

Needs CAP_SYS_ADMIN for the mount (skipped without it, saying why).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import structlog.testing

from autotoo.pipeline.intake import Inbox
from autotoo.store.errors import StorageUnavailableError
from autotoo.store.postgres import open_postgresql
from autotoo.store.repository import Repository
from tests.chaos.state_fs import fill, tmpfs
from tests.fixtures.postgres import PgCluster
from tests.store.disk_episode import message, refused_until_space_returns


@contextlib.contextmanager
def database_on_small_disk(cluster: PgCluster, *, owner: str | None = None) -> Iterator[Path]:
    """A database (``owner``'s, or the cluster user's) whose tablespace is a fresh 8 MiB
    tmpfs; yields that tmpfs, whose name is the database's and the tablespace's."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    # In the cluster's own directory: the server's user must reach it (a pytest tmp_path is
    # root's alone).
    space = cluster.directory / name
    with tmpfs(space, "8m"):
        if os.geteuid() == 0:  # the server runs as nobody (tests/fixtures/pg_cluster.py)
            shutil.chown(space, "nobody")
            space.chmod(0o700)
        cluster.admin(f"CREATE TABLESPACE {name} LOCATION '{space}'")
        owned = f" OWNER {owner}" if owner else ""
        cluster.admin(f"CREATE DATABASE {name}{owned} TEMPLATE template0 TABLESPACE {name}")
        try:
            yield space
        finally:
            cluster.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            cluster.admin(f"DROP TABLESPACE IF EXISTS {name}")


async def test_a_full_server_disk_pauses_the_store_until_space_returns(
    postgres_cluster: PgCluster,
) -> None:
    with database_on_small_disk(postgres_cluster) as space:
        db = await open_postgresql(
            postgres_cluster.url(space.name), str(postgres_cluster.password_file)
        )
        await refused_until_space_returns(db, space / "filler", reason="No space left on device")


async def test_a_role_without_temporary_tables_still_comes_back(
    postgres_cluster: PgCluster,
) -> None:
    """The probe's new pages go to a temporary table; a hardened database may refuse those
    (``REVOKE TEMPORARY``). The store must still come back once space returns (on the small
    write, saying it could not look), never wait for ever."""
    role = f"r_{uuid.uuid4().hex[:12]}"
    password = postgres_cluster.password_file.read_text().strip()
    postgres_cluster.admin(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
    try:
        with database_on_small_disk(postgres_cluster, owner=role) as space:
            for grantee in ("PUBLIC", role):
                postgres_cluster.admin(f"REVOKE TEMPORARY ON DATABASE {space.name} FROM {grantee}")
            url = postgres_cluster.url(space.name).replace("//autotoo@", f"//{role}@")
            db = await open_postgresql(url, str(postgres_cluster.password_file))
            try:
                inbox = Inbox(Repository(db))
                await asyncio.to_thread(fill, space / "filler")
                with structlog.testing.capture_logs() as logs:
                    for number in range(1, 5000):
                        try:
                            await inbox(message(number))
                        except StorageUnavailableError:
                            break
                    else:
                        raise AssertionError("5,000 alerts were stored on a full disk")
                    await asyncio.to_thread((space / "filler").unlink)
                    await asyncio.wait_for(db.storage.wait(), 30)
                    await inbox(message(100_000))
                assert "cannot check the server's free space; resuming on the small write" in [
                    entry["event"] for entry in logs
                ]
            finally:
                await db.close()
    finally:
        postgres_cluster.admin(f"DROP ROLE IF EXISTS {role}")
