"""Evaluate a stored alert again: ``autotoo alerts reprocess ID``.

A payload the parser could not read (fixed since), or a file dropped with the wrong topic,
stays in the inbox with its raw bytes; this puts it before the processor once more.

* An ``unparsed`` row has no alert, decisions or plans: it becomes ``new`` again in place (with
  the corrected topic), and the processor parses and evaluates it as if it had just arrived.
* A ``processed`` row already has its alert, event and decisions, which stay as the record of
  what was decided then. Its payload is stored again as a new inbox row (source
  ``reprocess``, its own dedup key, since the content key would say "already stored"), which
  the processor evaluates as one more alert of the same event.

Exactly once still holds: what the first evaluation planned has an idempotency key of (rule,
event, action, attempt), which the second evaluation computes again, so the outbox's UNIQUE
key turns it into "already planned", never into a second TOO or XRT job; a retraction or an
update is handled as for any later alert. ``new`` rows are not evaluated yet: nothing to do.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from autotoo.alerts.streams import topic_of_payload
from autotoo.alerts.topics import normalize_topic
from autotoo.store.repository import Repository
from autotoo.store.rows import REPROCESSED, ts

# The drop folder's catch-all topic (sources/directory.py), given when a payload named none.
_CATCH_ALL = "directory"


class ReprocessError(Exception):
    """The row does not exist, is not evaluated yet, or its payload was pruned."""


@dataclass(frozen=True, slots=True)
class Reprocessed:
    original_id: int
    inbox_id: int  # the row the processor will evaluate (the same one, or a new copy)
    topic: str | None
    was: str  # the original row's status
    copied: bool


def topic_for_reprocess(stored: str | None, given: str | None, raw: bytes) -> str | None:
    """``--topic`` if given; else the stored topic, unless it is missing or the drop folder's
    catch-all, in which case the topic the payload names (the fix for files dropped before
    payload routing existed, or mis-parsed)."""
    if given:
        return normalize_topic(given)
    if stored and stored != _CATCH_ALL:
        return stored
    return topic_of_payload(raw) or stored


async def reprocess(
    repo: Repository, inbox_id: int, *, topic: str | None, now: datetime
) -> Reprocessed:
    row = await repo.inbox_get(inbox_id)
    if row is None:
        raise ReprocessError(f"no stored alert #{inbox_id}")
    if row.status not in {"unparsed", "processed"}:
        raise ReprocessError(
            f"alert #{inbox_id} is {row.status}: not evaluated yet, the daemon will evaluate it"
        )
    if row.pruned_at is not None:
        raise ReprocessError(
            f"alert #{inbox_id}: its payload was pruned on "
            f"{row.pruned_at.strftime('%Y-%m-%d %H:%M:%S')} UTC by the retention policy "
            "(store.retention); there is nothing to evaluate again"
        )
    chosen = topic_for_reprocess(row.topic, topic, row.raw)
    if row.status == "unparsed":
        async with repo.db.transaction(durable=True) as tx:
            await tx.execute(
                "UPDATE inbox SET status = 'new', reason = NULL, topic = ? "
                "WHERE id = ? AND status = 'unparsed'",
                (chosen, inbox_id),
            )
        return Reprocessed(inbox_id, inbox_id, chosen, row.status, copied=False)
    digest = hashlib.sha256(row.raw).hexdigest()
    put = await repo.inbox_put(
        dedup_key=f"reprocess:{inbox_id}:{ts(now)}",
        source=REPROCESSED,
        identity=None,
        topic=chosen,
        digest=digest,
        raw=row.raw,
        received_at=now,
    )
    return Reprocessed(inbox_id, put.inbox_id, chosen, row.status, copied=True)
