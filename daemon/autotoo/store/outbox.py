"""Transaction bodies of the outbox: a submission's rows, its state changes, its status
notices, and the rows that wait for their parent's observation.

Like :mod:`autotoo.store.writes` (its other half: the inbox and an evaluated alert), plain
synchronous functions of a ``sqlite3.Connection`` that the repository runs whole in one
transaction (see :meth:`Database.run`); they must never touch the event loop. The row
helpers every store module reads submissions with live here too.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from autotoo.store import specs
from autotoo.store.errors import ConflictError, LeaseLostError
from autotoo.store.leases import Fence
from autotoo.store.rows import (
    Api,
    Notice,
    PlannedSubmission,
    Settled,
    SubmissionRow,
    SubmissionState,
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
