"""A source in front of the real inbox whose store sits on a full tmpfs (issue 16, item 3):
the message waits where the transport keeps it, and is stored once space returns.

The drop folder (outside the full filesystem) must keep the file in place, Kafka must commit
no offset, and ``run()`` must go on; before the fix the store's "database or disk is full"
ended ``run()`` and with it the daemon. (MQTT and HTTP: tests/chaos/test_disk_full.py.)
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from autotoo.pipeline.intake import Inbox
from autotoo.sources.kafka import KafkaSource
from autotoo.store.db import Database
from autotoo.store.errors import StoreError
from autotoo.store.repository import Repository
from tests.chaos.state_fs import fill, tmpfs
from tests.chaos.streams import ep_alert
from tests.fixtures.kafka_mock import MockKafka
from tests.sources.helpers import eventually, running
from tests.sources.test_directory import drop, source_for
from tests.sources.test_kafka import GROUP_WAIT, committed, settings_for, wait_committed


async def exhaust(repo: Repository) -> None:
    """Use up what room the WAL file still has after the filler took every free block."""
    for number in range(10_000):
        try:
            await repo.set_meta(f"exhaust-{number}", "x" * 3000)
        except (StoreError, sqlite3.Error):
            return
    raise AssertionError("the full disk kept accepting writes")


async def test_the_drop_folder_keeps_the_file_until_the_store_can_write(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    spool = tmp_path / "spool"
    with tmpfs(state_dir, "3m"):
        db = await Database.open(state_dir / "state.db")
        try:
            repo = Repository(db)
            filler = state_dir / "filler"
            await asyncio.to_thread(fill, filler)
            await exhaust(repo)
            dropped = drop(spool, "ep.json", ep_alert(1))
            source = source_for(spool, topic="gcn.notices.einstein_probe.wxt.alert")
            async with running(source, Inbox(repo)) as task:
                await eventually(lambda: "intake paused" in (source.health.last_error or ""))
                await asyncio.sleep(1.5)  # offered again and again meanwhile
                assert not task.done(), task.exception() if task.done() else None
                assert dropped.exists(), "the file left the folder although nothing was stored"
                assert (await repo.inbox_get(1)) is None
                await asyncio.to_thread(filler.unlink)
                await eventually(lambda: not dropped.exists())
                assert (spool / "done" / "ep.json").exists()
            row = await repo.inbox_get(1)
            assert row is not None
            assert row.raw == ep_alert(1)
        finally:
            await db.close()


async def test_kafka_commits_nothing_until_the_store_can_write(
    tmp_path: Path, mock_kafka: MockKafka, kafka_names: tuple[str, str, str]
) -> None:
    topic, heartbeat, group = kafka_names
    state_dir = tmp_path / "state"
    with tmpfs(state_dir, "3m"):
        db = await Database.open(state_dir / "state.db")
        try:
            repo = Repository(db)
            filler = state_dir / "filler"
            await asyncio.to_thread(fill, filler)
            await exhaust(repo)
            mock_kafka.produce(heartbeat, b'{"alert_datetime": "2026-11-21T12:00:00Z"}')
            mock_kafka.produce(topic, ep_alert(1), ep_alert(2))
            source = KafkaSource(settings_for(mock_kafka, kafka_names))
            async with running(source, Inbox(repo)) as task, asyncio.timeout(GROUP_WAIT):
                while "intake paused" not in (source.health.last_error or ""):  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
                await asyncio.sleep(1.5)  # offered again and again meanwhile
                assert not task.done(), task.exception() if task.done() else None
                assert await committed(mock_kafka, group, topic) in {0, -1001}  # nothing yet
                await asyncio.to_thread(filler.unlink)
                await wait_committed(mock_kafka, group, topic, 2)
            assert [(await repo.inbox_get(i)) is not None for i in (1, 2)] == [True, True]
        finally:
            await db.close()
