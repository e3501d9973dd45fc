"""Run by ``test_submitter_no_client.py`` under ``python -O`` (asserts removed): a TOO of
unknown outcome, and no Swift client configured any more. Prints the row as JSON."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from autotoo.pipeline.intake import Inbox
from autotoo.pipeline.settings import PipelineSettings
from autotoo.pipeline.submitter import Submitter
from autotoo.sources.base import Received
from autotoo.store.db import Database
from autotoo.store.repository import Repository
from autotoo.store.rows import AlertOutcome, PlannedSubmission, SubmissionState
from autotoo.store.specs import TooSpec

S = SubmissionState


async def main(path: Path) -> None:
    db = await Database.open(path)
    try:
        repo = Repository(db)
        now = datetime.now(UTC)
        await Inbox(repo)(
            Received.create(raw=b"{}", identity="x", topic="t", received_at=now, source="t")
        )
        (row,) = await repo.inbox_pending()
        plan = PlannedSubmission(
            key="too-1", rule="r", action="too", spec=TooSpec(body={}, marker="m")
        )
        outcome = AlertOutcome(
            inbox_id=row.id, normalized={}, group_key="m:e", mission="m", event_key="e",
            kind="initial", is_test=False, error_deg=0.1, plans=[plan],
        )  # fmt: skip
        await repo.commit_alert(outcome)
        sub = await repo.submission_by_key("too-1")
        assert sub is not None
        await repo.transition(sub.id, expect=[S.PLANNED], to=S.SUBMITTING)
        await repo.transition(sub.id, expect=[S.SUBMITTING], to=S.UNKNOWN, next_at=now)
        settings = PipelineSettings(mode="live")
        submitter = Submitter(repo, settings=lambda: settings, too=None, xrt=None)
        handled = await submitter.step()
        after = await repo.submission_by_key("too-1")
        assert after is not None
        print(
            json.dumps(
                {
                    "handled": handled,
                    "state": after.state.value,
                    "reconcile": {
                        "missing": after.reconcile_missing,
                        "errors": after.reconcile_errors,
                    },
                }
            )
        )
    finally:
        await db.close()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
