"""psycopg 3 or asyncpg for the PostgreSQL store: the round trip of a small transaction.

The transaction is the shape of a state change (an INSERT ... ON CONFLICT DO NOTHING
RETURNING and an UPDATE, BEGIN ... COMMIT), run N times on one connection; the median
is printed, with the server's synchronous_commit on (a durable commit: the WAL flushed) and
off. asyncpg is not a dependency of autotoo; run it beside the project:

    uv run --with asyncpg python -m bench.pg_drivers --url postgresql://user@127.0.0.1:5433/db

The figures of docs/postgresql.md came from this, on a private cluster of the test fixture's
kind (PostgreSQL 15, loopback TCP).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

import psycopg

INSERT = "INSERT INTO bench_t (k, v) VALUES ({}, {}) ON CONFLICT DO NOTHING RETURNING id"
UPDATE = "UPDATE bench_t SET v = {} WHERE k = {}"


def _median_us(samples: list[float]) -> int:
    return round(statistics.median(samples) * 1e6)


def psycopg_sync(url: str, n: int, tag: str) -> int:
    samples = []
    with psycopg.connect(url, autocommit=True) as conn:
        for i in range(n):
            started = time.perf_counter()
            with conn.transaction():
                conn.execute(INSERT.format("%s", "%s"), (f"{tag}{i}", "x")).fetchone()
                conn.execute(UPDATE.format("%s", "%s"), ("y", f"{tag}{i}"))
            samples.append(time.perf_counter() - started)
    return _median_us(samples)


async def psycopg_async(url: str, n: int, tag: str) -> int:
    samples = []
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        for i in range(n):
            started = time.perf_counter()
            async with conn.transaction():
                cur = await conn.execute(INSERT.format("%s", "%s"), (f"{tag}{i}", "x"))
                await cur.fetchone()
                await conn.execute(UPDATE.format("%s", "%s"), ("y", f"{tag}{i}"))
            samples.append(time.perf_counter() - started)
    return _median_us(samples)


async def asyncpg_async(url: str, n: int, tag: str) -> int:
    import asyncpg  # type: ignore[import-not-found]  # noqa: PLC0415 - not a dependency

    samples = []
    conn: Any = await asyncpg.connect(url)
    try:
        for i in range(n):
            started = time.perf_counter()
            async with conn.transaction():
                await conn.fetchrow(INSERT.format("$1", "$2"), f"{tag}{i}", "x")
                await conn.execute(UPDATE.format("$1", "$2"), "y", f"{tag}{i}")
            samples.append(time.perf_counter() - started)
    finally:
        await conn.close()
    return _median_us(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="a database the benchmark may write to")
    parser.add_argument("-n", type=int, default=2000, help="transactions per driver and mode")
    args = parser.parse_args()
    with psycopg.connect(args.url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_t")
        conn.execute("CREATE TABLE bench_t (id BIGSERIAL PRIMARY KEY, k TEXT UNIQUE, v TEXT)")
    for mode in ("on", "off"):
        with psycopg.connect(args.url, autocommit=True) as conn:
            conn.execute("TRUNCATE bench_t")
            conn.execute(f"ALTER DATABASE {conn.info.dbname} SET synchronous_commit = {mode}")
        print(f"synchronous_commit {mode}: median of {args.n} transactions")
        print(f"  psycopg sync   {psycopg_sync(args.url, args.n, 's' + mode)} us")
        print(f"  psycopg async  {asyncio.run(psycopg_async(args.url, args.n, 'a' + mode))} us")
        print(f"  asyncpg        {asyncio.run(asyncpg_async(args.url, args.n, 'p' + mode))} us")
    with psycopg.connect(args.url, autocommit=True) as conn:
        conn.execute(f"ALTER DATABASE {conn.info.dbname} RESET synchronous_commit")
        conn.execute("DROP TABLE bench_t")


if __name__ == "__main__":
    main()
