"""``autotoo status``, ``jobs`` and ``alerts list|export`` against a real state store.

The store is filled the way the daemon fills it: real payloads through the real inbox and
processor (rules, events, decisions, planned submissions), then state changes through the
repository's own transition and tracking methods. The commands run through ``main``.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from autotoo.cli import EXIT_FAILURE, EXIT_OK, main
from autotoo.pipeline.intake import Inbox
from autotoo.pipeline.processor import Processor
from autotoo.pipeline.settings import PipelineSettings
from autotoo.rules import load_rules
from autotoo.sources.base import Received
from autotoo.store.db import Database
from autotoo.store.repository import Repository
from autotoo.store.rows import SubmissionRow, SubmissionState, ts, utcnow
from tests.alerts.alert_corpus import CORPUS, REPO_ROOT
from tests.cli.test_cli_replay import GRM_RULE, KAFKA, SVOM_WAKEUP

S = SubmissionState
GRM_A = "000000000057_341_gcn_notices_svom_voevent_grm.xml"  # sb26043009: observed
GRM_B = "000000000081_360_gcn_notices_svom_voevent_grm.xml"  # sb26052012: still planned
BAT = "voevent-classic/gwcelery-swift_grb_gcn.xml"
TOPICS = {
    SVOM_WAKEUP: "gcn.notices.svom.voevent.eclairs",
    GRM_A: "gcn.notices.svom.voevent.grm",
    GRM_B: "gcn.notices.svom.voevent.grm",
    BAT: "gcn.classic.voevent.SWIFT_BAT_GRB_POS_ACK",
}
XRT_URL = "https://www.swift.ac.uk/user_objects/tprods/98765"


@dataclass
class Store:
    path: Path
    config: Path
    rows: dict[str, SubmissionRow]  # by "<group key> <action>"


async def _to_unknown(path: Path, sub_id: int) -> None:
    db = await Database.open(path)
    try:
        repo = Repository(db)
        await repo.transition(
            sub_id, expect=[S.PLANNED], to=S.SUBMITTING, sent_at=datetime.now(UTC)
        )
        await repo.transition(sub_id, expect=[S.SUBMITTING], to=S.UNKNOWN, detail="timeout")
    finally:
        await db.close()


def _sub(store: Store, name: str) -> SubmissionRow:
    async def read() -> SubmissionRow:
        db = await Database.open(store.path)
        try:
            row = await Repository(db).submission(store.rows[name].id)
        finally:
            await db.close()
        assert row is not None
        return row

    return asyncio.run(read())


async def _fill(path: Path, rules_file: Path) -> dict[str, SubmissionRow]:
    assert CORPUS is not None
    db = await Database.open(path)
    repo = Repository(db)
    try:
        ruleset = load_rules([str(REPO_ROOT / "rules" / "*.yaml"), str(rules_file)])
        # the fixtures are real alerts of 2026: past the default age gate
        settings = PipelineSettings(max_alert_age=timedelta(days=3650))
        processor = Processor(repo, rules=lambda: ruleset, settings=lambda: settings)
        inbox = Inbox(repo)
        now = datetime.now(UTC)
        for name, topic in TOPICS.items():
            raw = (KAFKA / name if "/" not in name else CORPUS / name).read_bytes()
            await inbox(
                Received.create(
                    raw=raw, identity=name, topic=topic, received_at=now, source="kafka"
                )
            )
        await inbox(
            Received.create(
                raw=b"<not a voevent",
                identity="x",
                topic="gcn.notices.svom.voevent.grm",
                received_at=now,
                source="mqtt",
            )
        )
        assert await processor.step() == 5
        rows = {f"{r.group_key} {r.action}": r for r in await repo.submissions()}
        assert set(rows) == {
            "svom:sb26051001 too",
            "svom:sb26043009 too",
            "svom:sb26043009 xrt_products",
            "svom:sb26052012 too",
            "svom:sb26052012 xrt_products",
            "swift:1123129 xrt_products",
        }
        # The ECLAIRs TOO went over its budget: parked for a human, as the submitter does.
        svom = rows["svom:sb26051001 too"]
        await repo.transition(
            svom.id,
            expect=[S.PLANNED],
            to=S.NEEDS_HUMAN,
            reason="rule budget exhausted: 2 of 2 TOOs in 1 day",
            next_at=None,
        )
        # GRM A: sent, accepted, observed.
        too = rows["svom:sb26043009 too"]
        await repo.transition(too.id, expect=[S.PLANNED], to=S.SUBMITTING, sent_at=now)
        await repo.transition(
            too.id,
            expect=[S.SUBMITTING],
            to=S.SUBMITTED,
            remote_id="22222",
            detail="accepted as 22222",
        )
        await repo.transition(too.id, expect=[S.SUBMITTED], to=S.TRACKING)
        await repo.record_remote(too.id, api="swift_too", remote_id="22222", status="Approved")
        await repo.add_observations(
            too.id,
            [
                {
                    "target_id": "01234567",
                    "obsid": "01234567001",
                    "start": "2026-05-01T01:00:00",
                    "exposure_s": 980.0,
                }
            ],
        )
        # The BAT XRT job: sent and running, with a first result.
        xrt = rows["swift:1123129 xrt_products"]
        await repo.transition(xrt.id, expect=[S.PLANNED], to=S.SUBMITTING, sent_at=now)
        await repo.transition(xrt.id, expect=[S.SUBMITTING], to=S.TRACKING, remote_id="98765")
        await repo.record_remote(
            xrt.id, api="ukssdc_xrt", remote_id="98765", status="running", url=XRT_URL
        )
        await repo.put_result(
            xrt.id, "position_enhanced", {"ra": 268.87, "dec": -20.31, "err90_arcsec": 2.1}
        )
        await repo.put_result(  # the shape the UKSSDC client stores (two PC bins, one HR)
            xrt.id,
            "lightcurve",
            {
                "datasets": {
                    "PC": {
                        "columns": ["Time", "TimePos", "TimeNeg", "Rate", "RatePos", "RateNeg"],
                        "rows": [
                            [533.3333330154419, 533.33333, -533.33333, 0.4900635, 0.0271, -0.0271],
                            [5400.0, 600.0, -600.0, 0.1234, 0.02, -0.015],
                        ],
                    },
                    "PCHR": {"columns": ["Time", "HR"], "rows": [[533.3, 0.8]]},
                }
            },
        )  # fmt: skip
        await repo.set_meta("heartbeat", ts(utcnow()) or "")  # as the supervisor writes it
        await repo.set_meta("mode", "live")
        return rows
    finally:
        await db.close()


@pytest.fixture
def store(tmp_path: Path) -> Store:
    rules_file = tmp_path / "grm.yaml"
    rules_file.write_text(GRM_RULE)
    path = tmp_path / "state" / "state.db"
    rows = asyncio.run(_fill(path, rules_file))
    config = tmp_path / "autotoo.yaml"
    # A config whose credential files do not exist here: reading state: must not need them.
    config.write_text(
        f"state: sqlite:///{path}\nrules: [{json.dumps(str(rules_file))}]\nmode: debug\n"
        "swift: {username: me, shared_secret_file: /nonexistent/secret}\n"
    )
    return Store(path, config, rows)


def _json(capsys: pytest.CaptureFixture[str], *argv: str, code: int = EXIT_OK) -> Any:
    assert main(list(argv)) == code
    return json.loads(capsys.readouterr().out)


def test_status_reports_the_store(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    report = _json(capsys, "status", "--db", str(store.path), "--json")
    assert report["state"] == str(store.path)
    assert report["mode"] == "live"  # as the daemon recorded it at its last start
    assert report["daemon_running"] is True
    assert 0 <= report["heartbeat_age_s"] < 30
    assert report["inbox"] == {"processed": 4, "unparsed": 1}
    assert report["events"] == {"open": 4}
    assert report["submissions"] == {
        "swift_too:needs_human": 1,
        "swift_too:planned": 1,
        "swift_too:tracking": 1,
        "ukssdc_xrt:planned": 2,
        "ukssdc_xrt:tracking": 1,
    }
    (human,) = report["needs_human"]
    assert (human["id"], human["rule"], human["event"]) == (
        store.rows["svom:sb26051001 too"].id,
        "svom-eclairs-grb",
        "svom:sb26051001",
    )
    assert human["reason"].startswith("rule budget exhausted")
    assert report["notices_pending"] == 0  # publishing is not configured
    oldest = report["oldest_pending"]
    assert (oldest["id"], oldest["state"]) == (
        store.rows["svom:sb26043009 xrt_products"].id,
        "planned",
    )
    assert all(report["last_activity"].values())

    assert main(["status", "-c", str(store.config)]) == EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(
        f"NEEDS HUMAN  #{human['id']} swift_too svom-eclairs-grb svom:sb26051001: rule budget"
    )
    assert "mode         debug" in lines
    assert any(line.startswith("daemon       running; last heartbeat") for line in lines)
    assert "inbox        processed 4, unparsed 1" in lines


def test_status_sees_a_stale_heartbeat_and_a_missing_store(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with sqlite3.connect(store.path) as conn:  # as if the daemon stopped a minute ago
        stale = ts(utcnow() - timedelta(seconds=60))
        conn.execute("UPDATE meta SET value = ? WHERE key = 'heartbeat'", (stale,))
    report = _json(capsys, "status", "--state", str(store.path), "--json")
    assert report["daemon_running"] is False
    assert report["heartbeat_age_s"] >= 60
    missing = tmp_path / "nowhere" / "state.db"
    assert main(["status", "--db", str(missing)]) == EXIT_FAILURE
    assert "no state store at" in capsys.readouterr().err
    assert not missing.parent.exists()  # status never creates a store


def test_jobs_list_filters(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    db = ["--db", str(store.path)]
    everything = _json(capsys, "jobs", "list", *db, "--json")
    assert [j["id"] for j in everything] == sorted(
        (r.id for r in store.rows.values()), reverse=True
    )
    tracking = _json(capsys, "jobs", "list", *db, "--state", "tracking", "--json")
    assert {(j["api"], j["remote_id"]) for j in tracking} == {
        ("swift_too", "22222"),
        ("ukssdc_xrt", "98765"),
    }
    xrt = _json(capsys, "jobs", "list", *db, "--api", "ukssdc_xrt", "--rule", "grm-test", "--json")
    assert {j["event"] for j in xrt} == {"svom:sb26043009", "svom:sb26052012"}
    assert len(_json(capsys, "jobs", "list", *db, "--limit", "2", "--json")) == 2
    assert main(["jobs", "list", *db, "--api", "swift_too"]) == EXIT_OK
    header, *lines = capsys.readouterr().out.splitlines()
    assert header.split() == [
        "ID",
        "KEY",
        "API",
        "RULE",
        "EVENT",
        "STATE",
        "REMOTE",
        "UPDATED",
        "REASON",
    ]
    assert len(lines) == 3
    parked = next(line for line in lines if "needs_human" in line)
    assert parked.rstrip().endswith("rule budget exhausted: 2 of 2 TOOs in 1 day")


def test_jobs_show_by_key_and_by_id(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    too = store.rows["svom:sb26043009 too"]
    shown = _json(capsys, "jobs", "show", "--db", str(store.path), too.key, "--json")
    assert (shown["id"], shown["state"], shown["remote_id"]) == (too.id, "tracking", "22222")
    assert shown["account"] == "default"  # a rule without `account`: the config's swift section
    assert shown["request"]["body"]["source_name"] == "GRB sb26043009"
    assert [(h["from_state"], h["to_state"]) for h in shown["history"]] == [
        (None, "planned"),
        ("planned", "submitting"),
        ("submitting", "submitted"),
        ("submitted", "tracking"),
    ]
    assert shown["remote_job"]["status"] == "Approved"
    assert shown["observations"][0]["obsid"] == "01234567001"
    xrt = store.rows["swift:1123129 xrt_products"]
    assert main(["jobs", "show", "--db", str(store.path), str(xrt.id)]) == EXIT_OK
    out = capsys.readouterr().out
    assert "account      default\n" in out
    assert f"url          {XRT_URL}" in out
    assert "result       position_enhanced: RA 268.87000 Dec -20.31000 error 2.1 arcsec" in out
    # the light curve is a table a person reads: time since trigger, bin, rate, error
    table = out[out.index("result       light curve: 2 points") :].splitlines()[1:4]
    assert table[0].strip().startswith("t - T0 (s)  bin (s)")
    assert table[0].split()[-5:] == ["(count/s)", "error", "(1", "sigma)", "mode"]
    assert table[1].split() == ["533.3", "0", "to", "1067", "0.490", "±", "0.027", "PC"]
    assert table[2].split() == ["5400", "4800", "to", "6000", "0.123", "+0.020", "-0.015", "PC"]
    assert main(["jobs", "show", "--db", str(store.path), "atoo-nope"]) == EXIT_FAILURE
    assert "no submission 'atoo-nope'" in capsys.readouterr().err


def test_jobs_cancel_unsent_rows_only(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    db = ["--db", str(store.path)]
    too = store.rows["svom:sb26052012 too"]
    done = _json(capsys, "jobs", "cancel", *db, too.key, "--reason", "false trigger", "--json")
    waiting = store.rows["svom:sb26052012 xrt_products"]
    assert [(c["id"], c["state"]) for c in done["cancelled"]] == [
        (too.id, "cancelled"),
        (waiting.id, "cancelled"),
    ]
    assert _sub(store, "svom:sb26052012 too").reason == "cancelled by operator: false trigger"
    assert _sub(store, "svom:sb26052012 xrt_products").state is S.CANCELLED
    # A second cancel changes nothing and is not an error.
    assert main(["jobs", "cancel", *db, str(too.id), "--reason", "again"]) == EXIT_OK
    assert "already cancelled" in capsys.readouterr().err
    # needs_human can be cancelled too.
    parked = store.rows["svom:sb26051001 too"]
    assert main(["jobs", "cancel", *db, str(parked.id), "--reason", "not worth it"]) == EXIT_OK
    assert _sub(store, "svom:sb26051001 too").state is S.CANCELLED
    capsys.readouterr()
    # An 'unknown' row may have been sent: cancelled, with a warning to look remotely.
    unknown = store.rows["svom:sb26043009 xrt_products"]
    asyncio.run(_to_unknown(store.path, unknown.id))
    assert main(["jobs", "cancel", *db, unknown.key, "--reason", "gave up"]) == EXIT_OK
    out, err = capsys.readouterr()
    assert (
        out == f"cancelled submission {unknown.id} (ukssdc_xrt, rule grm-test, svom:sb26043009)\n"
    )
    assert f"it may have reached the service. Look for the marker [autotoo:{unknown.key}]" in err
    assert _sub(store, "svom:sb26043009 xrt_products").state is S.CANCELLED
    # A running XRT job and an accepted TOO are not cancelled here; the command says why.
    xrt = store.rows["swift:1123129 xrt_products"]
    assert main(["jobs", "cancel", *db, str(xrt.id), "--reason", "x"]) == EXIT_FAILURE
    err = capsys.readouterr().err
    assert f"XRT job 98765 ({XRT_URL}) is running at the UKSSDC" in err
    assert _sub(store, "swift:1123129 xrt_products").state is S.TRACKING
    sent = store.rows["svom:sb26043009 too"]
    assert main(["jobs", "cancel", *db, str(sent.id), "--reason", "x"]) == EXIT_FAILURE
    assert "TOO 22222 was accepted by Swift" in capsys.readouterr().err
    assert _sub(store, "svom:sb26043009 too").state is S.TRACKING


def test_alerts_list(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    listed = _json(capsys, "alerts", "list", "--db", str(store.path), "--json")
    assert [a["status"] for a in listed] == [
        "unparsed",
        "processed",
        "processed",
        "processed",
        "processed",
    ]
    broken = listed[0]
    assert (broken["source"], broken["event"]) == ("mqtt", None)
    assert broken["reason"]
    assert [a["event"] for a in listed[1:]] == [
        "swift:1123129",
        "svom:sb26052012",
        "svom:sb26043009",
        "svom:sb26051001",
    ]
    only = _json(
        capsys, "alerts", "list", "-c", str(store.config), "--status", "unparsed", "--json"
    )
    assert [a["id"] for a in only] == [broken["id"]]
    assert main(["alerts", "list", "--db", str(store.path), "--limit", "2"]) == EXIT_OK
    first, second = capsys.readouterr().out.splitlines()
    assert "unparsed: " in first
    assert second.rstrip().endswith("swift:1123129")


def test_alerts_export_then_replay(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "export"
    assert main(["alerts", "export", "--db", str(store.path), "--out", str(out)]) == EXIT_OK
    assert capsys.readouterr().out == f"wrote 5 alert(s) and index.jsonl to {out}\n"
    index = [json.loads(line) for line in (out / "index.jsonl").read_text().splitlines()]
    names = [entry["file"] for entry in index]
    assert names == sorted(names)  # in the order they were received
    assert names[0] == "00000001_gcn_notices_svom_voevent_eclairs.xml"
    assert (out / names[0]).read_bytes() == (KAFKA / SVOM_WAKEUP).read_bytes()
    # replay validates its config as 'run' does (credential files included): a config of its own
    config = tmp_path / "replay.yaml"
    secret = tmp_path / "swift-secret"
    secret.write_text("s3cret\n")
    config.write_text(store.config.read_text().replace("/nonexistent/secret", str(secret)))
    reports_code = main(["replay", "-c", str(config), "--json", str(out)])
    reports = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert reports_code == EXIT_FAILURE  # the unparsed payload is still unparseable
    # replay takes a directory in the order the alerts were issued (the fixture stored a 2022
    # BAT notice after 2026 ones); each file keeps its topic and event
    by_file = {Path(r["file"]).name: r for r in reports}
    assert sorted(by_file) == names
    assert [by_file[e["file"]]["topic"] for e in index] == [e["topic"] for e in index]
    assert [by_file[e["file"]]["group_key"] for e in index] == [e["event"] for e in index]
    assert [r["topic_source"] for r in reports] == ["file name"] * 5
    grm = next(r for r in reports if r["group_key"] == "svom:sb26043009")
    (too, xrt) = next(r for r in grm["rules"] if r["rule"] == "grm-test")["actions"]
    assert too["key"] == store.rows["svom:sb26043009 too"].key  # the daemon's own keys
    assert xrt["key"] == store.rows["svom:sb26043009 xrt_products"].key
    assert dict(too["request"]["body"])["debug"] == "true"  # mode: debug in this config
    later = _json(
        capsys, "alerts", "export", "--db", str(store.path), "--out", str(tmp_path / "none"),
        "--since", "2999-01-01T00:00:00", "--json",
    )  # fmt: skip
    assert later == {"out": str(tmp_path / "none"), "files": 0, "pruned": 0}
    assert (tmp_path / "none" / "index.jsonl").read_text() == ""
