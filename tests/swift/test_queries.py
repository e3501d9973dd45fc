"""The v2 query endpoints through swifttools 4.0.5's own classes (VisQuery, PlanQuery, ObsQuery,
SAA, Clock), answered from the same sky and rules as the TOO decisions."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from autotoo.emulators.swift.rules import SwiftRules
from autotoo.swift import SwiftRejectedError, SwiftV2Client
from autotoo.swift.queries import SwiftQueries, Window
from tests.fixtures.swift_emulator import Emulator, MakeEmulator
from tests.swift.conftest import SMC_X3, seed_request
from tests.swift.test_contract import CREDS, run_walk


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def walk(emu: Emulator, ra: float, dec: float, target_id: int, days: float) -> Any:
    """swifttools' classes, asked from the emulator's now (to the second)."""
    env = {"SWIFT_TOO_API_URL": emu.swift_v2_url}
    begin = emu.clock.now().strftime("%Y-%m-%d %H:%M:%S")
    args = [str(ra), str(dec), str(target_id), begin, str(days)]
    return await run_walk(Path(sys.executable), "walk_v2.py", "queries", *args, env=env)


async def test_visibility_agrees_with_the_too_decision(pole_emulator: Emulator) -> None:
    """SMC X-3 in the pole band: the TOO is refused until T, and VisQuery's first window
    opens at T (to the decision's 30-minute search step)."""
    async with SwiftV2Client(pole_emulator.swift_v2_url, **CREDS) as swift:
        with pytest.raises(SwiftRejectedError) as refused:
            await swift.submit(seed_request(urgency=2))
    text = refused.value.errors[0]
    until = at(text.split("until ")[1].split(",")[0])
    out = await walk(pole_emulator, *SMC_X3, 945521, 10)

    status, errors, windows = out["vis"]
    assert (status, errors) == ("Accepted", [])
    first = at(windows[0][0])
    assert abs(first - until) <= timedelta(minutes=30)
    now = pole_emulator.clock.now().replace(tzinfo=None)
    assert first > now  # not observable now

    # hires: the same target, with Earth occultation and the SAA: none before T either.
    status, errors, hires = out["hires"]
    assert (status, errors) == ("Accepted", [])
    assert all(at(b) >= first - timedelta(minutes=1) for b, _ in hires)


async def test_timelines_saa_and_clock(make_emulator: MakeEmulator) -> None:
    emu = await make_emulator(rules=SwiftRules(constraints=False))
    too = seed_request(target_name="EP250101a", ra=150.0, dec=20.0, urgency=1, num_of_visits=2,
                       exp_time_per_visit=1000, exposure=2000)  # fmt: skip
    async with SwiftV2Client(emu.swift_v2_url, **CREDS) as swift:
        accepted = await swift.submit(too)
        assert accepted.too_id is not None
        target_id = emu.swift.toos[accepted.too_id].target_id

        out = await walk(emu, 150.0, 20.0, target_id, 2)
        status, errors, planned = out["plan"]
        assert (status, errors) == ("Accepted", [])
        assert [e[0] for e in planned] == [f"{target_id:08d}001", f"{target_id:08d}002"][
            : len(planned)
        ]
        assert planned  # the accepted TOO's first visit is in the pre-planned timeline
        assert out["obs"][:2] == ["Accepted", []]
        assert out["obs"][2] == []  # nothing flown yet

        begin = emu.clock.now().strftime("%Y-%m-%d %H:%M:%S")
        emu.clock.advance(timedelta(days=3))
        # The planning calendar by position and span (once approved), not by TOO ID.
        env = {"SWIFT_TOO_API_URL": emu.swift_v2_url}
        script = (Path(sys.executable), "walk_v2.py", "calendar")
        near = await run_walk(*script, "150.0", "20.0", begin, "5", env=env)
        far = await run_walk(*script, "10.0", "20.0", begin, "5", env=env)
        assert near["status"] == ["Accepted", []]
        assert [row[2] for row in near["entries"]] == [target_id, target_id]
        assert [row[3] for row in near["entries"]] == [1000.0, 1000.0]
        assert far == {"status": ["Accepted", []], "entries": []}

        out = await walk(emu, 150.0, 20.0, target_id, 2)
        flown = out["obs"][2]
        calendar = await swift.calendar(too_id=accepted.too_id)
        assert [e[0] for e in flown] == [e.obsid for e in calendar if e.observed]
        assert all((e[4], e[5]) == (150.0, 20.0) for e in flown)  # pointing = the TOO's target

    # Hires windows lie inside the low-resolution ones and are each at most an orbit long.
    vis, hires = out["vis"][2], out["hires"][2]
    assert hires
    for b, e in hires:
        assert at(e) - at(b) <= timedelta(minutes=96)
        assert any(at(vb) <= at(b) and at(e) <= at(ve) for vb, ve in vis)

    # SAA: several passages a day, none long, none overlapping a hires window.
    status, errors, passages = out["saa"]
    assert (status, errors) == ("Accepted", [])
    assert 4 <= len(passages) <= 12
    assert all(timedelta(0) < at(e) - at(b) <= timedelta(minutes=30) for b, e in passages)
    for pb, pe in passages:
        assert not any(at(b) < at(pe) and at(pb) < at(e) for b, e in hires)

    # Clock: MET and UTC round-trip with the same UTCF (leap seconds plus clock offset).
    _, _, utc, swift_time, utcf = out["clock_met"]
    assert utcf == pytest.approx(-26.43)
    assert (at(swift_time) - at(utc)).total_seconds() == pytest.approx(26.43)
    assert out["plan_no_args"][0] == "Rejected"


async def test_our_client_reads_what_swifttools_reads(make_emulator: MakeEmulator) -> None:
    """Our SwiftQueries against the same emulator, the same questions: the same answers."""
    emulator = await make_emulator(speed=1e-9)  # a still clock: both ask at the same "now"
    ra, dec = 83.63308333, 22.0145  # the Crab, archive target 30694
    begin = emulator.clock.now().replace(microsecond=0)
    out = await walk(emulator, ra, dec, 30694, 2)  # walk() sends this same begin
    async with SwiftV2Client(emulator.swift_v2_url) as anonymous:
        queries = SwiftQueries(anonymous)
        vis = await queries.visibility(ra, dec, begin=begin, end=begin + timedelta(days=2))
        hires = await queries.visibility(
            ra, dec, begin=begin, end=begin + timedelta(days=1), hires=True
        )
        saa = await queries.saa(begin=begin)
        planned = await queries.planned(target_id=30694)
        flown = await queries.flown(target_id=[30694, 945521], limit=10)
        clock = await queries.clock(met=[700000000.0])
        with pytest.raises(SwiftRejectedError, match="At least one of"):
            await queries.planned()

    def spans(windows: list[Window]) -> list[list[str]]:
        return [[str(w.begin), str(w.end)] for w in windows]

    assert spans(vis) == out["vis"][2]
    assert spans(hires) == out["hires"][2]
    assert spans(saa) == out["saa"][2]
    assert [e.obs_id for e in planned.entries] == [e[0] for e in out["plan"][2]]
    assert {e.obs_id for e in flown.entries} >= {e[0] for e in out["obs"][2]}
    assert all(e.exposure is not None and e.exposure > timedelta(0) for e in flown.entries)
    assert str(planned.valid_until) == out["ppstmax"]
    (entry,) = clock
    assert entry.utcf == pytest.approx(out["clock_met"][4])
    assert abs(entry.utc - at(out["clock_met"][2])) < timedelta(milliseconds=1)
