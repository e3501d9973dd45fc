"""Several instances on one database: their registry and the leases on submissions.

Why (docs/postgresql.md, "Several instances on one database"): two daemons sharing a
PostgreSQL database must never both send one due row. Before handling a row an instance
*claims* it (:meth:`Leases.claim`): one conditional UPDATE that succeeds only if nobody else
holds a live lease, and that increments the row's ``lease_token``. The move to 'submitting'
(the durable commit before the POST) is then *fenced* (:class:`Fence`, applied by
``outbox.move``): it requires the same owner, the same token, a lease not yet expired and
the request as it was read, so an instance that was paused past its lease, or whose row was
taken over or replanned meanwhile, cannot commit it and so cannot POST.

One statement per claim, not a ``SELECT ... FOR UPDATE SKIP LOCKED`` batch: PostgreSQL's
row lock makes a concurrent UPDATE of the same row wait for the first and re-check its WHERE
on the new version, so exactly one claim wins and the other skips the row; the statement is
the same on SQLite (one instance), and the wait is one short transaction.

The ``instances`` table is for people (``autotoo status``, the dashboard, ``/metrics``):
correctness never reads it.
"""

from __future__ import annotations

import os
import secrets
import socket
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from autotoo.store.db import Database
from autotoo.store.errors import ConflictError
from autotoo.store.rows import SubmissionState, parse_ts, ts


@dataclass(frozen=True, slots=True)
class Lease:
    """A claim on one submission: who, which claim (the token), until when."""

    sub_id: int
    owner: str
    token: int
    until: datetime


@dataclass(frozen=True, slots=True)
class Fence:
    """What a fenced move requires besides the state: the lease still held and live at
    ``now``, and (``request``) the row's request text unchanged since it was read."""

    lease: Lease
    now: datetime
    request: str | None = None

    def where(self) -> tuple[str, list[Any]]:
        clause = " AND lease_owner = ? AND lease_token = ? AND lease_until > ?"
        params: list[Any] = [self.lease.owner, self.lease.token, ts(self.now)]
        if self.request is not None:
            clause += " AND request = ?"
            params.append(self.request)
        return clause, params


_MARK = "evaluation_mark"
# An instance whose last heartbeat is older than this is forgotten when another starts: its
# leases expired long before, and status, the dashboard and /metrics list an hour at most.
FORGET_AFTER = timedelta(days=7)


def advance_mark(conn: sqlite3.Connection, mark: int) -> int:
    """Move the evaluation mark from ``mark`` to ``mark + 1`` inside an evaluation's commit,
    or raise :class:`ConflictError` if another instance committed an evaluation since
    ``mark`` was read (:meth:`Leases.evaluation_mark` says why)."""
    moved = conn.execute(
        "UPDATE meta SET value = ? WHERE key = ? AND value = ? RETURNING key",
        (str(mark + 1), _MARK, str(mark)),
    ).fetchone()
    if moved is None and mark == 0:
        moved = conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, '1') ON CONFLICT (key) DO NOTHING "
            "RETURNING key",
            (_MARK,),
        ).fetchone()
    if moved is None:
        raise ConflictError(f"another instance evaluated alerts since mark {mark}")
    return mark + 1


def new_instance_id() -> str:
    """host:pid:random -- unique across hosts and restarts, readable in `autotoo status`."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class Leases:
    """The registry of instances and the claims on submissions, over one :class:`Database`."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def register(self, instance: str, now: datetime) -> None:
        """Add this instance; forget those not heard of for :data:`FORGET_AFTER` (every
        start adds a row: without this the table grows by one per restart for ever)."""
        host, _, rest = instance.partition(":")
        pid = int(rest.partition(":")[0] or 0)

        def insert(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM instances WHERE heartbeat_at < ?", (ts(now - FORGET_AFTER),))
            conn.execute(
                "INSERT INTO instances (id, host, pid, started_at, heartbeat_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                "heartbeat_at = excluded.heartbeat_at, stopped_at = NULL",
                (instance, host, pid, ts(now), ts(now)),
            )

        await self.db.run(insert)

    async def heartbeat(self, instance: str, now: datetime) -> None:
        await self.db.run(
            lambda conn: conn.execute(
                "UPDATE instances SET heartbeat_at = ? WHERE id = ?", (ts(now), instance)
            )
        )

    async def stopped(self, instance: str, now: datetime) -> None:
        """A clean stop: its leases are released, so nobody waits for them to expire."""

        def stop(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE instances SET stopped_at = ? WHERE id = ?", (ts(now), instance))
            conn.execute(
                "UPDATE submissions SET lease_until = ? WHERE lease_owner = ? AND lease_until > ?",
                (ts(now), instance, ts(now)),
            )

        await self.db.run(stop)

    async def claim(
        self,
        sub_id: int,
        *,
        state: SubmissionState,
        owner: str,
        now: datetime,
        lease: timedelta,
    ) -> Lease | None:
        """Take the row for ``lease`` if it is in ``state`` and nobody else holds a live
        lease on it; None: another instance has it (or it moved on)."""
        until = now + lease

        def take(conn: sqlite3.Connection) -> Any:
            return conn.execute(
                "UPDATE submissions SET lease_owner = ?, lease_until = ?, "
                "lease_token = lease_token + 1 WHERE id = ? AND state = ? AND "
                "(lease_owner IS NULL OR lease_owner = ? OR lease_until IS NULL "
                "OR lease_until <= ?) RETURNING lease_token",
                (owner, ts(until), sub_id, state.value, owner, ts(now)),
            ).fetchone()

        row = await self.db.run(take)
        return None if row is None else Lease(sub_id, owner, int(row[0]), until)

    async def evaluation_mark(self) -> int:
        """The count of evaluations committed on this database, read before an evaluation
        reads anything else; its commit then requires it unchanged (:func:`advance_mark`).

        Why: each instance's processor evaluates every pending inbox row, and commits a
        batch only if its rows are still new, but the order in which PostgreSQL's inbox ids
        become visible is the order of their commits, not of the ids. An instance could see
        GBM's notice (id 10) and BAT's (id 11) while another, which saw only BAT's, had
        already committed it as a new transient; the first then committed GBM's as another
        new transient (seen: two transients of one burst, one run in four). With the mark,
        every evaluation is planned against everything committed before it, as in one
        process; the loser reads again."""
        row = self.db.read(
            lambda conn: conn.execute("SELECT value FROM meta WHERE key = ?", (_MARK,)).fetchone()
        )
        return int(row[0]) if row else 0

    async def claim_poll(
        self, sub_id: int, *, states: Sequence[SubmissionState], now: datetime, lease: timedelta
    ) -> bool:
        """Take the due poll of a tracked row: move its due time ``lease`` ahead if it is
        still due. Whoever commits first polls; another instance's claim of the same poll
        waits for that commit, re-reads the row and finds it no longer due. The poll's own
        outcome then sets the real next time; a poller that dies meanwhile leaves the row
        due again after ``lease``. Its writes need no fence: they are conditional on the
        state or idempotent (observations, releases), so a late, paused poller's result
        costs a repeated record, not a second effect."""
        marks = ", ".join("?" for _ in states)

        def take(conn: sqlite3.Connection) -> Any:
            return conn.execute(
                f"UPDATE submissions SET next_at = ? WHERE id = ? AND state IN ({marks}) "  # noqa: S608 placeholders only
                "AND next_at IS NOT NULL AND next_at <= ? RETURNING id",
                (ts(now + lease), sub_id, *(s.value for s in states), ts(now)),
            ).fetchone()

        return await self.db.run(take) is not None

    async def expired(self, state: SubmissionState, now: datetime) -> list[int]:
        """Rows in ``state`` whose lease is not live (their instance died or is paused)."""
        rows = self.db.read(
            lambda conn: conn.execute(
                "SELECT id FROM submissions WHERE state = ? AND "
                "(lease_until IS NULL OR lease_until <= ?) ORDER BY id",
                (state.value, ts(now)),
            ).fetchall()
        )
        return [int(r[0]) for r in rows]

    async def instances(
        self, now: datetime, *, within: timedelta, live_within: timedelta
    ) -> list[dict[str, Any]]:
        """Every instance seen within ``within`` of ``now`` (a killed one stays listed until
        then, one stopped cleanly too), newest heartbeat first: the one read behind
        ``autotoo status``, the dashboard and ``/metrics``.

        Each with its ``heartbeat_age_s``, its ``state`` -- "stopped" (cleanly), "live" (a
        heartbeat within ``live_within``, the lease: a supervisor beats at least three times
        per lease) or "stale" (killed, hung, paused or cut off: its leases expire and its
        work is taken over) -- and ``leases``, the live leases it holds at ``now``. Ages are
        wall-clock differences between hosts: their clocks must agree (NTP)."""

        def read(conn: sqlite3.Connection) -> list[Any]:
            return list(
                conn.execute(
                    "SELECT i.id, i.host, i.pid, i.started_at, i.heartbeat_at, i.stopped_at, "
                    "(SELECT COUNT(s.id) FROM submissions s WHERE s.lease_owner = i.id "
                    "AND s.lease_until > ?) FROM instances i "
                    "WHERE (i.stopped_at IS NULL AND i.heartbeat_at > ?) OR i.stopped_at > ? "
                    "ORDER BY i.heartbeat_at DESC LIMIT 50",
                    (ts(now), ts(now - within), ts(now - within)),
                ).fetchall()
            )

        names = ("id", "host", "pid", "started_at", "heartbeat_at", "stopped_at", "leases")
        found = []
        for row in self.db.read(read):
            item = dict(zip(names, row, strict=True))
            beat = parse_ts(item["heartbeat_at"])
            age = max(0.0, (now - beat).total_seconds()) if beat is not None else None
            if item["stopped_at"] is not None:
                state = "stopped"
            elif age is not None and age <= live_within.total_seconds():
                state = "live"
            else:
                state = "stale"
            item.update(
                pid=int(item["pid"]),
                leases=int(item["leases"]),
                heartbeat_age_s=None if age is None else round(age, 1),
                state=state,
            )
            found.append(item)
        return found
