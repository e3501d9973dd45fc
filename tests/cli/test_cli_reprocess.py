"""``autotoo alerts reprocess``: a stored alert evaluated again, through the real CLI, on a
store filled by the real inbox and processor, with the example rules."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from autotoo.cli import EXIT_FAILURE, EXIT_OK, main
from autotoo.pipeline.intake import Inbox
from autotoo.pipeline.processor import Processor
from autotoo.pipeline.settings import PipelineSettings
from autotoo.rules import load_rules
from autotoo.sources.base import Received
from autotoo.store.db import Database
from autotoo.store.repository import Repository
from tests.alerts.alert_corpus import CORPUS, REPO_ROOT

EP = CORPUS / "gcn-schema" / "einstein_probe" / "wxt" / "alert.example.json"
BAT = CORPUS / "voevent-classic" / "gwcelery-swift_grb_gcn.xml"
EP_TOPIC = "gcn.notices.einstein_probe.wxt.alert"


async def _deliver(path: Path, raw: bytes, topic: str, identity: str) -> None:
    db = await Database.open(path)
    try:
        await Inbox(Repository(db))(
            Received.create(
                raw=raw,
                identity=identity,
                topic=topic,
                received_at=datetime.now(UTC),
                source="spool",
            )
        )
    finally:
        await db.close()


async def _process(path: Path) -> int:
    """One round of the daemon's processor over whatever is new."""
    db = await Database.open(path)
    try:
        repo = Repository(db)
        ruleset = load_rules([str(REPO_ROOT / "rules" / "*.yaml")])
        settings = PipelineSettings(max_alert_age=timedelta(days=3650))
        return await Processor(repo, rules=lambda: ruleset, settings=lambda: settings).step()
    finally:
        await db.close()


def _inbox(capsys: pytest.CaptureFixture[str], state: Path) -> list[dict[str, object]]:
    capsys.readouterr()  # the processor's log lines
    assert main(["alerts", "list", "--json", "--db", str(state)]) == EXIT_OK
    return list(reversed(json.loads(capsys.readouterr().out)))  # oldest first


def _jobs(capsys: pytest.CaptureFixture[str], state: Path) -> list[dict[str, object]]:
    capsys.readouterr()
    assert main(["jobs", "list", "--json", "--db", str(state)]) == EXIT_OK
    return list(json.loads(capsys.readouterr().out))


def test_an_unparsed_alert_is_evaluated_again_under_the_given_topic(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state.db"
    # An EP notice that lost its $schema: on the drop folder's catch-all topic nothing says
    # which mission it is, so it is stored unparsed.
    notice = json.loads(EP.read_text())
    del notice["$schema"]
    asyncio.run(_deliver(state, json.dumps(notice).encode(), "directory", "file:ep.json"))
    asyncio.run(_process(state))
    (row,) = _inbox(capsys, state)
    assert (row["status"], row["topic"]) == ("unparsed", "directory")

    code = main(["alerts", "reprocess", str(row["id"]), "--topic", EP_TOPIC, "--db", str(state)])
    assert code == EXIT_OK
    assert f"alert #{row['id']} (unparsed) is new again (same id), topic {EP_TOPIC}" in (
        capsys.readouterr().out
    )
    (again,) = _inbox(capsys, state)
    assert (again["status"], again["topic"], again["reason"]) == ("new", EP_TOPIC, None)
    assert asyncio.run(_process(state)) == 1
    (done,) = _inbox(capsys, state)
    assert done["status"] == "processed"
    assert str(done["event"]).startswith("einstein_probe:")


def test_reprocessing_a_matched_alert_plans_nothing_twice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Dropped before payload routing: stored as 'directory', no rule saw it. Reprocessed, it
    gets its payload's topic and the Swift rule plans its XRT job; reprocessed again, the
    idempotency key is the same and no second job appears."""
    state = tmp_path / "state.db"
    asyncio.run(_deliver(state, BAT.read_bytes(), "directory", "file:bat.xml"))
    # The catch-all topic reaches no topic rule: evaluated, nothing planned.
    asyncio.run(_process(state))
    (first,) = _inbox(capsys, state)
    assert first["status"] == "processed"
    assert _jobs(capsys, state) == []

    assert main(["alerts", "reprocess", str(first["id"]), "--db", str(state)]) == EXIT_OK
    assert "(processed) stored again as #2, topic gcn.classic.voevent.SWIFT_BAT_GRB_POS_ACK" in (
        capsys.readouterr().out
    )
    asyncio.run(_process(state))
    (job,) = _jobs(capsys, state)
    assert (job["rule"], job["event"]) == ("swift-bat-grb-xrt", "swift:1123129")

    assert main(["alerts", "reprocess", "2", "--db", str(state)]) == EXIT_OK
    capsys.readouterr()
    asyncio.run(_process(state))
    rows = _inbox(capsys, state)
    assert [(r["id"], r["status"], r["source"]) for r in rows] == [
        (1, "processed", "spool"),
        (2, "processed", "reprocess"),
        (3, "processed", "reprocess"),
    ]
    # Same key: still the one job (re-rendered, as any later alert of a planned event is).
    (again,) = _jobs(capsys, state)
    assert (again["id"], again["key"], again["state"], again["created"]) == (
        job["id"],
        job["key"],
        "planned",
        job["created"],
    )


def test_a_row_not_evaluated_yet_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state.db"
    asyncio.run(_deliver(state, BAT.read_bytes(), "directory", "file:bat.xml"))
    assert main(["alerts", "reprocess", "1", "--db", str(state)]) == EXIT_FAILURE
    assert "alert #1 is new: not evaluated yet" in capsys.readouterr().err
    assert main(["alerts", "reprocess", "7", "--db", str(state)]) == EXIT_FAILURE
    assert "no stored alert #7" in capsys.readouterr().err
