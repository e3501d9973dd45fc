"""Seeing one transient: ``autotoo transients list|show`` on a store the real pipeline wrote
for one burst that four missions saw (aligned real notices, the emulators as Swift), read
through the real CLI."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import timedelta
from typing import Any

import pytest

from autotoo.cli import EXIT_FAILURE, EXIT_OK, main
from autotoo.demo import DEMO_RULE, LEAD, _sample, _trigger_time
from tests.pipeline.bursts import WXT
from tests.pipeline.conftest import Pipeline
from tests.pipeline.test_transients import GRB_RULES, _feed_burst

KEY = "T:fermi:800400263"
MISSIONS = ["fermi", "swift", "einstein_probe", "svom"]


@pytest.fixture
async def burst(make_emulator: Any, make_pipeline: Any) -> Pipeline:
    """GBM (four notices), BAT 2 s, ECLAIRs 1 s and EP WXT 60 s after the GBM trigger; two
    rules; the EP rule's TOO (priority 10) takes over the GRB rule's and is sent once."""
    emulator = await make_emulator()
    p: Pipeline = await make_pipeline(emulator, GRB_RULES)
    await _feed_burst(p, p.clock() - timedelta(minutes=20))
    await p.run(rounds=3)
    assert len(emulator.swift.toos) == 1
    return p


async def _cli(capsys: pytest.CaptureFixture[str], *argv: str, code: int = EXIT_OK) -> str:
    """The real CLI (``asyncio.run`` inside), on a thread beside the pipeline's loop."""
    capsys.readouterr()
    assert await asyncio.to_thread(main, list(argv)) == code
    return capsys.readouterr().out


def _db(p: Pipeline) -> str:
    return str(p.repo.db.path)


async def test_show_tells_the_whole_story_with_time_since_trigger(
    burst: Pipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    out = await _cli(capsys, "transients", "show", KEY, "--db", _db(burst))
    head, _, table = out.partition("\n\n")
    assert f"transient  {KEY} (#1)" in head
    assert re.search(r"trigger    \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}Z = T0", head), head
    assert "missions   fermi, swift, einstein_probe, svom" in head
    assert "requests   #1 Swift TOO (rule ep-wxt): tracking, TOO 22000" in head
    rows = table.splitlines()[1:]
    # every row starts with its time since the trigger
    assert all(re.match(r"[+-]\d", row) for row in rows), rows
    # each mission's trigger, at its offset from GBM's
    triggers = [r for r in rows if "  trigger  " in r]
    assert [r.split()[0:2] for r in triggers] == [
        ["+0.0", "s"],
        ["+1.0", "s"],
        ["+2.0", "s"],
        ["+60.0", "s"],
    ]
    assert "swift:1123129 (swift BAT) triggered" in triggers[2]
    # every notice, with its mission, instrument, type, kind, trigger offset and position
    notices = [r for r in rows if "  notice  " in r]
    assert len(notices) == 7
    types = [
        "FERMI_GBM_ALERT",
        "FERMI_GBM_FLT_POS",
        "SWIFT_BAT_GRB_POS_ACK",
        "einstein_probe/wxt/alert",
        "SVOM_ECLAIRS_WAKEUP",
        "FERMI_GBM_GND_POS",
        "FERMI_GBM_FIN_POS",
    ]
    for row, kind in zip(notices, types, strict=True):
        assert kind in row, row
    assert (
        "swift BAT SWIFT_BAT_GRB_POS_ACK (initial), alert #3: trigger +2.0 s, RA 320.7900"
        in (notices[2])
    )
    assert "trigger +60.0 s" in notices[3]
    assert "no position" in notices[0]
    # how each event came to the transient, in the association's own words
    joined = [r for r in rows if "  association  " in r]
    assert len(joined) == 4
    assert "event fermi:800400263: new transient" in joined[0]
    assert (
        f"event swift:1123129: joined {KEY} because it triggered 2.0 s after fermi:800400263"
        in joined[1]
    )
    assert "within their 99% radii" in joined[1]
    # every rule's decision, the covered ones saying whose TOO covers them
    covered = [r for r in rows if "covered by rule ep-wxt's TOO (planned)" in r]
    assert len(covered) == 3
    assert all("  decision  " in r and "✔ grb-any" in r for r in covered)
    assert any("✘ grb-any: condition is false" in r for r in rows)
    # the one TOO: planned, taken over, sent, accepted, in that order
    requests = [r for r in rows if "  request  " in r]
    assert {re.search(r"#\d+ Swift TOO", r).group(0) for r in requests} == {"#1 Swift TOO"}  # type: ignore[union-attr]
    steps = [r.split("(rule ep-wxt): ", 1)[1] for r in requests]
    assert steps[0].startswith("planned for fermi:800400263")
    assert "taken over by rule ep-wxt" in steps[1]
    assert "planned -> submitting" in steps
    assert "submitting -> submitted (accepted as 22000)" in steps
    # in time order: a notice's association and decisions follow it
    i = rows.index(notices[2])
    assert "association" in rows[i + 1]
    assert "decision" in rows[i + 2]
    # the numeric id is the same transient
    assert await _cli(capsys, "transients", "show", "1", "--db", _db(burst)) == out


async def test_list_shows_the_transient(
    burst: Pipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    out = await _cli(capsys, "transients", "list", "--db", _db(burst))
    header, row = out.splitlines()
    assert header.split()[:4] == ["ID", "KEY", "TRIGGER", "(UTC)"]
    assert row.startswith(f"1   {KEY}  ")
    assert "fermi,swift,einstein_probe,svom" in row
    assert "RA 320.7900 Dec -36.4100 ± 3.00 arcmin" in row
    assert row.endswith("#1 Swift TOO (rule ep-wxt): tracking, TOO 22000")


async def test_json_for_scripts(burst: Pipeline, capsys: pytest.CaptureFixture[str]) -> None:
    listed = json.loads(await _cli(capsys, "transients", "list", "--json", "--db", _db(burst)))
    assert [t["key"] for t in listed] == [KEY]
    (t,) = listed
    assert t["missions"] == MISSIONS
    assert t["position"] == {"ra": 320.79, "dec": -36.41, "error_deg": pytest.approx(0.05)}
    assert [(r["api"], r["rule"], r["state"]) for r in t["requests"]] == [
        ("swift_too", "ep-wxt", "tracking")
    ]
    assert [e["group_key"] for e in t["events"]][1] == "swift:1123129"
    assert t["events"][1]["joined"] is True

    shown = json.loads(await _cli(capsys, "transients", "show", KEY, "--json", "--db", _db(burst)))
    assert set(shown) == {"transient", "timeline"}
    assert shown["transient"]["key"] == KEY
    rows = shown["timeline"]
    assert {r["kind"] for r in rows} == {"trigger", "notice", "association", "decision", "request"}
    for r in rows:
        assert {"at", "since_trigger_s", "since_trigger", "kind", "subject", "text"} <= set(r)
    bat = next(r for r in rows if r["kind"] == "notice" and r["mission"] == "swift")
    assert bat["instrument"] == "BAT"
    assert bat["notice_type"] == "SWIFT_BAT_GRB_POS_ACK"
    # each format keeps its own fraction of a second (VOEvent 10 ms): offsets are +-0.01 s
    # around the aligned ones, depending on the clock's microseconds when the test runs
    assert bat["trigger_since_s"] == pytest.approx(2.0, abs=0.015)
    assert bat["since_trigger_s"] == pytest.approx(1200.0, abs=5)
    covered = [r for r in rows if r["kind"] == "decision" and r["covered"]]
    assert len(covered) == 3
    assert all(r["rule"] == "grb-any" and r["matched"] for r in covered)
    seconds = [r["since_trigger_s"] for r in rows if r["kind"] == "trigger"]
    assert seconds == pytest.approx([0.0, 1.0, 2.0, 60.0], abs=0.015)


async def test_an_unknown_transient_says_so(
    burst: Pipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["transients", "show", "T:fermi:1", "--db", _db(burst)]
    assert await asyncio.to_thread(main, argv) == EXIT_FAILURE
    assert "no transient 'T:fermi:1'" in capsys.readouterr().err


async def test_observations_and_products_are_on_the_timeline(
    make_emulator: Any, make_pipeline: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """The demo's EP alert, its TOO observed by the emulated Swift (its clock 20000 times
    faster) and its XRT job's products retrieved: every step is a row of the timeline."""
    sample = _sample(LEAD)
    emulator = await make_emulator(speed=20_000, start=_trigger_time(sample))
    p: Pipeline = await make_pipeline(emulator, DEMO_RULE)
    await p.feed(sample.read_bytes(), WXT[1])
    for _ in range(300):
        await p.run()
        if any(r.api == "ukssdc_xrt" and r.state.value == "done" for r in await p.rows()):
            break
        await asyncio.sleep(0.05)
    out = await _cli(capsys, "transients", "show", "T:einstein_probe:01709261081", "--db", _db(p))
    rows = out.partition("\n\n")[2].splitlines()[1:]
    assert all(re.match(r"[+-]\d", row) for row in rows), rows
    (observed,) = [r for r in rows if "  observation  " in r]
    assert "Swift observed target 03200001, obsid 03200001001, 2000 s (#1 Swift TOO" in observed
    products = [r.split("  product  ")[1].strip() for r in rows if "  product  " in r]
    assert any(
        p.startswith("XRT position_enhanced: RA 178.33") and "arcsec (90%)" in p for p in products
    ), products
    assert any(re.match(r"XRT light curve: \d+ rate points", p) for p in products), products
    job = [r.split("(rule demo-ep-wxt): ")[1] for r in rows if "#2 XRT job" in r and "request" in r]
    assert job[0].startswith("planned for einstein_probe:01709261081")
    assert any(step.startswith("still planned (released: the TOO was observed") for step in job)
    assert job[-1].startswith("tracking -> done")


async def test_a_trigger_on_a_whole_second_is_on_the_timeline(
    make_emulator: Any, make_pipeline: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """An alert's stored trigger time is its normalized text, which has no fraction on a
    whole second ('...T08:33:27Z'); the timeline once read it as the store's fixed-width
    form and failed (seen as a dashboard test failing once in a thousand runs)."""
    emulator = await make_emulator()
    p: Pipeline = await make_pipeline(emulator, GRB_RULES)
    await _feed_burst(p, (p.clock() - timedelta(minutes=20)).replace(microsecond=0))
    await p.run(rounds=3)
    out = await _cli(capsys, "transients", "show", KEY, "--db", _db(p))
    triggers = [r for r in out.splitlines() if "  trigger  " in r]
    assert [r.split()[0] for r in triggers] == ["+0.0", "+1.0", "+2.0", "+60.0"], triggers
