"""PostgreSQL's own disk fills up: its tablespace on a real, small tmpfs.

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

import os
import shutil
import uuid

from autotoo.store.postgres import open_postgresql
from tests.chaos.state_fs import tmpfs
from tests.fixtures.postgres import PgCluster
from tests.store.disk_episode import refused_until_space_returns


async def test_a_full_server_disk_pauses_the_store_until_space_returns(
    postgres_cluster: PgCluster,
) -> None:
    name = f"t_{uuid.uuid4().hex[:16]}"
    # In the cluster's own directory: the server's user must reach it (a pytest tmp_path is
    # root's alone).
    space = postgres_cluster.directory / name
    with tmpfs(space, "8m"):
        if os.geteuid() == 0:  # the server runs as nobody (tests/fixtures/pg_cluster.py)
            shutil.chown(space, "nobody")
            space.chmod(0o700)
        postgres_cluster.admin(f"CREATE TABLESPACE {name} LOCATION '{space}'")
        postgres_cluster.admin(f"CREATE DATABASE {name} TEMPLATE template0 TABLESPACE {name}")
        try:
            db = await open_postgresql(
                postgres_cluster.url(name), str(postgres_cluster.password_file)
            )
            await refused_until_space_returns(
                db, space / "filler", reason="No space left on device"
            )
        finally:
            postgres_cluster.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            postgres_cluster.admin(f"DROP TABLESPACE IF EXISTS {name}")
