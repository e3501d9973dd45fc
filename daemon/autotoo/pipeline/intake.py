"""The inbox sink every source hands its messages to.

Returning from :meth:`Inbox.__call__` means the message is durably stored (the source then
acknowledges it to the broker, Kafka or the drop folder); raising means it is not, and the
transport redelivers it. Duplicates -- by transport identity or by content -- are stored once
and processed once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from autotoo.logs import get_logger
from autotoo.pipeline.keys import inbox_key
from autotoo.pipeline.ports import Message
from autotoo.store.repository import Repository

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

    async def __call__(self, message: Message) -> None:
        key, digest = inbox_key(message.raw, message.topic)
        put = await self.repo.inbox_put(
            dedup_key=key,
            source=message.source,
            identity=message.identity,
            topic=message.topic,
            digest=digest,
            raw=message.raw,
            received_at=message.received_at,
        )
        self.counters.received += 1
        if put.new:
            log.info(
                "alert received",
                inbox_id=put.inbox_id,
                topic=message.topic,
                source=message.source,
                bytes=len(message.raw),
            )
            self.on_new(put.inbox_id)
        else:
            self.counters.duplicates += 1
            log.info(
                "duplicate ignored",
                inbox_id=put.inbox_id,
                topic=message.topic,
                source=message.source,
            )
