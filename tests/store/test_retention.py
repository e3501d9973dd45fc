"""The retention policy for raw payloads (issue 20), on a real state file: what is pruned,
what never is, in batches, and what ``autotoo store prune``, ``alerts export|reprocess`` and
/metrics say about it."""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from autotoo.cli import EXIT_FAILURE, EXIT_OK, main
from autotoo.metrics import Metrics
from autotoo.pipeline.pruner import Pruner, PrunerSettings
from autotoo.store.db import Database
from autotoo.store.repository import Repository
from autotoo.store.retention import RetentionPolicy, compress_old, prune, storage_stats
from autotoo.store.rows import AlertOutcome, PlannedSubmission, utcnow
from autotoo.store.specs import TooSpec
from tests.alerts.alert_corpus import REPO_ROOT
from tests.fixtures.stores import state_yaml, store_args

DATA = REPO_ROOT / "tests" / "data" / "alerts"
SKY_MAP = (DATA / "igwn" / "MS181101ab-initial.json").read_bytes()
GRM = "gcn.notices.svom.voevent.grm"
FERMI = "gcn.classic.voevent.FERMI_GBM_ALERT"
POLICY = RetentionPolicy.of(timedelta(days=30), [("gcn/classic/*", None)])  # MQTT spelling


@pytest.fixture
async def repo(store_db: Database) -> Repository:
    return Repository(store_db)  # on SQLite and on PostgreSQL (tests/fixtures/postgres.py)


async def _put(repo: Repository, name: str, topic: str, raw: bytes, when: datetime) -> int:
    put = await repo.inbox_put(
        dedup_key=name,
        source="test",
        identity=None,
        topic=topic,
        digest=hashlib.sha256(raw).hexdigest(),
        raw=raw,
        received_at=when,
    )
    return put.inbox_id


def _alert(inbox_id: int, group_key: str, *, request: bool) -> AlertOutcome:
    mission, _, key = group_key.partition(":")
    key = f"key-{group_key}"
    plans = [PlannedSubmission(key, "r1", "too", TooSpec(body={"urgency": 2}, marker=key))]
    return AlertOutcome(
        inbox_id=inbox_id,
        normalized={"notice_type": "X", "event_key": key},
        group_key=group_key,
        mission=mission,
        event_key=key,
        kind="initial",
        is_test=False,
        error_deg=0.1,
        plans=plans if request else [],
    )


async def _store(repo: Repository) -> dict[str, int]:
    """Five payloads received 40 days ago, each a case of the policy."""
    then = utcnow() - timedelta(days=40)
    ids = {
        "requested": await _put(repo, "a", GRM, b"<grm>A</grm>", then),
        "quiet": await _put(repo, "b", GRM, b"<grm>B</grm>", then),
        "unparsed": await _put(repo, "c", "igwn.gwalert", SKY_MAP, then),
        "waiting": await _put(repo, "d", GRM, b"<grm>D</grm>", then),
        "kept for ever": await _put(repo, "e", FERMI, b"<gbm/>", then),
    }
    await repo.commit_alerts(
        [
            _alert(ids["requested"], "svom:sbA", request=True),
            _alert(ids["quiet"], "svom:sbB", request=False),
            _alert(ids["kept for ever"], "fermi:1", request=False),
        ],
        unparsed=[(ids["unparsed"], "not an alert")],
    )
    return ids


def _pruned(db: Database) -> dict[int, tuple[str | None, int, int | None]]:
    rows = db.read(
        lambda conn: conn.execute(
            "SELECT id, pruned_at, length(raw), raw_size FROM inbox"
        ).fetchall()
    )
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


async def test_the_policy_prunes_old_payloads_and_never_the_protected_ones(
    repo: Repository,
) -> None:
    ids = await _store(repo)
    await compress_old(repo, pause_s=0)  # as the pruner's round does before it prunes
    before = _pruned(repo.db)

    # Now: every event saw its alert just now (the commit), so only the unparsed payload,
    # which has no event, may go. A dry run says so and changes nothing.
    dry = await prune(repo, POLICY, now=utcnow(), dry_run=True)
    assert (dry.payloads, dry.kept_for_requests, dry.kept_active, dry.kept_unprocessed) == (
        1,
        1,
        1,
        1,
    )
    assert dry.original_bytes == len(SKY_MAP) > dry.stored_bytes  # compressed by then
    assert _pruned(repo.db) == before
    done = await prune(repo, POLICY, now=utcnow())
    assert (done.payloads, done.stored_bytes, done.by_topic) == (
        dry.payloads,
        dry.stored_bytes,
        dry.by_topic,
    )
    after = _pruned(repo.db)
    assert after[ids["unparsed"]][0] is not None
    assert after[ids["unparsed"]][1:] == (0, len(SKY_MAP))  # bytes gone, size kept
    assert all(after[i][0] is None for n, i in ids.items() if n != "unparsed")

    # 40 days on, the quiet event's payload goes too; the rest stays.
    later = await prune(repo, POLICY, now=utcnow() + timedelta(days=40))
    assert (later.payloads, later.kept_for_requests, later.kept_unprocessed) == (1, 1, 1)
    after = _pruned(repo.db)
    assert {n for n, i in ids.items() if after[i][0] is not None} == {"unparsed", "quiet"}
    for name in ("requested", "waiting", "kept for ever"):
        row = await repo.inbox_get(ids[name])
        assert row is not None and row.raw and row.pruned_at is None

    quiet = await repo.inbox_get(ids["quiet"])
    assert quiet is not None and quiet.raw == b"" and quiet.pruned_at is not None
    assert quiet.size == len(b"<grm>B</grm>") and quiet.status == "processed"
    # the normalized alert stays; the processor no longer gets the payload
    assert any(a["inbox_id"] == ids["quiet"] for a in await repo.recent_alerts())
    assert (await repo.event_history(["svom:sbB"]))["svom:sbB"].sources == []

    stats = await storage_stats(repo)
    assert (stats.pruned, stats.pruned_bytes) == (2, len(SKY_MAP) + len(b"<grm>B</grm>"))
    assert stats.payloads == 3 and stats.file_bytes > 0


async def test_pruning_goes_in_small_batches(repo: Repository) -> None:
    then = utcnow() - timedelta(days=40)
    ids = [await _put(repo, f"u{i}", GRM, f"<x>{i}</x>".encode(), then) for i in range(7)]
    await repo.commit_alerts([], unparsed=[(i, "no") for i in ids])
    report = await prune(repo, POLICY, now=utcnow(), batch_rows=3, pause_s=0)
    assert (report.payloads, report.batches) == (7, 3)
    assert report.longest_batch_s < 1.0


def test_topic_patterns_match_in_order_and_the_default_applies() -> None:
    policy = RetentionPolicy.of(
        timedelta(days=30),
        [("igwn.*", timedelta(days=7)), ("igwn/gwalert", None), ("gcn.classic.*", None)],
    )
    assert policy.keep_for("igwn.gwalert") == timedelta(days=7)  # the first match wins
    assert policy.keep_for("gcn.classic.voevent.SWIFT_BAT_GRB_POS_ACK") is None
    assert policy.keep_for("gcn.notices.einstein_probe.wxt.alert") == timedelta(days=30)
    assert policy.keep_for(None) == timedelta(days=30)
    assert policy.shortest == timedelta(days=7)
    assert RetentionPolicy().shortest is None


async def test_export_reprocess_and_metrics_say_what_was_pruned(
    repo: Repository, tmp_path: Path
) -> None:
    ids = await _store(repo)
    when = utcnow() + timedelta(days=40)
    await prune(repo, POLICY, now=when)
    db = store_args(repo.db, tmp_path)

    out = tmp_path / "export"
    code, text = await _cli(["alerts", "export", *db, "--out", str(out)])
    assert code == EXIT_OK
    day = when.strftime("%Y-%m-%d")
    assert f"wrote 3 alert(s) and index.jsonl to {out}" in text
    assert f"2 more not written: payload pruned on {day}" in text
    assert f"#{ids['quiet']} {GRM}: payload pruned on {day}" in text
    index = {e["id"]: e for e in map(json.loads, (out / "index.jsonl").read_text().splitlines())}
    assert index[ids["quiet"]]["file"] is None
    assert index[ids["quiet"]]["pruned_at"].startswith(day)
    assert index[ids["unparsed"]]["bytes"] == len(SKY_MAP)

    code, text = await _cli(["alerts", "list", *db])
    assert f"payload pruned on {day}" in text

    code, text = await _cli(["alerts", "reprocess", str(ids["quiet"]), *db])
    assert code == EXIT_FAILURE
    assert f"alert #{ids['quiet']}: its payload was pruned on {day}" in text

    text = (await Metrics(repo).render()).decode()
    metrics = {
        name: float(value)
        for name, _, value in (
            line.rpartition(" ") for line in text.splitlines() if not line.startswith("#")
        )
    }
    assert metrics["autotoo_store_raw_payloads_pruned_total"] == 2
    pruned_bytes = len(SKY_MAP) + len(b"<grm>B</grm>")
    assert metrics["autotoo_store_raw_payload_pruned_bytes_total"] == pruned_bytes
    assert metrics["autotoo_store_raw_payloads"] == 3
    held = len(b"<grm>A</grm>") + len(b"<grm>D</grm>") + len(b"<gbm/>")
    assert metrics['autotoo_store_raw_payload_bytes{form="original"}'] == held
    assert metrics['autotoo_store_raw_payload_bytes{form="stored"}'] == held  # small: as is
    file_bytes, wal_bytes = repo.db.sizes()
    assert metrics["autotoo_store_file_bytes"] == file_bytes > 0
    assert metrics["autotoo_store_wal_bytes"] == wal_bytes
    if repo.db.path == tmp_path / "state.db":  # SQLite
        assert file_bytes == (tmp_path / "state.db").stat().st_size
        assert wal_bytes == (tmp_path / "state.db-wal").stat().st_size


async def _cli(argv: list[str]) -> tuple[int, str]:
    """Run ``autotoo ARGV`` (its own event loop, on a thread) and return its status and
    what it printed to stdout and stderr."""
    import contextlib  # noqa: PLC0415
    import io  # noqa: PLC0415

    def run() -> tuple[int, str]:
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
            code = main(argv)
        return code, buffer.getvalue()

    return await asyncio.to_thread(run)


async def test_store_prune_command(repo: Repository, tmp_path: Path) -> None:
    """``autotoo store prune -c CONFIG [--dry-run]`` with the config's policy."""
    ids = await _store(repo)
    config = tmp_path / "autotoo.yaml"
    config.write_text(
        state_yaml(
            repo.db,
            "  retention:\n"
            "    default: 30 days\n"
            "    topics:\n"
            "      'igwn.*': 7d\n"
            "      'gcn.classic.*': null\n",
        ),
        encoding="utf-8",
    )
    code, text = await _cli(["store", "prune", "-c", str(config), "--dry-run"])
    assert code == EXIT_OK, text
    assert text.startswith("would prune 1 raw payload(s): ")
    assert "  igwn.gwalert " in text
    assert "kept on purpose: 1 of events with a request, 1 of events with a recent alert" in text
    assert _pruned(repo.db)[ids["unparsed"]][0] is None

    code, text = await _cli(["store", "prune", "-c", str(config), "--json"])
    assert code == EXIT_OK, text
    report = json.loads(text)
    assert report["payloads"] == 1 and report["dry_run"] is False
    assert report["original_bytes"] == len(SKY_MAP)
    assert report["store"]["pruned"] == 1
    assert _pruned(repo.db)[ids["unparsed"]][0] is not None

    config.write_text(state_yaml(repo.db), encoding="utf-8")
    code, text = await _cli(["store", "prune", "-c", str(config)])
    assert code == EXIT_OK
    assert "keeps every raw payload for ever" in text


async def test_a_request_planned_after_the_scan_keeps_its_payload(repo: Repository) -> None:
    """The protections are checked again inside the transaction that prunes: a request the
    processor commits between the pruner's read and its batch keeps its event's payloads."""
    from autotoo.store import retention  # noqa: PLC0415

    then = utcnow() - timedelta(days=40)
    first = await _put(repo, "f", GRM, b"<grm>F1</grm>", then)
    await repo.commit_alert(_alert(first, "svom:sbF", request=False))
    now = utcnow() + timedelta(days=40)
    report = retention.PruneReport()
    rows = repo.db.read(
        lambda conn: retention._scan(conn, "processed", 0, retention.ts(now) or "", 100)
    )
    (candidate,) = [c for r in rows if (c := retention._judge(r, POLICY, now, report))]
    # meanwhile a later alert of the same event plans a TOO
    second = await _put(repo, "g", GRM, b"<grm>F2</grm>", utcnow())
    await repo.commit_alert(_alert(second, "svom:sbF", request=True))
    await retention._apply(repo, [candidate], now, report, 0)
    assert report.payloads == 0
    row = await repo.inbox_get(first)
    assert row is not None and row.pruned_at is None and row.raw == b"<grm>F1</grm>"


def test_retention_periods_must_be_positive() -> None:
    from pydantic import ValidationError  # noqa: PLC0415

    from autotoo.config.models import Config  # noqa: PLC0415

    store = Config.model_validate(
        {"store": {"retention": {"default": "30d", "topics": {"igwn.*": "7d", "x": None}}}}
    ).store
    assert store.retention.topics == {"igwn.*": timedelta(days=7), "x": None}
    for bad in ({"default": "0s"}, {"topics": {"igwn.*": 0}}, {"prune_every": "0s"}):
        with pytest.raises(ValidationError, match="longer than 0 seconds"):
            Config.model_validate({"store": {"retention": bad}})


async def test_a_failed_prune_round_is_logged_and_the_next_one_tries_again(
    repo: Repository,
) -> None:
    """A statement the database refuses (here: a column gone) ends the round, not the
    daemon: on either backend, whatever its driver's error class."""
    await _store(repo)
    pruner = Pruner(repo, settings=lambda: PrunerSettings(POLICY, timedelta(hours=1)))
    async with repo.db.transaction() as tx:
        await tx.execute("ALTER TABLE inbox RENAME COLUMN pruned_at TO gone")
    assert await pruner.step() is None
    assert pruner.rounds == 0
