"""The inbox sink every source hands its messages to.

Returning from :meth:`Inbox.__call__` means the message is durably stored (the source then
acknowledges it to the broker, Kafka or the drop folder); raising means it is not, and the
transport redelivers it. Duplicates -- by transport identity or by content -- are stored once
and processed once.

Group commit: messages that arrive while a write is in progress (a source with several in
flight, concurrent HTTP posts) are stored together in the next write, one transaction for all
of them. The first waiting caller writes for everyone queued behind it.

Each write is committed without an fsync, and the processor is told at once; each caller then
waits for :meth:`Repository.sync` (one fsync of the WAL for every message stored so far)
before it returns. So the alert is evaluated while its row is being made durable, not after,
and still nothing is acknowledged before it is on disk. Nothing the processor plans can leave
the machine before then either: a POST follows a FULL commit, whose fsync of the same WAL
makes the inbox row durable first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from autotoo.logs import get_logger, info_soon
from autotoo.pipeline.keys import inbox_key
from autotoo.pipeline.ports import Message
from autotoo.store.repository import Repository
from autotoo.store.rows import InboxItem, InboxPut

log = get_logger("autotoo.inbox")


@dataclass(slots=True)
class InboxCounters:
    received: int = 0
    duplicates: int = 0


class Inbox:
    def __init__(self, repo: Repository, *, on_new: Callable[[int], None] | None = None) -> None:
        self.repo = repo
        self.on_new = on_new or (lambda _inbox_id: None)
        self.counters = InboxCounters()
        self._queued: list[_Queued] = []
        self._writing = asyncio.Lock()

    @property
    def busy(self) -> bool:
        """Messages are waiting to be stored, or being stored."""
        return bool(self._queued) or self._writing.locked()

    async def __call__(self, message: Message) -> None:
        # While the store cannot write (disk full), refuse at once: the source keeps the
        # message unacknowledged and offers it again (StorageUnavailableError is its "not
        # now"); the store's own probe, not a flood of inserts, finds out when space is back.
        self.repo.db.storage.refuse()
        key, digest = inbox_key(message.raw, message.topic)
        item = InboxItem(
            dedup_key=key,
            source=message.source,
            identity=message.identity,
            topic=message.topic,
            digest=digest,
            raw=message.raw,
            received_at=message.received_at,
        )
        stored: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._queued.append(_Queued(item, message, stored))
        async with self._writing:
            if not stored.done():  # nobody wrote it while we waited: write everything queued
                # Shielded: the write carries other callers' messages too, and a cancelled
                # caller (an HTTP client that hung up) must not cancel theirs.
                await asyncio.shield(self._write())
        mark = stored.result()  # raises if the write that carried this message failed
        await self.repo.sync(mark)  # raises (the transport then redelivers) if the disk failed

    async def _write(self) -> None:
        batch, self._queued = self._queued, []
        try:
            # Again here: a write refused while this batch waited must refuse it too, or a
            # later message could be stored before an earlier one its source offers again.
            self.repo.db.storage.refuse()
            puts, mark = await self.repo.inbox_put_many([q.item for q in batch])
        except BaseException as exc:
            # Each caller raises on its own (the sources then leave it unacknowledged).
            cancelled = isinstance(exc, asyncio.CancelledError)
            for queued in batch:
                if queued.stored.done():
                    continue
                if cancelled:
                    queued.stored.cancel()
                else:
                    queued.stored.set_exception(exc)
            if cancelled:
                raise
            return
        for queued, put in zip(batch, puts, strict=True):
            self._stored(queued.message, put)
            queued.stored.set_result(mark)

    def _stored(self, message: Message, put: InboxPut) -> None:
        self.counters.received += 1
        if put.new:
            self.on_new(put.inbox_id)  # first: the processor's turn comes before the line's
            info_soon(
                log,
                "alert received",
                inbox_id=put.inbox_id,
                topic=message.topic,
                source=message.source,
                bytes=len(message.raw),
            )
        else:
            self.counters.duplicates += 1
            info_soon(
                log,
                "duplicate ignored",
                inbox_id=put.inbox_id,
                topic=message.topic,
                source=message.source,
            )


@dataclass(slots=True)
class _Queued:
    item: InboxItem
    message: Message
    stored: asyncio.Future[int]  # the mark of the commit that stored it
