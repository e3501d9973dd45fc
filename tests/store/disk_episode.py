"""One full-disk episode as the store must live through it, on either backend: what
tests/store/test_full_disk.py (SQLite) and test_pg_full_disk.py (PostgreSQL) share."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from autotoo.pipeline.intake import Inbox
from autotoo.sources.base import Received
from autotoo.store.db import Database
from autotoo.store.errors import StorageUnavailableError
from autotoo.store.repository import Repository
from tests.chaos.state_fs import fill
from tests.chaos.streams import EP_TOPIC, ep_alert


def message(number: int) -> Received:
    """A distinct EP alert, as a source hands it to the inbox."""
    return Received.create(
        raw=ep_alert(number),
        identity=f"disk:{number}",
        topic=EP_TOPIC.replace("/", "."),
        received_at=datetime.now(UTC),
        source="disk",
    )


async def refused_until_space_returns(db: Database, filler: Path, *, reason: str) -> int:
    """Fill the disk with ``filler``; store distinct alerts until one is refused as "not now"
    (StorageUnavailableError naming ``reason``); check that a new write is refused at once
    and that the store stays unavailable while the disk is full (its probes fail); remove
    the filler and wait for the store to find out by itself; store one more alert on the
    same connections, and find every stored alert and no refused one. Returns how many were
    stored before the refusal. Closes ``db``, whatever happened."""
    try:
        return await _episode(Repository(db), filler, reason)
    finally:
        await db.close()


async def _episode(repo: Repository, filler: Path, reason: str) -> int:
    db = repo.db
    inbox = Inbox(repo)
    fill(filler)
    refused = None
    for number in range(1, 5000):  # pages or WAL already allocated may take a few first
        try:
            await inbox(message(number))
        except StorageUnavailableError as exc:
            refused = exc
            break
    assert refused is not None, "5,000 alerts were stored on a full disk"
    assert reason in refused.reason, refused.reason
    assert db.storage.problem is not None
    assert refused.retry_after > 0
    try:
        await inbox(message(99_999))
    except StorageUnavailableError:
        pass
    else:
        raise AssertionError("a new write was accepted while the disk was full")
    await asyncio.sleep(1.5)  # the probes keep failing meanwhile
    assert db.storage.problem is not None, "the store came back while the disk was full"
    await asyncio.to_thread(filler.unlink)
    await asyncio.wait_for(db.storage.wait(), 30)
    assert db.storage.problem is None
    assert db.storage.episodes == 1
    await inbox(message(100_000))  # the same connections work again
    stored = number - 1
    # nothing refused was stored, nothing stored was lost
    assert len(await repo.inbox_list(limit=10_000)) == stored + 1
    return stored
