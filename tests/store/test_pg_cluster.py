"""The private PostgreSQL cluster of tests/fixtures/postgres.py: its own, never the system's."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import psycopg

from tests.fixtures.postgres import PG_PASSWORD, PgCluster


def test_the_cluster_is_private_and_each_test_gets_a_fresh_database(
    postgres_cluster: PgCluster, postgres_url: str
) -> None:
    assert postgres_cluster.port != 5432  # never the system service
    assert str(postgres_cluster.directory).startswith("/tmp/")
    with psycopg.connect(postgres_url, password=PG_PASSWORD, autocommit=True) as conn:
        data_dir = conn.execute("SHOW data_directory").fetchone()
        socket_dir = conn.execute("SHOW unix_socket_directories").fetchone()
        tables = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        ).fetchone()
    assert data_dir is not None and Path(data_dir[0]).parent == postgres_cluster.directory
    assert socket_dir is not None and socket_dir[0] == str(postgres_cluster.directory)
    assert tables == (0,)
    assert postgres_cluster.new_database() != postgres_url
    # The server runs as nobody when the tests run as root (initdb refuses root).
    pid = int((postgres_cluster.directory / "data" / "postmaster.pid").read_text().split()[0])
    owner = Path(f"/proc/{pid}").stat().st_uid
    assert owner == (pwd.getpwnam("nobody").pw_uid if os.geteuid() == 0 else os.geteuid())


def test_tcp_connections_need_the_password(postgres_cluster: PgCluster) -> None:
    try:
        psycopg.connect(postgres_cluster.url(), password="wrong", connect_timeout=5).close()
    except psycopg.OperationalError as exc:
        assert "password authentication failed" in str(exc)
    else:
        raise AssertionError("a wrong password was accepted")
