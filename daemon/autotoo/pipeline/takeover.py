"""'submitting' rows whose POST may have left without its reply being stored: found at a
restart, or (several instances on one database) held by an instance whose lease expired.

Both become 'unknown' and are reconciled against the remote listing, never sent again
directly (docs/postgresql.md, "Takeover"). On a store with one instance every 'submitting'
row at start is such a row; on a shared store only those whose lease is not live: another
instance may be sending the others now.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from autotoo.logs import get_logger
from autotoo.store.errors import ConflictError
from autotoo.store.leases import Fence
from autotoo.store.repository import Repository
from autotoo.store.rows import SubmissionState

log = get_logger("autotoo.submitter")

S = SubmissionState


async def recover(
    repo: Repository, *, instance: str, clock: Callable[[], datetime], lease: timedelta
) -> int:
    """The 'submitting' rows a crash left (on a shared store: whose lease expired)."""
    if repo.db.shared:
        return await take_over(repo, instance=instance, now=clock(), lease=lease)
    rows = await repo.submissions(states=[S.SUBMITTING], limit=10_000)
    for row in rows:
        await repo.transition(
            row.id,
            expect=[S.SUBMITTING],
            to=S.UNKNOWN,
            next_at=clock(),
            detail="found 'submitting' at start: the POST may have been sent",
        )
    if rows:
        log.warning("reconciling submissions interrupted by a restart", count=len(rows))
    return len(rows)


async def take_over(repo: Repository, *, instance: str, now: datetime, lease: timedelta) -> int:
    """'submitting' rows whose lease expired (their instance died or is paused mid-POST)
    become 'unknown' here. Each is claimed first, so one instance takes it."""
    taken = 0
    for sub_id in await repo.leases.expired(S.SUBMITTING, now):
        claim = await repo.leases.claim(
            sub_id, state=S.SUBMITTING, owner=instance, now=now, lease=lease
        )
        row = await repo.submission(sub_id)
        if claim is None or row is None:
            continue
        try:
            await repo.transition(
                sub_id,
                expect=[S.SUBMITTING],
                to=S.UNKNOWN,
                durable=True,
                # its turn is when it was sent: before the rows planned since
                next_at=min(row.sent_at or now, now),
                fence=Fence(claim, now),
                detail=f"taken over by {instance}: its lease expired while "
                "'submitting'; the POST may have been sent",
            )
        except ConflictError:
            continue
        taken += 1
    if taken:
        log.warning("took over submissions whose lease expired", count=taken)
    return taken
