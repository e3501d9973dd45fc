"""TOO budgets counted where they are spent: inside the transaction that moves a row to
'submitting' (the durable commit before its POST).

Why here: a budget counted before that transaction can be spent twice. One daemon checks and
sends one row at a time, so a count read just before is exact there; but two instances on one
PostgreSQL database that count at the same moment each see room for one more, and each send
it (seen: six TOOs under a cap of five). Counting inside the move, after an advisory lock
that every instance's budgeted move takes, makes "count, then move" one step across
instances: the second waits for the first's commit and counts its row. On SQLite the move's
``BEGIN IMMEDIATE`` already serialises it (one writer per file).

The submitter still reads the same counts before it prepares a TOO (cheap, and it parks the
row with the same reason before any pre-send query); this module's check is the one that
holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from autotoo.store.errors import ConflictError
from autotoo.store.rows import ts

if TYPE_CHECKING:
    import sqlite3

# The advisory lock every instance's budgeted move takes (a constant of our own: "autobudg").
_BUDGET_LOCK = 0x6175746F62756467


@dataclass(frozen=True, slots=True)
class BudgetCap:
    """At most ``limit`` requests of ``api`` sent since ``since``: of one ``rule``, one
    ``account``, or all. ``label`` and ``window`` make the reason ("rule budget exhausted: 3
    of 3 TOOs in 24 h")."""

    api: str
    limit: int
    since: datetime
    label: str
    window: str
    rule: str | None = None
    account: str | None = None

    def exhausted(self, used: int) -> str:
        return f"{self.label} budget exhausted: {used} of {self.limit} TOOs in {self.window}"


class BudgetExhaustedError(ConflictError):
    """A budgeted move found a cap already reached (another instance spent it meanwhile):
    nothing was moved; ``reason`` says which cap."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def sent_query(
    api: str, since: datetime, *, rule: str | None = None, account: str | None = None
) -> tuple[str, list[Any]]:
    """The count of submissions of ``api`` that were (or may have been) sent since
    ``since``: every one, one rule's, or one account's (schema 7's indexed column)."""
    query = "SELECT COUNT(*) FROM submissions WHERE api = ?"
    params: list[Any] = [api]
    if account is not None:
        query += " AND account = ?"
        params.append(account)
    query += " AND sent_at IS NOT NULL AND sent_at >= ?"
    params.append(ts(since))
    if rule is not None:
        query += " AND rule = ?"
        params.append(rule)
    return query, params


def check(conn: sqlite3.Connection, caps: Sequence[BudgetCap], *, shared: bool) -> None:
    """Raise :class:`BudgetExhaustedError` if any cap is reached; call inside the
    transaction that then moves the row (``shared``: a database several instances use,
    whose budgeted moves are serialised by an advisory lock held to the commit)."""
    if not caps:
        return
    if shared:
        conn.execute("SELECT pg_advisory_xact_lock(?)", (_BUDGET_LOCK,))
    for cap in caps:
        query, params = sent_query(cap.api, cap.since, rule=cap.rule, account=cap.account)
        row = conn.execute(query, params).fetchone()
        used = int(row[0]) if row else 0
        if used >= cap.limit:
            raise BudgetExhaustedError(cap.exhausted(used))
