"""Bugs the chaos runs found, each pinned by a deterministic test with real parts.

An update that arrives after Swift observed the target but before the released XRT request
was sent re-rendered that request from the rule and dropped the observed target ID the
tracker had set (``globals.targ``): the UKSSDC refused the job ("Global parameter `targ` is
not set"). Found by bench/chaos.py, seed 1000 (SIGKILL scenario): the kill delayed the
submission just long enough for the update to land in between.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

from autotoo.adapters.swift import SwiftTooAdapter
from autotoo.adapters.ukssdc import UkssdcXrtAdapter
from autotoo.config.yamlfile import load_yaml_text
from autotoo.emulators.ukssdc.routes import SERVICE_KEY
from autotoo.pipeline.intake import Inbox
from autotoo.pipeline.processor import Processor
from autotoo.pipeline.settings import PipelineSettings
from autotoo.pipeline.submitter import Submitter
from autotoo.pipeline.tracker import Tracker
from autotoo.rules import load_documents
from autotoo.sources.base import Received
from autotoo.store.db import Database
from autotoo.store.repository import Repository
from autotoo.store.rows import SubmissionState
from autotoo.swift import SwiftV2Client
from autotoo.ukssdc.client import UkssdcClient
from tests.chaos.streams import RULES, UKSSDC_USER, ep_alert

EP = "gcn.notices.einstein_probe.wxt.alert"


async def test_an_update_after_release_keeps_the_observed_target(
    make_emulator, tmp_path: Path
) -> None:
    emulator = await make_emulator(speed=20_000)
    db = await Database.open(tmp_path / "state.db")
    session = aiohttp.ClientSession()
    try:
        repo = Repository(db)
        snapshot = PipelineSettings(
            mode="live",
            swift_poll=timedelta(0),
            xrt_poll=timedelta(0),
            max_alert_age=timedelta(days=3650),
            xrt_polls_per_minute=10_000,
        )
        swift = SwiftV2Client(
            emulator.swift_v2_url,
            username="myuser",
            shared_secret="my_shared_secret",  # the emulator's default user
            session=session,
        )
        too = SwiftTooAdapter(swift)
        xrt = UkssdcXrtAdapter(UkssdcClient(session, UKSSDC_USER, base_url=emulator.ukssdc_url))
        ruleset = load_documents([load_yaml_text(RULES, "rules.yaml")])
        processor = Processor(repo, rules=lambda: ruleset, settings=lambda: snapshot)
        submitter = Submitter(repo, settings=lambda: snapshot, too=too, xrt=xrt)
        tracker = Tracker(repo, settings=lambda: snapshot, too=too, xrt=xrt)
        inbox = Inbox(repo)

        async def feed(raw: bytes, ident: str) -> None:
            now = datetime.now(UTC)
            await inbox(
                Received.create(raw=raw, identity=ident, topic=EP, received_at=now, source="t")
            )
            await processor.step()

        await feed(ep_alert(1), "initial")
        await submitter.step()  # the TOO
        xrt_row = None
        async with asyncio.timeout(60):
            while xrt_row is None or xrt_row.next_at is None:  # until Swift observed it
                await tracker.step()
                [xrt_row] = await repo.submissions(states=[SubmissionState.PLANNED])
                await asyncio.sleep(0.1)
        targ = xrt_row.request["request"]["globals"]["targ"]
        await feed(ep_alert(1, alert_type="update"), "update")  # before the XRT POST
        [after] = await repo.submissions(states=[SubmissionState.PLANNED])
        globals_ = after.request["request"]["globals"]
        assert globals_.get("targ") == targ
        assert globals_["RA"] != xrt_row.request["request"]["globals"]["RA"]  # re-rendered
        await submitter.step()
        row = await repo.submission(after.id)
        assert row is not None
        assert row.state is SubmissionState.SUBMITTED, row.reason
        [job] = emulator.app[SERVICE_KEY].jobs.of_user(UKSSDC_USER)
        assert job.pars["targ"] == targ
    finally:
        await session.close()
        await db.close()
