"""A pipeline built from real parts in the test's event loop: a real SQLite store, the real
Swift and UKSSDC clients through their adapters, against the in-process emulators. Tests drive
it one step at a time, with a controllable clock, so every exactly-once path is deterministic.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from autotoo.adapters.swift import SwiftTooAdapter
from autotoo.adapters.ukssdc import UkssdcXrtAdapter
from autotoo.config.yamlfile import load_yaml_text
from autotoo.pipeline.intake import Inbox
from autotoo.pipeline.ports import AccountPorts
from autotoo.pipeline.processor import Processor
from autotoo.pipeline.settings import PipelineSettings
from autotoo.pipeline.submitter import Submitter
from autotoo.pipeline.tracker import Tracker
from autotoo.rules import load_documents
from autotoo.sources.base import Received
from autotoo.store.db import Database
from autotoo.store.repository import Repository
from autotoo.store.rows import Notice, SubmissionRow, SubmissionState
from autotoo.swift import SwiftV2Client
from autotoo.ukssdc.client import UkssdcClient
from tests.alerts.alert_corpus import CORPUS

SHARED = CORPUS
KAFKA = SHARED / "gcn-kafka-2026"


@dataclass(slots=True)
class Clock:
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@dataclass(slots=True)
class Pipeline:
    repo: Repository
    inbox: Inbox
    processor: Processor
    submitter: Submitter
    tracker: Tracker
    clock: Clock
    settings: PipelineSettings
    _seq: int = 0

    async def feed(self, raw: bytes, topic: str) -> None:
        self._seq += 1
        await self.inbox(
            Received.create(
                raw=raw,
                identity=f"test:{self._seq}",
                topic=topic,
                received_at=self.clock(),
                source="test",
            )
        )
        await self.processor.step()

    async def run(self, rounds: int = 1) -> None:
        for _ in range(rounds):
            await self.submitter.step()
            await self.tracker.step()

    async def rows(self, **kw: Any) -> list[SubmissionRow]:
        return sorted(await self.repo.submissions(**kw), key=lambda r: r.id)

    async def notices(self) -> list[dict[str, Any]]:
        due = await self.repo.due_notices(self.clock() + timedelta(days=3650), limit=10_000)
        return [json.loads(n.payload) | {"_topic": n.topic} for n in due]

    async def state_of(self, key: str) -> SubmissionState:
        row = await self.repo.submission_by_key(key)
        assert row is not None
        return row.state


MakePipeline = Callable[..., Awaitable[Pipeline]]


@pytest.fixture
async def repo(tmp_path: Path) -> AsyncIterator[Repository]:
    """A bare store, for tests that drive one component by hand."""
    db = await Database.open(tmp_path / "state.db")
    try:
        yield Repository(db)
    finally:
        await db.close()


@pytest.fixture
async def make_pipeline(tmp_path: Path) -> AsyncIterator[MakePipeline]:
    closers: list[Any] = []

    async def make(
        emulator: Any,
        rules: str,
        *,
        state_dir: Path | None = None,
        skymaps: Any = None,
        state_file: str | None = None,
        accounts: dict[str, tuple[str, str, str]] | None = None,
        db: Database | None = None,
        instance: str = "local",
        **settings: Any,
    ) -> Pipeline:
        """``state_file``: a name another pipeline of the test used (a restart); ``accounts``:
        name -> (Swift username, shared secret, UKSSDC user id), the named accounts; ``db``: a
        store of the caller's (several instances on one database)."""
        if db is None:
            name = state_file or f"state-{len(closers)}.db"
            db = await Database.open((state_dir or tmp_path) / name)
            closers.append(db.close)
        session = aiohttp.ClientSession()
        closers.append(session.close)
        repo = Repository(db)
        clock = Clock()
        base = PipelineSettings(
            mode="live",
            topic_prefix="autotoo",
            swift_poll=timedelta(0),
            xrt_poll=timedelta(0),
            reconcile_delay=timedelta(0),
            retry_not_sent=timedelta(0),
            max_alert_age=timedelta(days=3650),
            xrt_polls_per_minute=10_000,
        )
        snapshot = replace(base, **settings)
        too = SwiftTooAdapter(
            SwiftV2Client(
                emulator.swift_v2_url,
                username="myuser",
                shared_secret="my_shared_secret",
                session=session,
            )
        )
        xrt = UkssdcXrtAdapter(
            UkssdcClient(session, "astronomer@example.org", base_url=emulator.ukssdc_url)
        )
        ports = {
            account: AccountPorts(
                SwiftTooAdapter(
                    SwiftV2Client(
                        emulator.swift_v2_url,
                        username=username,
                        shared_secret=secret,
                        session=session,
                    )
                ),
                UkssdcXrtAdapter(UkssdcClient(session, email, base_url=emulator.ukssdc_url)),
            )
            for account, (username, secret, email) in (accounts or {}).items()
        }
        ruleset = load_documents([load_yaml_text(rules, "rules.yaml")])
        submitter = Submitter(
            repo,
            settings=lambda: snapshot,
            too=too,
            xrt=xrt,
            accounts=ports,
            clock=clock,
            instance=instance,
        )
        tracker = Tracker(
            repo, settings=lambda: snapshot, too=too, xrt=xrt, accounts=ports, clock=clock
        )
        processor = Processor(
            repo,
            rules=lambda: ruleset,
            settings=lambda: snapshot,
            clock=clock,
            skymaps=skymaps,
            foresee=submitter.foresee,  # as wired in the daemon
        )
        return Pipeline(repo, Inbox(repo), processor, submitter, tracker, clock, snapshot)

    yield make
    for close in reversed(closers):
        await close()


def notice_states(notices: list[dict[str, Any]], action: str | None = None) -> list[str]:
    return [
        n["state"]
        for n in notices
        if "/actions/" in n["_topic"] and (action is None or n["action"] == action)
    ]


__all__ = ["KAFKA", "Notice", "Pipeline", "notice_states"]
