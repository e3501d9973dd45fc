"""``Metrics`` over a real SQLite store: the numbers computed from the store at scrape time
(oldest pending submission, alert-to-submission latency) move as submissions do."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from autotoo.metrics import Metrics
from autotoo.pipeline.intake import Inbox
from autotoo.sources.base import Received, SourceHealth
from autotoo.store.db import Database
from autotoo.store.repository import Repository
from autotoo.store.rows import AlertOutcome, PlannedSubmission, SubmissionState
from autotoo.store.specs import TooSpec, XrtSpec

S = SubmissionState


@pytest.fixture
async def repo(tmp_path: Path) -> AsyncIterator[Repository]:
    db = await Database.open(tmp_path / "state.db")
    yield Repository(db)
    await db.close()


async def _scrape(metrics: Metrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = (await metrics.render()).decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_store_facts_follow_the_submissions(repo: Repository) -> None:
    received = datetime.now(UTC) - timedelta(seconds=7)
    inbox = Inbox(repo)
    message = Received.create(
        raw=b'{"id": "1"}', identity="t:1", topic="t", received_at=received, source="test"
    )
    await inbox(message)
    await inbox(message)  # redelivered
    (row,) = await repo.inbox_pending()
    plans = [
        PlannedSubmission(
            key="too-1", rule="r", action="too", spec=TooSpec(body={}, marker="too-1")
        ),
        PlannedSubmission(
            key="xrt-1", rule="r", action="xrt_products",
            spec=XrtSpec(globals={}, products={}, name="xrt-1"),
            parent_key="too-1", waiting=True,
        ),
    ]  # fmt: skip
    outcome = AlertOutcome(
        inbox_id=row.id, normalized={}, group_key="m:e1", mission="m", event_key="e1",
        kind="initial", is_test=False, error_deg=0.05, plans=plans,
    )  # fmt: skip
    await repo.commit_alert(outcome)
    later = datetime.now(UTC) + timedelta(seconds=100)
    health = SourceHealth(name="bus", kind="mqtt")
    metrics = Metrics(repo, inbox=inbox, sources=lambda: [health], clock=lambda: later)

    got = await _scrape(metrics)
    assert got[("autotoo_alerts_received_total", frozenset())] == 2
    assert got[("autotoo_alerts_deduplicated_total", frozenset())] == 1
    assert got[("autotoo_source_connected", frozenset({("source", "bus"), ("kind", "mqtt")}))] == 0
    too, xrt = frozenset({("api", "swift_too")}), frozenset({("api", "ukssdc_xrt")})
    # the TOO is due and not sent: about 100 s pending; the XRT job waits for an observation
    assert 99 <= got[("autotoo_oldest_pending_submission_seconds", too)] <= 102
    assert got[("autotoo_oldest_pending_submission_seconds", xrt)] == 0
    assert got[("autotoo_submissions", too | {("state", "planned")})] == 1
    assert got[("autotoo_alert_to_submission_seconds_count", too)] == 0

    sub = await repo.submission_by_key("too-1")
    assert sub is not None
    await repo.transition(sub.id, expect=[S.PLANNED], to=S.SUBMITTING, sent_at=datetime.now(UTC))
    got = await _scrape(metrics)
    assert got[("autotoo_oldest_pending_submission_seconds", too)] >= 99  # sent, not answered
    assert got[("autotoo_alert_to_submission_seconds_count", too)] == 1
    assert got[("autotoo_alert_to_submission_seconds_bucket", too | {("le", "5.0")})] == 0
    assert got[("autotoo_alert_to_submission_seconds_bucket", too | {("le", "10.0")})] == 1
    assert 7 <= got[("autotoo_alert_to_submission_seconds_sum", too)] < 10

    await repo.transition(sub.id, expect=[S.SUBMITTING], to=S.SUBMITTED, remote_id="42")
    got = await _scrape(metrics)
    assert got[("autotoo_oldest_pending_submission_seconds", too)] == 0
    assert got[("autotoo_submissions", too | {("state", "submitted")})] == 1


async def test_on_sqlite_one_instance_is_up(repo: Repository) -> None:
    """SQLite has one instance: this one, up, with no leases (the submitter takes none on a
    store of its own); an earlier run stopped cleanly is not an instance down."""
    now = datetime.now(UTC)
    await repo.leases.register("host:1:before", now - timedelta(minutes=5))
    await repo.leases.stopped("host:1:before", now - timedelta(minutes=4))
    await repo.leases.register("host:2:this", now - timedelta(seconds=3))
    metrics = Metrics(repo, clock=lambda: now, lease=lambda: timedelta(seconds=30))

    got = await _scrape(metrics)

    instances = {k: v for k, v in got.items() if k[0].startswith("autotoo_instance_")}
    this = frozenset({("instance_id", "host:2:this")})
    assert instances == {
        ("autotoo_instance_up", this): 1,
        ("autotoo_instance_heartbeat_age_seconds", this): 3,
        ("autotoo_instance_leases", this): 0,
    }
    assert got[("autotoo_store_writable", frozenset())] == 1
