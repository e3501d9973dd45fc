"""Every SQL statement of autotoo, behind one class.

The SQL is the portable subset (ON CONFLICT, RETURNING, no SQLite-only functions in queries)
so a PostgreSQL backend can implement the same methods. Callers never see a cursor: they get
the dataclasses of :mod:`autotoo.store.rows`. It is longer than our usual module on purpose:
keeping every statement in one file is what makes a second backend a reviewable task.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from collections.abc import Set as AbstractSet
from datetime import datetime
from functools import partial
from typing import Any

from autotoo.store import budgets, outbox, payloads, writes
from autotoo.store.db import Database
from autotoo.store.leases import Fence, Leases, advance_mark
from autotoo.store.reads import ReadModels, event_row, inbox_row
from autotoo.store.rows import (
    AlertOutcome,
    Api,
    Duplicate,
    EventHistory,
    EventRow,
    InboxItem,
    InboxPut,
    InboxRow,
    Notice,
    NoticeRow,
    PlannedSubmission,
    Settled,
    StoredMember,
    SubmissionRow,
    SubmissionState,
    TransientHistory,
    ts,
    utcnow,
)

_COUNT_QUERIES = (
    ("inbox", "SELECT status, COUNT(*) FROM inbox GROUP BY status"),
    (
        "submissions",
        "SELECT api || ':' || state, COUNT(*) FROM submissions GROUP BY api, state",
    ),
    (
        "events",
        (
            "SELECT CASE WHEN retracted = 1 THEN 'retracted' ELSE 'open' END, COUNT(*) "
            "FROM events GROUP BY 1"
        ),
    ),
    ("notices", "SELECT channel, COUNT(*) FROM notices GROUP BY channel"),
)


_json = outbox.to_json
_submission = outbox.submission_row
_SUBMISSION_COLUMNS = outbox.SUBMISSION_COLUMNS
_SUBMISSION_FROM = outbox.SUBMISSION_FROM


class Repository(ReadModels):
    """Every write of the store, and the reads the pipeline makes; the read models of the
    CLI, the dashboard and the metrics are :class:`~autotoo.store.reads.ReadModels`'."""

    def __init__(
        self, db: Database, *, on_settled: Callable[[Sequence[Settled]], None] | None = None
    ) -> None:
        self.db = db
        self.leases = Leases(db)  # several instances: their registry and claims
        # Told of the waiting rows a transition settled (the daemon logs them; the CLI,
        # whose stdout may be JSON, does not).
        self.on_settled = on_settled or (lambda _settled: None)

    # ---- inbox ---------------------------------------------------------------------------
    async def inbox_put(
        self,
        *,
        dedup_key: str,
        source: str,
        identity: str | None,
        topic: str | None,
        digest: str,
        raw: bytes,
        received_at: datetime,
    ) -> InboxPut:
        """Store a received message once, durably (the transport may be acknowledged)."""
        item = InboxItem(dedup_key, source, identity, topic, digest, raw, received_at)
        (put,), mark = await self.inbox_put_many([item])
        await self.sync(mark)
        return put

    async def inbox_put_many(self, items: Sequence[InboxItem]) -> tuple[list[InboxPut], int]:
        """Store received messages once each, in order, in one transaction (a group commit);
        return what happened to each and the commit's mark for :meth:`sync`.

        Committed, visible to the processor, and the fsync that makes it durable begun, not
        awaited: ``sync(mark)`` before acknowledging the transports (one fsync serves every
        message stored before it). The mark keeps later commits (the processor's, made
        meanwhile) from needing a second fsync before the acknowledgement.
        """
        # Every payload is stored as received: a large one (a sky map) is compressed later,
        # by the pruner's round (store/retention.py, compress_old), not here, where the
        # processor would wait for it (27-60 ms per MB) and then for its decompression
        # (docs/performance.md, "Sky map on the alert path").
        stored: list[tuple[str, bytes]] | None = None
        # A group of several runs its SQL on the SQLite thread, beside the loop's Python
        # (the processor's, the source's); a lone message's is quicker done in place.
        puts = await self.db.run(
            partial(writes.put_inbox, items=items, stored=stored),
            large=len(items) > 2,
            durable=self.db.inbox_commits_durable,
        )
        mark = self.db.commits
        self.db.begin_sync()
        return puts, mark

    async def sync(self, through: int | None = None) -> None:
        """Make every transaction committed so far (or up to the mark ``through``) durable
        (see :meth:`Database.sync`)."""
        await self.db.sync(through)

    async def inbox_pending(self, *, after_id: int = 0, limit: int = 500) -> list[InboxRow]:
        """Messages received but not yet processed, oldest first (resumes after a crash)."""
        rows = self.db.read(
            lambda conn: conn.execute(
                "SELECT * FROM inbox WHERE status = 'new' AND id > ? ORDER BY id LIMIT ?",
                (after_id, limit),
            ).fetchall()
        )
        return [inbox_row(r) for r in rows]

    async def inbox_get(self, inbox_id: int) -> InboxRow | None:
        async with self.db.reading() as conn:
            cur = await conn.execute("SELECT * FROM inbox WHERE id = ?", (inbox_id,))
            row = await cur.fetchone()
            return inbox_row(row) if row else None

    async def inbox_list(
        self,
        *,
        limit: int = 50,
        status: str | None = None,
        before_id: int | None = None,
        payloads: bool = True,
    ) -> list[InboxRow]:
        """Newest first. ``payloads=False``: ``raw`` left empty (the dashboard, refreshed
        every few seconds, must not load and decompress megabytes of sky maps)."""
        query = "SELECT * FROM inbox WHERE 1 = 1"
        if not payloads:
            query = (
                "SELECT id, source, topic, X'' AS raw, 'identity' AS encoding, received_at, "
                "status, reason, dedup_key, seen_count, duplicate_of, pruned_at, "
                "COALESCE(raw_size, length(raw)) AS raw_size FROM inbox WHERE 1 = 1"
            )
        params: list[Any] = []
        if status:
            query += " AND status = ?"
            params.append(status)
        if before_id:
            query += " AND id < ?"
            params.append(before_id)
        query += " ORDER BY id DESC LIMIT ?"
        params.append(limit)
        async with self.db.reading() as conn:
            cur = await conn.execute(query, params)
            return [inbox_row(r) for r in await cur.fetchall()]

    # ---- events and alerts ---------------------------------------------------------------
    async def event_by_id(self, event_id: int) -> EventRow | None:
        async with self.db.reading() as conn:
            cur = await conn.execute("SELECT * FROM events WHERE id = ?", (event_id,))
            row = await cur.fetchone()
            return event_row(row) if row else None

    async def event_history(
        self, group_keys: Iterable[str], *, parsed: AbstractSet[int] = frozenset()
    ) -> dict[str, EventHistory]:
        """The stored history of each of these events (absent: not seen yet), in one read.
        The raw payload is left out for the alert ids in ``parsed`` (the caller's cache)."""
        keys = list(group_keys)

        def read(conn: sqlite3.Connection) -> dict[str, EventHistory]:
            found: dict[str, EventHistory] = {}
            for key in keys:
                row = conn.execute("SELECT id FROM events WHERE group_key = ?", (key,)).fetchone()
                if row is None:
                    continue
                event_id = int(row[0])
                sources: list[tuple[int, str | None, bytes | None]] = []
                for alert_id, topic in conn.execute(
                    "SELECT a.id, i.topic FROM alerts a JOIN inbox i ON i.id = a.inbox_id "
                    "WHERE a.event_id = ? ORDER BY a.id",
                    (event_id,),
                ).fetchall():
                    raw = None
                    if alert_id not in parsed:
                        got = conn.execute(
                            "SELECT i.raw, i.encoding, i.pruned_at FROM alerts a "
                            "JOIN inbox i ON i.id = a.inbox_id WHERE a.id = ?",
                            (alert_id,),
                        ).fetchone()
                        if got[2] is not None:
                            # Its payload was pruned (store/retention.py: the event had
                            # been quiet for the whole retention period): left out.
                            continue
                        raw = payloads.decode(got[1], bytes(got[0]))
                    sources.append((int(alert_id), topic, raw))
                subs = conn.execute(
                    f"SELECT {outbox.SUBMISSION_COLUMNS} FROM {outbox.SUBMISSION_FROM} "  # noqa: S608
                    "WHERE s.event_id = ? ORDER BY s.id DESC LIMIT 1000",
                    (event_id,),
                ).fetchall()
                found[key] = EventHistory(
                    event_id, sources, [outbox.submission_row(r) for r in subs]
                )
            return found

        return self.db.read(read)

    def event_transients(self, group_keys: Sequence[str]) -> dict[str, tuple[str, bool, str]]:
        """(transient key, joined, reason) of each of these events already associated."""
        if not group_keys:
            return {}
        return self.db.read(partial(writes.event_transients, group_keys=group_keys))

    def transient_members(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        *,
        keys: Sequence[str] = (),
        missions: Sequence[str] = (),
    ) -> list[StoredMember]:
        """The events of the transients whose triggers reach into [since, until] that have
        an event of one of ``missions``, or of the transients ``keys``."""
        return self.db.read(
            partial(
                writes.transient_members, since=since, until=until, keys=keys, missions=missions
            )
        )

    def transient_history(self, keys: Sequence[str]) -> dict[str, TransientHistory]:
        """Each stored transient's id and requests (absent: not stored yet)."""
        if not keys:
            return {}
        return self.db.read(partial(writes.transient_history, keys=keys))

    def alert_source(self, alert_id: int) -> tuple[str | None, bytes] | None:
        return self.db.read(partial(writes.alert_source, alert_id=alert_id))

    async def commit_alert(self, outcome: AlertOutcome) -> tuple[int, int]:
        """Record an evaluated alert and everything it decided; return (alert id, event id)."""
        (ids,) = await self.commit_alerts([outcome])
        return ids

    def alerts_by_identity(self, identities: Sequence[str]) -> dict[str, int]:
        """The inbox row of the stored alert with each of these identities (an index read
        on the loop's thread; absent: no alert has it yet)."""
        if not identities:  # JSON alerts only: no snapshot to open
            return {}
        return self.db.read(partial(writes.alerts_by_identity, identities=identities))

    async def commit_alerts(
        self,
        outcomes: Sequence[AlertOutcome],
        unparsed: Sequence[tuple[int, str]] = (),
        duplicates: Sequence[Duplicate] = (),
        *,
        mark: int | None = None,
    ) -> list[tuple[int, int]]:
        """Record evaluated alerts and everything they decided, and mark unparsed inbox rows
        and duplicates of stored alerts; (alert id, event id) of each outcome. ``mark``
        (several instances): only if no other evaluation was committed since it was read
        (:meth:`Leases.evaluation_mark`), else :class:`ConflictError` and nothing stored.

        One transaction: after a crash either all of it exists or none (and the inbox rows
        are still 'new', so the alerts are evaluated again with the same deterministic keys).
        It is fsynced (synchronous=FULL) only when it withdraws or rewrites a planned
        submission (a retraction, a replan). Otherwise a power cut that loses it loses
        nothing: the inbox rows are durable before their transports are acknowledged (or
        the transports redeliver them), and nothing planned here can be sent
        before the durable 'submitting' commit, whose fsync of the WAL covers every earlier
        transaction in it. A lost cancellation, though, could let the submitter send what a
        retraction withdrew before the processor saw the retraction again.
        """
        durable = any(o.cancel_planned or o.replans for o in outcomes)

        def commit(conn: sqlite3.Connection) -> list[tuple[int, int]]:
            if mark is not None:
                advance_mark(conn, mark)
            return writes.commit_alerts(
                conn, outcomes=outcomes, unparsed=unparsed, duplicates=duplicates
            )

        # On the loop's thread, even for a batch: its work is mostly Python (the rows'
        # parameters, the normalized JSON), which holds the GIL, so on the SQLite thread it
        # ran after the loop's Python rather than beside it, and paid two hand-overs and
        # the inbox's wait for the write lock on top (docs/performance.md, session 9).
        return await self.db.run(commit, durable=durable)

    # ---- submissions ---------------------------------------------------------------------
    async def transition(
        self,
        sub_id: int,
        *,
        expect: Sequence[SubmissionState],
        to: SubmissionState,
        detail: str | None = None,
        durable: bool = False,
        notices: Iterable[Notice] = (),
        children: outbox.NoticesFor | None = None,
        fence: Fence | None = None,
        budget: Sequence[budgets.BudgetCap] = (),
        **fields: Any,
    ) -> SubmissionRow:
        """Move a submission from one of ``expect`` to ``to`` (with column updates), logging it.
        ``fence``: only under this lease, and the request unchanged (store/leases.py).
        ``budget``: only if none of these caps is reached, counted in the same transaction
        (:class:`budgets.BudgetExhaustedError` otherwise; store/budgets.py says why).

        The WHERE clause on the current state makes the move atomic: a lost race raises
        :class:`ConflictError` instead of overwriting someone else's progress. A move to a
        terminal state settles, in the same transaction, the rows waiting for this one's
        observation (``children`` gives their notices): a crash can never leave them
        waiting for a parent that has ended.
        """
        notices = list(notices)
        now = utcnow()

        def move(conn: sqlite3.Connection) -> tuple[SubmissionRow, list[Settled]]:
            budgets.check(conn, budget, shared=self.db.shared)
            row = outbox.move(
                conn,
                sub_id,
                expect=expect,
                to=to,
                fields=fields,
                detail=detail,
                notices=notices,
                now=now,
                fence=fence,
            )
            settled = []
            if to.terminal:
                settled = outbox.settle_waiting(
                    conn, ts(now), parent_id=sub_id, notices_for=children
                )
            return row, settled

        row, settled = await self.db.run(move, durable=durable)
        self.on_settled(settled)
        return row

    async def transition_and_add(
        self,
        sub_id: int,
        *,
        expect: Sequence[SubmissionState],
        to: SubmissionState,
        plan: PlannedSubmission,
        parent_id: int | None,
        added: str,
        notices: Iterable[Notice] = (),
        children: outbox.NoticesFor | None = None,
        **fields: Any,
    ) -> SubmissionRow | None:
        """:meth:`transition` and the follow-up it calls for (a policy resubmission, a new
        XRT job after "no data yet") in ONE durable transaction, so that a crash cannot end
        a row and lose its successor; then the rows waiting for this one are settled (they
        wait for the new attempt if it is the parent's). The new row, or None if its key
        exists."""
        notices = list(notices)
        now = utcnow()

        def move(conn: sqlite3.Connection) -> tuple[SubmissionRow | None, list[Settled]]:
            old = outbox.move(
                conn,
                sub_id,
                expect=expect,
                to=to,
                fields=fields,
                detail=None,
                notices=notices,
                now=now,
            )
            new_id = outbox.insert_submission(conn, old.event_id, plan, parent_id, ts(now))
            if new_id is not None:
                outbox.log_state(conn, new_id, None, "planned", added)
            settled = []
            if to.terminal:
                settled = outbox.settle_waiting(
                    conn, ts(now), parent_id=sub_id, notices_for=children
                )
            return (outbox.submission_by_id(conn, new_id) if new_id else None), settled

        new, settled = await self.db.run(move, durable=True)
        self.on_settled(settled)
        return new

    async def add_submission(
        self, plan_event_id: int, plan: PlannedSubmission, *, parent_id: int | None, detail: str
    ) -> SubmissionRow | None:
        """A follow-up submission (e.g. a new XRT job the sweep found lost)."""
        now = ts(utcnow())

        def add(conn: sqlite3.Connection) -> SubmissionRow | None:
            new_id = outbox.insert_submission(conn, plan_event_id, plan, parent_id, now)
            if new_id is None:
                return None
            outbox.log_state(conn, new_id, None, "planned", detail)
            return outbox.submission_by_id(conn, new_id)

        return await self.db.run(add, durable=True)

    async def settle_waiting(
        self, *, now: datetime, notices_for: outbox.NoticesFor | None
    ) -> list[Settled]:
        """Settle every waiting row whose parent's outcome is known (the consistency sweep;
        see :func:`outbox.settle_waiting`), in one transaction; what changed. A released row
        is due at ``now``."""
        return await self.db.run(
            partial(outbox.settle_waiting, now=ts(now), notices_for=notices_for), durable=True
        )

    async def ended_without_successor(
        self, *, api: Api, state: SubmissionState, reason: str | None = None
    ) -> list[SubmissionRow]:
        """Rows of ``api`` in ``state`` (with exactly ``reason``, if given) for which no next
        attempt (same event, rule and action, attempt + 1) exists: where a follow-up the
        daemon decided on may have been lost by a crash (the consistency sweep)."""
        query = (
            f"SELECT {_SUBMISSION_COLUMNS} FROM {_SUBMISSION_FROM} "  # noqa: S608
            "WHERE s.api = ? AND s.state = ? AND (? IS NULL OR s.reason = ?) AND NOT EXISTS ("
            "SELECT 1 FROM submissions n WHERE n.event_id = s.event_id AND n.rule = s.rule "
            "AND n.action = s.action AND n.attempt = s.attempt + 1) ORDER BY s.id"
        )
        params = (api, state.value, reason, reason)
        async with self.db.reading() as conn:
            cur = await conn.execute(query, params)
            return [_submission(r) for r in await cur.fetchall()]

    async def submission(self, sub_id: int) -> SubmissionRow | None:
        return self.db.read(partial(outbox.submission_by_id, sub_id=sub_id))

    async def submission_by_key(self, key: str) -> SubmissionRow | None:
        async with self.db.reading() as conn:
            cur = await conn.execute(
                f"SELECT {_SUBMISSION_COLUMNS} FROM {_SUBMISSION_FROM} WHERE s.key = ?",  # noqa: S608
                (key,),
            )
            row = await cur.fetchone()
            return _submission(row) if row else None

    async def submissions(
        self,
        *,
        states: Sequence[SubmissionState] | None = None,
        due_before: datetime | None = None,
        event_id: int | None = None,
        parent_id: int | None = None,
        api: Api | None = None,
        limit: int = 200,
    ) -> list[SubmissionRow]:
        where: list[str] = ["1 = 1"]
        params: list[Any] = []
        if states:
            where.append(f"s.state IN ({', '.join('?' for _ in states)})")
            params.extend(s.value for s in states)
        if due_before is not None:
            where.append("s.next_at IS NOT NULL AND s.next_at <= ?")
            params.append(ts(due_before))
        for column, value in (("s.event_id", event_id), ("s.parent_id", parent_id), ("s.api", api)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        order = "s.next_at, s.id" if due_before is not None else "s.id DESC"
        query = (
            f"SELECT {_SUBMISSION_COLUMNS} FROM {_SUBMISSION_FROM} "  # noqa: S608
            f"WHERE {' AND '.join(where)} ORDER BY {order} LIMIT ?"
        )
        rows = self.db.read(lambda conn: conn.execute(query, (*params, limit)).fetchall())
        return [_submission(r) for r in rows]

    async def submission_log(self, sub_id: int) -> list[dict[str, Any]]:
        async with self.db.reading() as conn:
            cur = await conn.execute(
                "SELECT from_state, to_state, at, detail FROM submission_log "
                "WHERE submission_id = ? ORDER BY id",
                (sub_id,),
            )
            return [dict(r) for r in await cur.fetchall()]

    async def count_in_states(self, *, api: Api, states: Sequence[SubmissionState]) -> int:
        """How many submissions of ``api`` are in ``states`` (e.g. XRT jobs in flight)."""
        placeholders = ", ".join("?" for _ in states)
        query = f"SELECT COUNT(*) FROM submissions WHERE api = ? AND state IN ({placeholders})"  # noqa: S608
        row = self.db.read(
            lambda conn: conn.execute(query, (api, *(s.value for s in states))).fetchone()
        )
        return int(row[0]) if row else 0

    async def count_sent(
        self, *, api: Api, since: datetime, rule: str | None = None, account: str | None = None
    ) -> int:
        """Submissions that were (or may have been) sent since ``since``: budgets count these
        (all of them, one rule's, or one account's: schema 7's indexed ``account`` column)."""
        query, params = budgets.sent_query(api, since, rule=rule, account=account)
        row = self.db.read(lambda conn: conn.execute(query, params).fetchone())
        return int(row[0]) if row else 0

    async def set_next(self, sub_id: int, next_at: datetime | None) -> None:
        async with self.db.transaction() as tx:
            await tx.execute(
                "UPDATE submissions SET next_at = ?, updated_at = ? WHERE id = ?",
                (ts(next_at), ts(utcnow()), sub_id),
            )

    # ---- tracking ------------------------------------------------------------------------
    async def record_remote(
        self,
        sub_id: int,
        *,
        api: Api,
        remote_id: str,
        status: str,
        detail: dict[str, Any] | None = None,
        url: str | None = None,
        failed_poll: bool = False,
    ) -> None:
        now = ts(utcnow())
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO remote_jobs (submission_id, api, remote_id, status, detail, url, "
                "polls, poll_failures, last_polled_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?) ON CONFLICT (submission_id) DO UPDATE SET "
                "status = excluded.status, detail = COALESCE(excluded.detail, remote_jobs.detail),"
                " url = COALESCE(excluded.url, remote_jobs.url), polls = remote_jobs.polls + 1, "
                "poll_failures = remote_jobs.poll_failures + excluded.poll_failures, "
                "last_polled_at = excluded.last_polled_at, updated_at = excluded.updated_at",
                (
                    sub_id,
                    api,
                    remote_id,
                    status,
                    _json(detail) if detail is not None else None,
                    url,
                    int(failed_poll),
                    now,
                    now,
                ),
            )

    async def remote_job(self, sub_id: int) -> dict[str, Any] | None:
        async with self.db.reading() as conn:
            cur = await conn.execute("SELECT * FROM remote_jobs WHERE submission_id = ?", (sub_id,))
            row = await cur.fetchone()
            return dict(row) if row else None

    async def add_observations(self, sub_id: int, observations: Iterable[dict[str, Any]]) -> int:
        """Insert observations not yet known; return how many were new."""
        return await self.db.run(
            partial(outbox.add_observations, sub_id=sub_id, observations=observations)
        )

    async def record_observations(
        self,
        sub_id: int,
        observations: Iterable[dict[str, Any]],
        *,
        notices: Sequence[Notice],
        now: datetime,
    ) -> tuple[int, list[Settled]]:
        """A TOO's observations, their ``notices`` (only if one was new) and the release of
        every row waiting for them, in ONE transaction: a crash keeps all or none, so a
        stored observation never leaves a follow-up waiting (the release is retried at each
        poll too). Returns how many observations were new and what was released (due at
        ``now``)."""
        at = ts(now)
        observations = list(observations)

        def record(conn: sqlite3.Connection) -> tuple[int, list[Settled]]:
            added = outbox.add_observations(conn, sub_id, observations)
            if added:
                outbox.enqueue(conn, notices, at)
            return added, outbox.settle_waiting(conn, at, parent_id=sub_id)

        return await self.db.run(record)

    async def observations(self, sub_id: int) -> list[dict[str, Any]]:
        async with self.db.reading() as conn:
            cur = await conn.execute(
                "SELECT target_id, obsid, start_time, end_time, exposure_s FROM observations "
                "WHERE submission_id = ? ORDER BY obsid",
                (sub_id,),
            )
            return [dict(r) for r in await cur.fetchall()]

    async def put_result(
        self,
        sub_id: int,
        kind: str,
        data: Any,
        *,
        path: str | None = None,
        notices: Iterable[Notice] = (),
    ) -> bool:
        """Store a retrieved product once (with its notices); False if it was already stored."""
        now = ts(utcnow())
        notices = list(notices)

        def put(conn: sqlite3.Connection) -> bool:
            new = conn.execute(
                "INSERT INTO results (submission_id, kind, data, path, created_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (submission_id, kind) DO NOTHING RETURNING id",
                (sub_id, kind, _json(data), path, now),
            ).fetchone()
            if new is None:
                return False
            outbox.enqueue(conn, notices, now)
            return True

        return await self.db.run(put, durable=True)

    async def results(self, sub_id: int | None = None) -> list[dict[str, Any]]:
        query = "SELECT submission_id, kind, data, path, created_at FROM results"
        params: tuple[Any, ...] = ()
        if sub_id is not None:
            query += " WHERE submission_id = ?"
            params = (sub_id,)
        async with self.db.reading() as conn:
            cur = await conn.execute(query + " ORDER BY id", params)
            return [dict(r) | {"data": json.loads(r["data"])} for r in await cur.fetchall()]

    # ---- notices (publish outbox) --------------------------------------------------------
    async def enqueue(self, notices: Sequence[Notice]) -> None:
        await self.db.run(partial(outbox.enqueue, notices=notices, now=ts(utcnow())))

    async def due_notices(self, now: datetime, *, limit: int = 100) -> list[NoticeRow]:
        """The next notices to publish, oldest first (an index read on the loop's thread:
        the publisher's round follows every submitter round, and a read handed to the
        SQLite thread would hold the write lock meanwhile)."""
        rows = self.db.read(
            lambda conn: conn.execute(
                "SELECT id, channel, topic, payload, retain, attempts FROM notices "
                "WHERE next_at <= ? ORDER BY id LIMIT ?",
                (ts(now), limit),
            ).fetchall()
        )
        return [NoticeRow(r[0], r[1], r[2], r[3], bool(r[4]), r[5]) for r in rows]

    async def notices_done(self, notice_ids: Sequence[int]) -> None:
        """Forget notices their channels accepted: one short transaction for a round's
        worth, on the loop's thread (one per notice, on the SQLite thread, held the write
        lock ~1 ms each: 8 per TOO, in the way of every alert's commit)."""
        ids = [(notice_id,) for notice_id in notice_ids]
        if ids:
            await self.db.run(
                lambda conn: conn.executemany("DELETE FROM notices WHERE id = ?", ids)
            )

    async def notice_failed(self, notice_id: int, error: str, next_at: datetime) -> None:
        async with self.db.transaction() as tx:
            await tx.execute(
                "UPDATE notices SET attempts = attempts + 1, last_error = ?, next_at = ? "
                "WHERE id = ?",
                (error[:500], ts(next_at), notice_id),
            )

    # ---- meta and summaries --------------------------------------------------------------
    async def set_meta(self, key: str, value: str) -> None:
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    async def get_meta(self, key: str) -> str | None:
        async with self.db.reading() as conn:
            row = await (
                await conn.execute("SELECT value FROM meta WHERE key = ?", (key,))
            ).fetchone()
            return str(row[0]) if row else None

    async def counts(self) -> dict[str, dict[str, int]]:
        """Row counts by status/state, for `autotoo status`, metrics and the dashboard."""
        out: dict[str, dict[str, int]] = {}
        async with self.db.reading() as conn:
            for name, query in _COUNT_QUERIES:
                cur = await conn.execute(query)
                out[name] = {str(r[0]): int(r[1]) for r in await cur.fetchall()}
        return out

    async def decisions_for_alert(self, alert_id: int) -> list[dict[str, Any]]:
        async with self.db.reading() as conn:
            cur = await conn.execute(
                "SELECT rule, matched, reason, error FROM decisions WHERE alert_id = ? ORDER BY id",
                (alert_id,),
            )
            return [dict(r) for r in await cur.fetchall()]

    async def recent_alerts(self, limit: int = 50) -> list[dict[str, Any]]:
        async with self.db.reading() as conn:
            cur = await conn.execute(
                "SELECT a.id, a.inbox_id, a.mission, a.notice_type, a.event_key, a.kind, "
                "a.is_test, a.trigger_time, a.ra, a.dec, a.error_deg, a.created_at, "
                "e.group_key FROM alerts a JOIN events e ON e.id = a.event_id "
                "ORDER BY a.id DESC LIMIT ?",
                (limit,),
            )
            return [dict(r) for r in await cur.fetchall()]
