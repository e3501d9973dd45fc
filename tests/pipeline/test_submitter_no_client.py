"""The submitter handles a missing client with a typed error, not an assert (issue 16,
item 6): under ``python -O`` an assert is gone and the old code crashed the submitter with
an AttributeError on ``None``. Run as a real ``python -O`` process on a real state file."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from autotoo.pipeline.intake import Inbox
from autotoo.pipeline.settings import PipelineSettings
from autotoo.pipeline.tracker import Tracker
from autotoo.sources.base import Received
from autotoo.store.repository import Repository
from autotoo.store.rows import AlertOutcome, PlannedSubmission, SubmissionState
from autotoo.store.specs import TooSpec

S = SubmissionState

HELPER = Path(__file__).with_name("no_client_reconcile.py")


def test_reconciling_without_a_client_counts_a_listing_failure_with_asserts_off(
    tmp_path: Path,
) -> None:
    done = subprocess.run(
        [sys.executable, "-O", str(HELPER), str(tmp_path / "state.db")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"handled": 1, "state": "unknown", "reconcile": {"missing": 0, "errors": 1}}


async def test_tracking_without_a_client_is_a_failed_poll_not_a_crash(repo: Repository) -> None:
    """The tracker, too: a TOO being tracked when no Swift client is configured (a reload
    removed it) is a failed poll, retried later; it used to raise AssertionError."""
    now = datetime.now(UTC)
    await Inbox(repo)(
        Received.create(raw=b"{}", identity="x", topic="t", received_at=now, source="t")
    )
    (row,) = await repo.inbox_pending()
    plan = PlannedSubmission(key="too-1", rule="r", action="too", spec=TooSpec(body={}, marker="m"))
    outcome = AlertOutcome(
        inbox_id=row.id, normalized={}, group_key="m:e", mission="m", event_key="e",
        kind="initial", is_test=False, error_deg=0.1, plans=[plan],
    )  # fmt: skip
    await repo.commit_alert(outcome)
    sub = await repo.submission_by_key("too-1")
    assert sub is not None
    await repo.transition(sub.id, expect=[S.PLANNED], to=S.SUBMITTING)
    await repo.transition(sub.id, expect=[S.SUBMITTING], to=S.SUBMITTED, remote_id="7", next_at=now)
    settings = PipelineSettings(mode="live", swift_poll=timedelta(minutes=2))
    tracker = Tracker(repo, settings=lambda: settings, too=None, xrt=None)
    assert await tracker.step() == 1
    after = await repo.submission_by_key("too-1")
    assert after is not None and after.state is S.SUBMITTED
    assert after.next_at is not None and after.next_at > now + timedelta(minutes=1)
