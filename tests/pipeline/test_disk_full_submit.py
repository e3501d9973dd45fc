"""Exactly-once when the disk refuses the durable 'submitting' commit (issue 16, item 3).

The real pipeline against the emulators, its store on a real 3 MiB tmpfs filled to the last
block: the 'planned -> submitting' commit fails, so the POST must not be sent; once space
returns the same row is sent exactly once, on the same connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path

import pytest
import structlog

from autotoo.store.errors import StorageUnavailableError, StoreError
from autotoo.store.repository import Repository
from autotoo.store.rows import SubmissionState as S
from tests.chaos.state_fs import fill, tmpfs
from tests.pipeline.test_exactly_once import EP_TOPIC, ep_alert, rule


async def exhaust(repo: Repository) -> None:
    """After the filler took every free block, the WAL file may still have room for a few
    small commits: use it up with writes as small as a state change."""
    for number in range(10_000):
        try:
            await repo.set_meta(f"exhaust-{number}", "x" * 3000)
        except (StoreError, sqlite3.Error):
            return
    raise AssertionError("the full disk kept accepting writes")


async def test_a_refused_submitting_commit_sends_nothing_then_sends_once(
    tmp_path: Path, make_emulator, make_pipeline
) -> None:
    state_fs = tmp_path / "fs"
    with tmpfs(state_fs, "3m"):
        emulator = await make_emulator(speed=1.0)
        p = await make_pipeline(emulator, rule(), state_dir=state_fs)
        await p.feed(ep_alert(0), EP_TOPIC)
        [row] = await p.rows()
        assert row.state is S.PLANNED
        filler = state_fs / "filler"
        await asyncio.to_thread(fill, filler)
        await exhaust(p.repo)
        with pytest.raises(StorageUnavailableError):
            await p.submitter.step()
        assert list(emulator.swift.received) == []  # no POST after the refused commit
        assert (await p.rows())[0].state is S.PLANNED
        await asyncio.to_thread(filler.unlink)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(p.repo.db.storage.wait(), 30)
        await p.run(rounds=2)
        [row] = await p.rows()
        assert row.state in {S.SUBMITTED, S.TRACKING, S.DONE}
        assert len(emulator.swift.toos) == 1


async def test_an_outcome_logged_again_after_the_disk_refused_it_says_so(
    tmp_path: Path, make_emulator, make_pipeline
) -> None:
    """A POST's reply the disk refused to store is stored again once it can write, and the
    write logs the reply again: those lines say so (``storing_again`` in the log context),
    and only those."""
    emulator = await make_emulator(speed=1.0)
    p = await make_pipeline(emulator, rule(), state_dir=tmp_path)
    seen: list[object] = []

    async def record() -> str:
        seen.append(structlog.contextvars.get_contextvars().get("storing_again"))
        if len(seen) == 1:
            raise p.repo.db.storage.failed(OSError(28, "No space left on device"))
        return "stored"

    assert await p.submitter.until_stored(record) == "stored"
    assert seen == [None, 1]
    assert "storing_again" not in structlog.contextvars.get_contextvars()
