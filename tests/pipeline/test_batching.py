"""Group commit in the inbox and batches in the processor: fewer commits, same outcome.

These count the write transactions SQLite executes (a trace callback on both of the store's
connections), so they fail if the batching goes away, and they check that what is stored is
exactly what one-at-a-time storing would give.
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
import structlog

from autotoo.config.yamlfile import load_yaml_text
from autotoo.demo import DEMO_RULE
from autotoo.pipeline.intake import Inbox
from autotoo.pipeline.processor import Processor
from autotoo.pipeline.settings import PipelineSettings
from autotoo.rules import load_documents
from autotoo.sources.base import Received
from autotoo.store.db import Database
from autotoo.store.errors import StorageUnavailableError
from autotoo.store.repository import Repository
from tests.store.fsyncs import HeldFsync, failing_fsync
from tests.store.sql_trace import trace_statements, write_transactions

TOPIC = "gcn.notices.einstein_probe.wxt.alert"


def ep_alert(ident: str, ra: float = 10.0) -> bytes:
    return (
        f'{{"instrument": "WXT", "id": ["{ident}"], "trigger_time": '
        f'"{datetime.now(UTC).isoformat()}", "ra": {ra}, "dec": -5.0, '
        f'"ra_dec_error": 0.05}}'
    ).encode()


def received(raw: bytes, identity: str) -> Received:
    return Received.create(
        raw=raw, identity=identity, topic=TOPIC, received_at=datetime.now(UTC), source="test"
    )


async def test_concurrent_messages_share_one_durable_commit(repo: Repository) -> None:
    inbox = Inbox(repo)
    statements = await trace_statements(repo.db)
    messages = [received(ep_alert(f"G{i}"), f"id:{i}") for i in range(10)]
    messages.append(received(ep_alert("G3"), "id:3"))  # a redelivery inside the batch
    await asyncio.gather(*(inbox(m) for m in messages))
    assert (
        write_transactions(statements) <= 2
    )  # the first caller's write, then everything queued behind it
    rows = await repo.inbox_pending()
    assert [r.raw for r in rows] == [m.raw for m in messages[:10]]  # arrival order, once each
    assert inbox.counters.received == 11 and inbox.counters.duplicates == 1


async def test_a_failed_group_write_fails_every_caller(repo: Repository) -> None:
    inbox = Inbox(repo)
    await repo.db.close()  # every write now fails
    results = await asyncio.gather(
        *(inbox(received(ep_alert(f"F{i}"), f"f:{i}")) for i in range(3)),
        return_exceptions=True,
    )
    assert all(isinstance(r, sqlite3.ProgrammingError | ValueError) for r in results), results


async def test_a_cancelled_writer_does_not_cancel_the_messages_it_carries(
    repo: Repository,
) -> None:
    inbox = Inbox(repo)
    async with inbox._writing:
        calls = [
            asyncio.ensure_future(inbox(received(ep_alert(f"C{i}"), f"c:{i}"))) for i in (0, 1, 2)
        ]
        await asyncio.sleep(0)
    await asyncio.sleep(0)  # the first caller now writes all three
    calls[0].cancel()  # e.g. an HTTP client that hung up
    await asyncio.gather(*calls[1:])  # stored, not cancelled
    assert calls[0].cancelled()
    assert len(await repo.inbox_pending()) == 3  # the cancelled caller's message too


async def test_the_processor_starts_during_the_fsync_and_the_ack_waits_for_it(
    tmp_path: Path,
) -> None:
    """The alert is evaluated while its inbox row is being fsynced, and the caller (the
    transport's acknowledgement) returns only after that fsync."""
    fsync = HeldFsync()
    db = await Database.open(tmp_path / "state.db", fsync=fsync)
    repo = Repository(db)
    try:
        processor = processor_for(repo)
        inbox = Inbox(repo, on_new=processor.notify_new)
        call = asyncio.create_task(inbox(received(ep_alert("D1"), "d:1")))
        await asyncio.to_thread(fsync.started.wait, 10)
        assert processor.wake.is_set()
        assert await processor.step() == 1  # evaluated, fsync still in flight
        assert processor.counters.parsed == 1
        assert not call.done()  # not acknowledged yet
        fsync.release()
        await call
        assert fsync.calls == 1  # the processor's commit meanwhile needed no second one
    finally:
        fsync.release()
        await db.close()


async def test_a_failed_fsync_leaves_the_message_unacknowledged(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "state.db", fsync=failing_fsync)
    try:
        inbox = Inbox(Repository(db))
        # EIO: the disk is failing, reported as the store being unavailable ("not now" to
        # the source, which keeps the message unacknowledged and offers it again).
        with pytest.raises(StorageUnavailableError, match="Input/output"):
            await inbox(received(ep_alert("E1"), "e:1"))
    finally:
        await db.close()


def processor_for(repo: Repository, rules: str = DEMO_RULE) -> Processor:
    ruleset = load_documents([load_yaml_text(rules, "rules.yaml")])
    settings = PipelineSettings(mode="dry-run")
    return Processor(repo, rules=lambda: ruleset, settings=lambda: settings)


async def test_processor_commits_a_batch_but_splits_at_a_repeated_event(
    repo: Repository,
) -> None:
    inbox = Inbox(repo)
    # Five events, the third one twice (an update with a better position).
    raws = [ep_alert("E1"), ep_alert("E2"), ep_alert("E3"), ep_alert("E3", 10.01)]
    raws.append(ep_alert("E4"))
    for i, raw in enumerate(raws):
        await inbox(received(raw, f"p:{i}"))
    processor = processor_for(repo)
    statements = await trace_statements(repo.db)
    assert await processor.step() == 5
    assert (
        write_transactions(statements) == 2
    )  # [E1 E2 E3] then [E3' E4]: E3's update sees E3 committed
    assert processor.counters.parsed == 5
    assert await repo.inbox_pending() == []
    toos = await repo.submissions(api="swift_too")
    assert sorted(s.event_key for s in toos) == ["E1", "E2", "E3", "E4"]  # one TOO per event


SECOND_ALERT_RULE = """\
rules:
  - name: second
    match: {topics: [gcn.notices.einstein_probe.wxt.alert]}
    when: event.count >= 2
    notify: [mqtt]
"""


async def test_an_update_sees_its_earlier_alert_when_the_cache_turns_over(
    repo: Repository, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch must not evict, part-way, an earlier alert whose payload its read left out
    because the cache held it: the update would be evaluated without it."""
    monkeypatch.setattr("autotoo.pipeline.processor._CACHE_SIZE", 1)
    inbox = Inbox(repo)
    processor = processor_for(repo, SECOND_ALERT_RULE)
    for n, ident in enumerate(("X", "A")):  # X first, then A: the cache holds A alone
        await inbox(received(ep_alert(ident), f"first:{n}"))
        await processor.step()
    # One batch: X's update parses X's first alert (not cached) before A's update is
    # evaluated against A's first alert (cached, so its payload was not read).
    await inbox(received(ep_alert("X", 10.01), "second:X"))
    await inbox(received(ep_alert("A", 10.01), "second:A"))
    assert await processor.step() == 2
    assert processor.counters.matches["second"] == 2  # both updates saw two alerts


async def test_the_next_step_runs_before_the_log_lines_are_written(repo: Repository) -> None:
    """The inbox wakes the processor, and the processor the submitter, before writing
    their log lines (which are written after, with the same fields)."""
    seen: list[tuple[str, int]] = []
    with structlog.testing.capture_logs() as logs:
        ruleset = load_documents([load_yaml_text(DEMO_RULE, "rules.yaml")])
        settings = PipelineSettings(mode="dry-run")
        processor = Processor(
            repo,
            rules=lambda: ruleset,
            settings=lambda: settings,
            on_planned=lambda: seen.append(("submitter woken", len(logs))),
        )
        inbox = Inbox(repo, on_new=lambda _id: seen.append(("processor woken", len(logs))))
        await inbox(received(ep_alert("L1"), "l:1"))
        assert await processor.step() == 1
        await asyncio.sleep(0)
    assert seen == [("processor woken", 0), ("submitter woken", 1)]
    logs = [e for e in logs if e["log_level"] != "debug"]  # debug lines come after these
    assert [e["event"] for e in logs] == ["alert received", "alert evaluated"]
    assert logs[1]["planned"] == len(await repo.submissions()) > 0
