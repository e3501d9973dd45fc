"""Transaction bodies that run whole on the SQLite thread (see :meth:`Database.run`).

These are the hot paths -- the inbox insert, an alert's evaluation (and the reads association
needs) -- written as plain functions of a ``sqlite3.Connection`` so that a transaction of ten
statements costs one hand-over to the database thread instead of ten. They are part of the
repository (the :class:`~autotoo.store.repository.Repository` methods call them), kept in
their own module because they are synchronous and must never touch the event loop. A
submission's state changes and the notices are their other half, :mod:`autotoo.store.outbox`.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime

from autotoo.store import payloads, specs
from autotoo.store.errors import ConflictError
from autotoo.store.outbox import (
    SUBMISSION_COLUMNS,
    SUBMISSION_FROM,
    enqueue,
    insert_submission,
    log_state,
    settle_waiting,
    submission_row,
    to_json,
)
from autotoo.store.rows import (
    AlertOutcome,
    AssociationRecord,
    Duplicate,
    InboxItem,
    InboxPut,
    StoredMember,
    TransientHistory,
    ts,
    utcnow,
)


# ---- inbox -------------------------------------------------------------------------------
def put_inbox(
    conn: sqlite3.Connection,
    items: Sequence[InboxItem],
    stored: Sequence[tuple[str, bytes]] | None = None,
) -> list[InboxPut]:
    """Store each message once (by transport identity, then by content key), in order.
    ``stored``: each item's (encoding, bytes to store) from :func:`payloads.encode` (default:
    as received)."""
    if stored is None:  # the usual case (notices): no list of pairs to build
        return [_put_one(conn, item, "identity", item.raw) for item in items]
    return [_put_one(conn, item, *how) for item, how in zip(items, stored, strict=True)]


def _put_one(conn: sqlite3.Connection, item: InboxItem, encoding: str, blob: bytes) -> InboxPut:
    if item.identity is not None:
        known = conn.execute(
            "SELECT inbox_id FROM inbox_identity WHERE identity = ?", (item.identity,)
        ).fetchone()
        if known is not None:  # exact redelivery (same Kafka offset, same file)
            return InboxPut(int(known[0]), new=False)
    row = conn.execute(
        "INSERT INTO inbox (dedup_key, source, topic, digest, raw, encoding, raw_size, "
        "received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (dedup_key) DO UPDATE SET seen_count = inbox.seen_count + 1 "
        "RETURNING id, seen_count",
        (
            item.dedup_key,
            item.source,
            item.topic,
            item.digest,
            blob,
            encoding,
            len(item.raw),
            ts(item.received_at),
        ),
    ).fetchone()
    assert row is not None
    inbox_id, seen = int(row[0]), int(row[1])
    if item.identity is not None:
        conn.execute(
            "INSERT INTO inbox_identity (identity, inbox_id) VALUES (?, ?) "
            "ON CONFLICT (identity) DO NOTHING",
            (item.identity, inbox_id),
        )
    return InboxPut(inbox_id, new=seen == 1)


# ---- an evaluated alert ------------------------------------------------------------------
def commit_alerts(
    conn: sqlite3.Connection,
    outcomes: Sequence[AlertOutcome],
    unparsed: Sequence[tuple[int, str]] = (),
    duplicates: Sequence[Duplicate] = (),
) -> list[tuple[int, int]]:
    """Record evaluated alerts (in order), mark unparsed inbox rows and duplicates of
    stored alerts; (alert id, event id) of each outcome. Later outcomes see the rows of
    earlier ones (same transaction).

    Every inbox row must still be 'new': another instance on the same database may have
    evaluated it meanwhile, and then this whole transaction is refused
    (:class:`ConflictError`, rolled back) rather than recording the alert twice."""
    now = ts(utcnow())
    taken = [
        inbox_id
        for inbox_id in [o.inbox_id for o in outcomes]
        + [i for i, _ in unparsed]
        + [d.inbox_id for d in duplicates]
        if conn.execute(
            "UPDATE inbox SET status = status WHERE id = ? AND status = 'new' RETURNING id",
            (inbox_id,),
        ).fetchone()
        is None
    ]
    if taken:
        raise ConflictError(f"inbox rows {taken} were evaluated by another instance")
    ids = [_commit_one(conn, outcome, now) for outcome in outcomes]
    conn.executemany(
        "UPDATE inbox SET status = 'unparsed', reason = ? WHERE id = ?",
        [(reason[:2000], inbox_id) for inbox_id, reason in unparsed],
    )
    for dup in duplicates:
        conn.execute(
            "UPDATE inbox SET status = 'processed', duplicate_of = ?, reason = ? WHERE id = ?",
            (dup.first_inbox_id, dup.reason[:2000], dup.inbox_id),
        )
        conn.execute(
            "UPDATE inbox SET seen_count = seen_count + 1 WHERE id = ?", (dup.first_inbox_id,)
        )
    return ids


def alerts_by_identity(conn: sqlite3.Connection, identities: Sequence[str]) -> dict[str, int]:
    """The inbox row of the stored alert with each of these identities (absent: none)."""
    found: dict[str, int] = {}
    for identity in identities:
        row = conn.execute("SELECT inbox_id FROM alerts WHERE identity = ?", (identity,)).fetchone()
        if row is not None:
            found[identity] = int(row[0])
    return found


def _commit_one(
    conn: sqlite3.Connection, outcome: AlertOutcome, now: str | None
) -> tuple[int, int]:
    n = outcome.normalized
    row = conn.execute(
        "INSERT INTO events (group_key, mission, event_key, first_seen, last_seen, "
        "is_test) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (group_key) DO UPDATE SET "
        "last_seen = excluded.last_seen RETURNING id, best_alert_id",
        (outcome.group_key, outcome.mission, outcome.event_key, now, now, int(outcome.is_test)),
    ).fetchone()
    assert row is not None
    event_id, best_id = int(row[0]), row[1]
    row = conn.execute(
        "INSERT INTO alerts (inbox_id, event_id, mission, notice_type, event_key, kind, "
        "is_test, revision, trigger_time, ra, dec, error_deg, normalized, created_at, "
        "identity) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (
            outcome.inbox_id,
            event_id,
            outcome.mission,
            n.get("notice_type", ""),
            outcome.event_key,
            outcome.kind,
            int(outcome.is_test),
            n.get("revision"),
            n.get("trigger_time"),
            n.get("ra"),
            n.get("dec"),
            outcome.error_deg,
            to_json(n),
            now,
            outcome.identity,
        ),
    ).fetchone()
    assert row is not None
    alert_id = int(row[0])
    _update_event(conn, event_id, alert_id, best_id, outcome)
    transient_id = (
        _associate(conn, event_id, alert_id, outcome.mission, outcome.association, now)
        if outcome.association is not None
        else None
    )
    conn.executemany(
        "INSERT INTO decisions (alert_id, rule, rule_hash, matched, reason, error, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (alert_id, rule) DO NOTHING",
        [
            (alert_id, d.rule, d.rule_hash, int(d.matched), d.reason, d.error, now)
            for d in outcome.decisions
        ],
    )
    _plan(conn, event_id, transient_id, outcome, now)
    conn.execute("UPDATE inbox SET status = 'processed' WHERE id = ?", (outcome.inbox_id,))
    return alert_id, event_id


def _update_event(
    conn: sqlite3.Connection,
    event_id: int,
    alert_id: int,
    best_id: int | None,
    outcome: AlertOutcome,
) -> None:
    best_error = None
    if best_id is not None:
        row = conn.execute("SELECT error_deg FROM alerts WHERE id = ?", (best_id,)).fetchone()
        best_error = row[0] if row else None
    better = outcome.error_deg is not None and (
        best_error is None or outcome.error_deg < best_error
    )
    conn.execute(
        "UPDATE events SET alert_count = alert_count + 1, best_alert_id = ?, "
        "retracted = CASE WHEN ? = 1 THEN 1 ELSE retracted END WHERE id = ?",
        (alert_id if better else best_id, outcome.kind == "retraction", event_id),
    )


def _associate(
    conn: sqlite3.Connection,
    event_id: int,
    alert_id: int,
    mission: str,
    assoc: AssociationRecord,
    now: str | None,
) -> int:
    """The transient row (created, or its times and best position updated) and, for an
    event's first alert, the event's association with the reason; the transient's id.

    ``transient_missions`` (schema 8, the index association searches) gets the event's
    mission with the association, and the transient's times whenever they change."""
    when = ts(assoc.trigger_time)
    row = conn.execute(
        "INSERT INTO transients (key, trigger_time, last_trigger, ra, dec, error_deg, "
        "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (key) DO UPDATE SET updated_at = excluded.updated_at, "
        "trigger_time = CASE WHEN transients.trigger_time IS NULL "
        "OR excluded.trigger_time < transients.trigger_time "
        "THEN coalesce(excluded.trigger_time, transients.trigger_time) "
        "ELSE transients.trigger_time END, "
        "last_trigger = CASE WHEN transients.last_trigger IS NULL "
        "OR excluded.last_trigger > transients.last_trigger "
        "THEN coalesce(excluded.last_trigger, transients.last_trigger) "
        "ELSE transients.last_trigger END "
        "RETURNING id, error_deg, trigger_time, last_trigger",
        (assoc.transient_key, when, when, assoc.ra, assoc.dec, assoc.error_deg, now, now),
    ).fetchone()
    assert row is not None
    transient_id, best, first_trigger, last_trigger = int(row[0]), row[1], row[2], row[3]
    if (
        assoc.error_deg is not None
        and assoc.ra is not None
        and (best is None or assoc.error_deg < best)
    ):
        conn.execute(
            "UPDATE transients SET ra = ?, dec = ?, error_deg = ? WHERE id = ?",
            (assoc.ra, assoc.dec, assoc.error_deg, transient_id),
        )
    if assoc.first:
        conn.execute(
            "INSERT INTO associations (event_id, transient_id, alert_id, joined, reason, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING",
            (event_id, transient_id, alert_id, int(assoc.joined), assoc.reason[:2000], now),
        )
        conn.execute(
            "INSERT INTO transient_missions (transient_id, mission) VALUES (?, ?) "
            "ON CONFLICT DO NOTHING",
            (transient_id, mission),
        )
    conn.execute(
        "UPDATE transient_missions SET trigger_time = ?, last_trigger = ? "
        "WHERE transient_id = ? AND (trigger_time IS NOT ? OR last_trigger IS NOT ?)",
        (first_trigger, last_trigger, transient_id, first_trigger, last_trigger),
    )
    return transient_id


def _plan(
    conn: sqlite3.Connection,
    event_id: int,
    transient_id: int | None,
    outcome: AlertOutcome,
    now: str | None,
) -> None:
    for plan in outcome.plans:
        if transient_id is not None:
            plan = dataclasses.replace(plan, transient_id=transient_id)  # noqa: PLW2901
        parent_id = None
        if plan.parent_key is not None:
            row = conn.execute(
                "SELECT id FROM submissions WHERE key = ?", (plan.parent_key,)
            ).fetchone()
            parent_id = int(row[0]) if row else None
        new_id = insert_submission(conn, event_id, plan, parent_id, now)
        if new_id is not None:
            log_state(conn, new_id, None, "planned", f"alert inbox#{outcome.inbox_id}")
            if plan.waiting:
                # Its parent may be observed or finished already (a rule that gained XRT
                # products after its TOO was observed): never wait for what has happened.
                settle_waiting(conn, now, child_ids=[new_id])
    for key, request in outcome.replans.items():
        conn.execute(
            "UPDATE submissions SET request = ?, updated_at = ? "
            "WHERE key = ? AND state IN ('planned', 'needs_approval')",
            (specs.dumps(request), now, key),
        )
    for key, rule in outcome.reowned.items():
        taken = conn.execute(
            "UPDATE submissions SET rule = ?, updated_at = ? "
            "WHERE key = ? AND state = 'planned' AND rule != ? RETURNING id",
            (rule, now, key, rule),
        ).fetchone()
        if taken is not None:
            log_state(conn, int(taken[0]), "planned", "planned", f"taken over by rule {rule}")
    if outcome.cancel_planned:
        for unsent in ("planned", "needs_approval"):  # neither was sent: both are withheld
            cancelled = conn.execute(
                "UPDATE submissions SET state = 'cancelled', reason = 'retracted', "
                "updated_at = ? WHERE event_id = ? AND state = ? RETURNING id",
                (now, event_id, unsent),
            ).fetchall()
            for row in cancelled:
                log_state(conn, int(row[0]), unsent, "cancelled", "event retracted")
    enqueue(conn, outcome.notices, now)


# ---- transients (reads for association and planning) ---------------------------------------
def event_transients(
    conn: sqlite3.Connection, group_keys: Sequence[str]
) -> dict[str, tuple[str, bool, str]]:
    """(transient key, joined, reason) of each of these events that has one."""
    found: dict[str, tuple[str, bool, str]] = {}
    for start in range(0, len(group_keys), 500):  # one statement per 500 (SQLite's limits)
        chunk = group_keys[start : start + 500]
        marks = ", ".join("?" * len(chunk))  # placeholders only: the values are bound
        query = (
            "SELECT e.group_key, t.key, a.joined, a.reason FROM events e "  # noqa: S608
            "JOIN associations a ON a.event_id = e.id "
            f"JOIN transients t ON t.id = a.transient_id WHERE e.group_key IN ({marks})"
        )
        for group_key, key, joined, reason in conn.execute(query, chunk).fetchall():
            found[group_key] = (str(key), bool(joined), str(reason))
    return found


_MEMBERS = (
    "SELECT t.id, t.key, e.group_key, e.mission, e.best_alert_id, "
    "(SELECT max(id) FROM alerts WHERE event_id = e.id) "
    "FROM transients t JOIN associations a ON a.transient_id = t.id "
    "JOIN events e ON e.id = a.event_id "
)


def transient_members(
    conn: sqlite3.Connection,
    since: datetime | None = None,
    until: datetime | None = None,
    keys: Sequence[str] = (),
    missions: Sequence[str] = (),
) -> list[StoredMember]:
    """Every event of the transients whose triggers span reaches into [since, until] and
    that have an event of one of ``missions`` (or of the transients ``keys``), each with
    the alert that locates it best (else its latest), in transient order.

    ``missions``: those a new event could be associated with. A stream of one mission's
    events (a benchmark's, a busy Fermi night) then reads no transient at all: the
    transients are found by ranges of ``transient_missions``'s (mission, last_trigger)
    index, not by testing every transient of the window for a partner's event.
    """
    if keys:
        rows = [
            r
            for key in keys
            for r in conn.execute(_MEMBERS + "WHERE t.key = ? ORDER BY e.id", (key,)).fetchall()
        ]
    elif missions:
        marks = ", ".join("?" * len(missions))  # placeholders only: the values are bound
        query = (
            f"{_MEMBERS} WHERE t.id IN (SELECT transient_id FROM transient_missions "  # noqa: S608
            f"WHERE mission IN ({marks}) AND last_trigger >= ? AND trigger_time <= ?) "
            "ORDER BY t.id, e.id"
        )
        rows = conn.execute(query, (*missions, ts(since), ts(until))).fetchall()
    else:
        rows = []
    out: list[StoredMember] = []
    for tid, tkey, group_key, mission, best, latest in rows:
        alert_id = best if best is not None else latest
        row = conn.execute("SELECT normalized FROM alerts WHERE id = ?", (alert_id,)).fetchone()
        if row is None:
            continue
        out.append(
            StoredMember(int(tid), str(tkey), group_key, int(alert_id), mission, json.loads(row[0]))
        )
    return out


def transient_history(conn: sqlite3.Connection, keys: Sequence[str]) -> dict[str, TransientHistory]:
    found: dict[str, TransientHistory] = {}
    for key in keys:
        row = conn.execute("SELECT id FROM transients WHERE key = ?", (key,)).fetchone()
        if row is None:
            continue
        subs = conn.execute(
            f"SELECT {SUBMISSION_COLUMNS} FROM {SUBMISSION_FROM} "  # noqa: S608
            "WHERE s.transient_id = ? ORDER BY s.id DESC LIMIT 1000",
            (int(row[0]),),
        ).fetchall()
        found[key] = TransientHistory(int(row[0]), key, [submission_row(r) for r in subs])
    return found


def alert_source(conn: sqlite3.Connection, alert_id: int) -> tuple[str | None, bytes] | None:
    """The topic and payload of a stored alert (None: pruned or absent)."""
    row = conn.execute(
        "SELECT i.topic, i.raw, i.encoding, i.pruned_at FROM alerts a "
        "JOIN inbox i ON i.id = a.inbox_id WHERE a.id = ?",
        (alert_id,),
    ).fetchone()
    if row is None or row[3] is not None:
        return None
    return row[0], payloads.decode(row[2], bytes(row[1]))
