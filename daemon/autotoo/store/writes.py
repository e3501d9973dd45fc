"""Transaction bodies that run whole on the SQLite thread (see :meth:`Database.run`).

These are the hot paths -- the inbox insert, an alert's evaluation, a submission's state
change -- written as plain functions of a ``sqlite3.Connection`` so that a transaction of ten
statements costs one hand-over to the database thread instead of ten. They are part of the
repository (the :class:`~autotoo.store.repository.Repository` methods call them), kept in
their own module because they are synchronous and must never touch the event loop.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from autotoo.store import payloads, specs
from autotoo.store.errors import ConflictError, LeaseLostError
from autotoo.store.leases import Fence
from autotoo.store.rows import (
    AlertOutcome,
    Api,
    AssociationRecord,
    Duplicate,
    InboxItem,
    InboxPut,
    Notice,
    PlannedSubmission,
    Settled,
    StoredMember,
    SubmissionRow,
    SubmissionState,
    TransientHistory,
    parse_ts,
    ts,
    utcnow,
)
from autotoo.store.specs import XrtSpec

# The status notices of a waiting row that is withdrawn: (row, new state, reason).
NoticesFor = Callable[[SubmissionRow, str, str], Sequence[Notice]]

SUBMISSION_COLUMNS = (
    "s.id, s.key, s.api, s.rule, s.event_id, s.action, s.attempt, s.parent_id, s.state, "
    "s.request, s.remote_id, s.sent_at, s.not_before, s.next_at, s.reason, s.created_at, "
    "s.updated_at, e.group_key, e.event_key, s.reconcile_missing, s.reconcile_errors, "
    "s.first_try_at, s.transient_id, s.approval_deadline, s.approved_by, s.approved_at"
)
SUBMISSION_FROM = "submissions s JOIN events e ON e.id = s.event_id"


def to_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def submission_row(row: sqlite3.Row | tuple[Any, ...]) -> SubmissionRow:
    return SubmissionRow(
        id=row[0],
        key=row[1],
        api=(api := Api(row[2])),
        rule=row[3],
        event_id=row[4],
        action=row[5],
        attempt=row[6],
        parent_id=row[7],
        state=SubmissionState(row[8]),
        spec=specs.loads(api, row[9]),
        remote_id=row[10],
        sent_at=parse_ts(row[11]),
        not_before=parse_ts(row[12]),
        next_at=parse_ts(row[13]),
        reason=row[14],
        created_at=parse_ts(row[15]) or utcnow(),
        updated_at=parse_ts(row[16]) or utcnow(),
        group_key=row[17],
        event_key=row[18],
        reconcile_missing=row[19],
        reconcile_errors=row[20],
        first_try_at=parse_ts(row[21]),
        transient_id=row[22],
        approval_deadline=parse_ts(row[23]),
        approved_by=row[24],
        approved_at=parse_ts(row[25]),
    )


def submission_by_id(conn: sqlite3.Connection, sub_id: int) -> SubmissionRow | None:
    row = conn.execute(
        f"SELECT {SUBMISSION_COLUMNS} FROM {SUBMISSION_FROM} WHERE s.id = ?",  # noqa: S608
        (sub_id,),
    ).fetchone()
    return submission_row(row) if row else None


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


# ---- submissions and notices -------------------------------------------------------------
def log_state(
    conn: sqlite3.Connection, sub_id: int, old: str | None, new: str, detail: str | None
) -> None:
    conn.execute(
        "INSERT INTO submission_log (submission_id, from_state, to_state, at, detail) "
        "VALUES (?, ?, ?, ?, ?)",
        (sub_id, old, new, ts(utcnow()), detail),
    )


def insert_submission(
    conn: sqlite3.Connection,
    event_id: int,
    plan: PlannedSubmission,
    parent_id: int | None,
    now: str | None,
) -> int | None:
    """Insert a planned row unless its key exists (the duplicate guard); its id, or None.
    A row waiting for its parent's observation has no next time until it is released."""
    if parent_id is not None and plan.transient_id is None:
        # A follow-up (a policy attempt, a retried XRT job): of its parent's transient.
        found = conn.execute(
            "SELECT transient_id FROM submissions WHERE id = ?", (parent_id,)
        ).fetchone()
        plan = dataclasses.replace(plan, transient_id=found[0] if found else None)
    row = conn.execute(
        "INSERT INTO submissions (key, api, rule, event_id, action, attempt, parent_id, "
        "state, request, not_before, next_at, created_at, updated_at, first_try_at, "
        "transient_id) VALUES (?, ?, ?, ?, ?, ?, ?, 'planned', ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (key) DO NOTHING RETURNING id",
        (
            plan.key,
            plan.api,
            plan.rule,
            event_id,
            plan.action,
            plan.attempt,
            parent_id,
            specs.dumps(plan.spec),
            ts(plan.not_before),
            None if plan.waiting else ts(plan.not_before) or now,
            now,
            now,
            ts(plan.first_try_at),
            plan.transient_id,
        ),
    ).fetchone()
    return int(row[0]) if row is not None else None


def enqueue(conn: sqlite3.Connection, notices: Sequence[Notice], now: str | None) -> None:
    conn.executemany(
        "INSERT INTO notices (channel, topic, payload, retain, created_at, next_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [(n.channel, n.topic, to_json(n.payload), int(n.retain), now, now) for n in notices],
    )


_MOVABLE = frozenset(
    {
        "remote_id",
        "sent_at",
        "next_at",
        "not_before",
        "reason",
        "spec",
        "reconcile_missing",
        "reconcile_errors",
        "first_try_at",
        "approval_deadline",
        "approved_by",
        "approved_at",
        "lease_until",  # the move to 'submitting' renews its lease for the POST
    }
)


def move(
    conn: sqlite3.Connection,
    sub_id: int,
    *,
    expect: Sequence[SubmissionState],
    to: SubmissionState,
    fields: Mapping[str, Any],
    detail: str | None,
    notices: Sequence[Notice],
    now: datetime,
    fence: Fence | None = None,
) -> SubmissionRow:
    """Move a submission from one of ``expect`` to ``to`` with column updates, logged, with
    its notices; :class:`ConflictError` if it is in none of ``expect`` (a lost race), or
    (``fence``) its lease is no longer this claim's or its request changed (store/leases.py)."""
    if unknown := set(fields) - _MOVABLE:
        raise ValueError(f"cannot set {sorted(unknown)} in a transition")
    sets = ["state = ?", "updated_at = ?"]
    params: list[Any] = [to.value, ts(now)]
    for name, value in fields.items():
        if name == "spec":
            sets.append("request = ?")
            params.append(specs.dumps(value))
            continue
        sets.append(f"{name} = ?")
        params.append(ts(value) if isinstance(value, datetime) else value)
    placeholders = ", ".join("?" for _ in expect)
    fenced, fence_params = fence.where() if fence is not None else ("", [])
    moved = conn.execute(
        f"UPDATE submissions SET {', '.join(sets)} "  # noqa: S608 column names are ours
        f"WHERE id = ? AND state IN ({placeholders}){fenced} RETURNING state",
        (*params, sub_id, *(s.value for s in expect), *fence_params),
    ).fetchone()
    if moved is None:
        if fence is not None:
            raise LeaseLostError(
                f"submission {sub_id}: not in {[s.value for s in expect]} under lease "
                f"{fence.lease.token} of {fence.lease.owner} (expired, taken over or replanned)"
            )
        raise ConflictError(f"submission {sub_id} is not in {[s.value for s in expect]}")
    old = expect[0].value if len(expect) == 1 else None
    log_state(conn, sub_id, old, to.value, detail)
    enqueue(conn, notices, ts(now))
    row = submission_by_id(conn, sub_id)
    assert row is not None
    return row


def add_observations(
    conn: sqlite3.Connection, sub_id: int, observations: Iterable[Mapping[str, Any]]
) -> int:
    """Insert the observations not yet known; how many were new."""
    added = 0
    for obs in observations:
        new = conn.execute(
            "INSERT INTO observations (submission_id, target_id, obsid, start_time, "
            "end_time, exposure_s) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (submission_id, obsid) DO NOTHING RETURNING id",
            (
                sub_id,
                str(obs["target_id"]),
                str(obs["obsid"]),
                obs.get("start"),
                obs.get("end"),
                obs.get("exposure_s"),
            ),
        ).fetchone()
        added += new is not None
    return added


# ---- rows waiting for their parent's observation -----------------------------------------
# A waiting row is 'planned' with no next time: only its parent's observation gives it one.
_WAITING = "s.state = 'planned' AND s.next_at IS NULL"
# A parent in one of these may still be observed: its children keep waiting.
_UNDECIDED = frozenset(
    {
        SubmissionState.PLANNED,
        SubmissionState.SUBMITTING,
        SubmissionState.SUBMITTED,
        SubmissionState.TRACKING,
        SubmissionState.UNKNOWN,
        SubmissionState.NEEDS_APPROVAL,  # a person may still approve it
    }
)


def settle_waiting(
    conn: sqlite3.Connection,
    now: str | None,
    *,
    parent_id: int | None = None,
    child_ids: Sequence[int] | None = None,
    notices_for: NoticesFor | None = None,
) -> list[Settled]:
    """Give every waiting row (of ``parent_id``, or those of ``child_ids``, or all) whose
    parent's outcome is known what it was waiting for, in this transaction.

    Observed parent: released with the observed target IDs, as the tracker does.
    Rejected parent with a policy resubmission: it waits for the newest attempt instead.
    A parent that ended otherwise (done or cancelled without an observation, rejected
    for good, failed): cancelled. A parent parked for a human (the daemon no longer
    follows it, so nothing it observes will be seen) or no parent at all: needs_human.
    A parent still undecided: nothing changes.
    """
    query = f"SELECT {SUBMISSION_COLUMNS} FROM {SUBMISSION_FROM} WHERE {_WAITING}"  # noqa: S608
    params: list[Any] = []
    if parent_id is not None:
        query += " AND s.parent_id = ?"
        params.append(parent_id)
    if child_ids is not None:
        query += f" AND s.id IN ({', '.join('?' for _ in child_ids)})"
        params.extend(child_ids)
    settled: list[Settled] = []
    for row in conn.execute(query + " ORDER BY s.id", params).fetchall():
        settled += _settle(conn, submission_row(row), now, notices_for)
    return settled


def _settle(
    conn: sqlite3.Connection, child: SubmissionRow, now: str | None, notices_for: NoticesFor | None
) -> list[Settled]:
    done: list[Settled] = []
    seen: set[int] = set()
    while child.parent_id is not None and child.parent_id not in seen:
        seen.add(child.parent_id)
        parent = submission_by_id(conn, child.parent_id)
        if parent is None:
            break
        targets = [
            str(r[0])
            for r in conn.execute(
                "SELECT DISTINCT target_id FROM observations WHERE submission_id = ? "
                "ORDER BY target_id",
                (parent.id,),
            )
        ]
        if targets:
            assert isinstance(child.spec, XrtSpec)  # only XRT jobs wait for a TOO
            request = child.spec.with_globals(targ=",".join(targets))
            why = f"released: the TOO was observed ({targets})"
            conn.execute(
                "UPDATE submissions SET request = ?, next_at = ?, updated_at = ? WHERE id = ?",
                (specs.dumps(request), now, now, child.id),
            )
            log_state(conn, child.id, "planned", "planned", why)
            return [*done, Settled(child.id, child.key, parent.id, "released", why)]
        if parent.state in _UNDECIDED:
            return done
        newer = None
        if parent.state is SubmissionState.REJECTED:  # its policy resubmission, if any
            newer = conn.execute(
                "SELECT id FROM submissions WHERE parent_id = ? AND api = ? "
                "ORDER BY attempt DESC, id DESC LIMIT 1",
                (parent.id, parent.api),
            ).fetchone()
        if newer is not None:
            why = f"now waits for submission {newer[0]}"
            conn.execute(
                "UPDATE submissions SET parent_id = ?, updated_at = ? WHERE id = ?",
                (int(newer[0]), now, child.id),
            )
            log_state(conn, child.id, None, "planned", why)
            done.append(Settled(child.id, child.key, parent.id, "reparented", why))
            child.parent_id = int(newer[0])
            continue
        ended = f"{parent.state.value}: {parent.reason}" if parent.reason else parent.state.value
        if parent.state is SubmissionState.NEEDS_HUMAN:
            why = (
                f"its TOO (submission {parent.id}) was parked for a human ({ended}); autotoo "
                "no longer follows it, so its observation cannot release this request"
            )
            return [*done, _withdraw(conn, child, parent.id, "needs_human", why, now, notices_for)]
        why = f"its TOO (submission {parent.id}) ended without an observation ({ended})"
        return [*done, _withdraw(conn, child, parent.id, "cancelled", why, now, notices_for)]
    why = "waits for an observation, but its parent submission does not exist"
    return [*done, _withdraw(conn, child, child.parent_id, "needs_human", why, now, notices_for)]


def _withdraw(
    conn: sqlite3.Connection,
    child: SubmissionRow,
    parent_id: int | None,
    state: str,
    why: str,
    now: str | None,
    notices_for: NoticesFor | None,
) -> Settled:
    conn.execute(
        "UPDATE submissions SET state = ?, reason = ?, updated_at = ? WHERE id = ?",
        (state, why, now, child.id),
    )
    log_state(conn, child.id, "planned", state, why)
    if notices_for is not None:
        enqueue(conn, notices_for(child, state, why), now)
    return Settled(child.id, child.key, parent_id, state, why)


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
