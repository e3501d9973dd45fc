"""The read side of the store: what the CLI (``autotoo status``, ``jobs``, ``alerts``), the
dashboard and the metrics read, apart from the writes and the pipeline's own reads in
:mod:`autotoo.store.repository` (which offers these too: ``Repository`` is a ``ReadModels``).
Every query here only reads; the row readers at the top are shared with the repository."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from autotoo.store import outbox, payloads
from autotoo.store.db import Database
from autotoo.store.rows import (
    Api,
    EventRow,
    InboxRow,
    SubmissionRow,
    SubmissionState,
    parse_ts,
    ts,
    utcnow,
)
from autotoo.store.transient_reads import TransientReads

_SUBMISSION_COLUMNS = outbox.SUBMISSION_COLUMNS
_SUBMISSION_FROM = outbox.SUBMISSION_FROM
_submission = outbox.submission_row


def inbox_row(row: sqlite3.Row) -> InboxRow:
    pruned_at = parse_ts(row["pruned_at"])
    raw = b"" if pruned_at is not None else payloads.decode(row["encoding"], bytes(row["raw"]))
    return InboxRow(
        id=row["id"],
        source=row["source"],
        topic=row["topic"],
        raw=raw,
        received_at=parse_ts(row["received_at"]) or utcnow(),
        status=row["status"],
        reason=row["reason"],
        dedup_key=row["dedup_key"],
        seen_count=row["seen_count"],
        duplicate_of=row["duplicate_of"],
        pruned_at=pruned_at,
        size=row["raw_size"] if row["raw_size"] is not None else len(raw),
    )


def event_row(row: sqlite3.Row) -> EventRow:
    return EventRow(
        id=row["id"],
        group_key=row["group_key"],
        mission=row["mission"],
        event_key=row["event_key"],
        alert_count=row["alert_count"],
        best_alert_id=row["best_alert_id"],
        retracted=bool(row["retracted"]),
        first_seen=parse_ts(row["first_seen"]) or utcnow(),
        last_seen=parse_ts(row["last_seen"]) or utcnow(),
    )


class ReadModels(TransientReads):
    """Read-only queries for the CLI, the dashboard and the metrics (transients' in
    :mod:`autotoo.store.transient_reads`)."""

    db: Database

    # ---- CLI queries (autotoo status, jobs, alerts list/export; read-only) ----------------
    async def cli_submissions(
        self,
        *,
        state: str | None = None,
        api: Api | None = None,
        rule: str | None = None,
        limit: int = 50,
    ) -> list[SubmissionRow]:
        """Newest first, filtered by state, api and rule (``autotoo jobs list``)."""
        where, params = ["1 = 1"], []
        for column, value in (("s.state", state), ("s.api", api), ("s.rule", rule)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        async with self.db.reading() as conn:
            cur = await conn.execute(
                f"SELECT {_SUBMISSION_COLUMNS} FROM {_SUBMISSION_FROM} "  # noqa: S608
                f"WHERE {' AND '.join(where)} ORDER BY s.id DESC LIMIT ?",
                (*params, limit),
            )
            return [_submission(r) for r in await cur.fetchall()]

    async def cli_oldest_submission(
        self, states: Sequence[SubmissionState]
    ) -> SubmissionRow | None:
        """The longest-waiting submission in one of ``states`` (by creation time)."""
        placeholders = ", ".join("?" for _ in states)
        async with self.db.reading() as conn:
            cur = await conn.execute(
                f"SELECT {_SUBMISSION_COLUMNS} FROM {_SUBMISSION_FROM} "  # noqa: S608
                f"WHERE s.state IN ({placeholders}) ORDER BY s.created_at, s.id LIMIT 1",
                [s.value for s in states],
            )
            row = await cur.fetchone()
            return _submission(row) if row else None

    async def cli_last_activity(self) -> dict[str, datetime | None]:
        """When something last arrived, was evaluated, and last changed in the outbox."""
        queries = {
            "received": "SELECT MAX(received_at) FROM inbox",
            "evaluated": "SELECT MAX(created_at) FROM alerts",
            "submission_changed": "SELECT MAX(updated_at) FROM submissions",
        }
        out: dict[str, datetime | None] = {}
        async with self.db.reading() as conn:
            for name, query in queries.items():
                row = await (await conn.execute(query)).fetchone()
                out[name] = parse_ts(row[0]) if row else None
        return out

    async def cli_meta(self) -> dict[str, str]:
        async with self.db.reading() as conn:
            cur = await conn.execute("SELECT key, value FROM meta ORDER BY key")
            return {str(r[0]): str(r[1]) for r in await cur.fetchall()}

    async def cli_inbox(
        self,
        *,
        status: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
        newest_first: bool = True,
    ) -> list[tuple[InboxRow, str | None]]:
        """Stored messages with the event they were grouped into (None until evaluated)."""
        query = (
            "SELECT i.*, e.group_key FROM inbox i LEFT JOIN alerts a ON a.inbox_id = i.id "
            "LEFT JOIN events e ON e.id = a.event_id WHERE 1 = 1"
        )
        params: list[Any] = []
        if status is not None:
            query += " AND i.status = ?"
            params.append(status)
        if since is not None:
            query += " AND i.received_at >= ?"
            params.append(ts(since))
        query += f" ORDER BY i.id {'DESC' if newest_first else 'ASC'}"
        if limit is not None:
            query += " LIMIT ?"
            params.append(limit)
        async with self.db.reading() as conn:
            cur = await conn.execute(query, params)
            return [(inbox_row(r), r["group_key"]) for r in await cur.fetchall()]

    # ---- dashboard and metrics queries ---------------------------------------------------
    async def _rows_for(self, select: str, ids: Sequence[int], order: str) -> list[sqlite3.Row]:
        """``select`` (ending in ``WHERE <column>``) for every id of ``ids``, in one query."""
        if not ids:
            return []
        marks = ", ".join("?" for _ in ids)
        async with self.db.reading() as conn:
            cur = await conn.execute(
                f"{select} IN ({marks}) ORDER BY {order}",
                tuple(ids),
            )
            return list(await cur.fetchall())

    async def decisions_for_alerts(
        self, alert_ids: Sequence[int]
    ) -> dict[int, list[dict[str, Any]]]:
        """Every rule's verdict on each of ``alert_ids`` (one query for a dashboard page)."""
        out: dict[int, list[dict[str, Any]]] = {}
        for r in await self._rows_for(
            "SELECT alert_id, rule, matched, reason, error FROM decisions WHERE alert_id",
            alert_ids,
            "alert_id, id",
        ):
            out.setdefault(int(r[0]), []).append(
                {"rule": r[1], "matched": bool(r[2]), "reason": r[3], "error": r[4]}
            )
        return out

    async def recent_events(self, limit: int = 50) -> list[EventRow]:
        async with self.db.reading() as conn:
            cur = await conn.execute(
                "SELECT * FROM events ORDER BY last_seen DESC, id DESC LIMIT ?", (limit,)
            )
            return [event_row(r) for r in await cur.fetchall()]

    async def remote_jobs_for(self, sub_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        rows = await self._rows_for(
            "SELECT submission_id, status, detail, url, polls, poll_failures, last_polled_at "
            "FROM remote_jobs WHERE submission_id",
            sub_ids,
            "submission_id",
        )
        return {
            int(r[0]): {
                "status": r[1],
                "detail": json.loads(r[2]) if r[2] else None,
                "url": r[3],
                "polls": r[4],
                "poll_failures": r[5],
                "last_polled_at": r[6],
            }
            for r in rows
        }

    async def observations_for(self, sub_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
        out: dict[int, list[dict[str, Any]]] = {}
        for r in await self._rows_for(
            "SELECT submission_id, target_id, obsid, start_time, end_time, exposure_s "
            "FROM observations WHERE submission_id",
            sub_ids,
            "obsid",
        ):
            out.setdefault(int(r[0]), []).append(
                {"target_id": r[1], "obsid": r[2], "start": r[3], "end": r[4], "exposure_s": r[5]}
            )
        return out

    async def results_for(self, sub_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        """Products by submission and kind (``{sub_id: {kind: data}}``)."""
        out: dict[int, dict[str, Any]] = {}
        for r in await self._rows_for(
            "SELECT submission_id, kind, data FROM results WHERE submission_id", sub_ids, "id"
        ):
            out.setdefault(int(r[0]), {})[r[1]] = json.loads(r[2])
        return out

    async def poll_failures(self) -> dict[str, int]:
        """Failed polls of remote jobs ever recorded, by API (only grows: a counter)."""
        async with self.db.reading() as conn:
            cur = await conn.execute("SELECT api, SUM(poll_failures) FROM remote_jobs GROUP BY api")
            return {str(r[0]): int(r[1] or 0) for r in await cur.fetchall()}

    async def pending_since(self, now: datetime) -> list[tuple[str, datetime]]:
        """(api, since when) of every submission that should be on its way and is not.

        Pending: 'submitting' or 'unknown', or 'planned' and due (released, past any settle
        window; a row in retry backoff stays pending). Since: the latest of its creation,
        its release or re-parenting (a log row with no state change), and its not_before,
        so a TOO that waited 12 h to be observed does not make its XRT job look 12 h late.
        """
        async with self.db.reading() as conn:
            cur = await conn.execute(
                "SELECT s.api, s.created_at, s.not_before, "
                "(SELECT MAX(l.at) FROM submission_log l WHERE l.submission_id = s.id "
                "AND (l.from_state IS NULL OR l.from_state = l.to_state)) "
                "FROM submissions s WHERE s.state IN ('submitting', 'unknown') "
                "OR (s.state = 'planned' AND s.next_at IS NOT NULL "
                "AND (s.not_before IS NULL OR s.not_before <= ?))",
                (ts(now),),
            )
            out = []
            for api, created, not_before, entered in await cur.fetchall():
                since = max(v for v in (created, not_before, entered) if v is not None)
                out.append((str(api), parse_ts(since) or now))
            return out

    async def sent_latencies(self) -> list[tuple[str, float]]:
        """(api, seconds from receiving the alert that planned it to sending it) of every sent
        submission. The planning alert is the one committed with it: ``commit_alert`` writes
        the alert and its plans with the same ``created_at``. Follow-ups (new attempts) have
        no such alert and are left out."""
        async with self.db.reading() as conn:
            cur = await conn.execute(
                "SELECT s.api, i.received_at, s.sent_at FROM submissions s "
                "JOIN alerts a ON a.event_id = s.event_id AND a.created_at = s.created_at "
                "JOIN inbox i ON i.id = a.inbox_id WHERE s.sent_at IS NOT NULL"
            )
            out = []
            for api, received, sent in await cur.fetchall():
                start, end = parse_ts(received), parse_ts(sent)
                if start is not None and end is not None:
                    out.append((str(api), max(0.0, (end - start).total_seconds())))
            return out
