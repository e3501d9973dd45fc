"""The v1 query classes of swifttools 3.0.24 (``Swift_VisQuery``, ``Swift_PPST``,
``Swift_AFST``, ``Swift_SAA``, ``Swift_Clock``, ``Swift_TOO_Requests``) against the emulator's
v1 endpoint, run in ``.venv-swifttools3`` (tests/swift/test_contract.py): the same questions
as tests/swift/test_queries.py asks swifttools 4.0.5's v2 classes, the same answers."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from autotoo.emulators.swift.rules import SwiftRules
from autotoo.swift import SwiftRejectedError, SwiftV2Client
from tests.fixtures.swift_emulator import Emulator, MakeEmulator
from tests.swift.conftest import SMC_X3, seed_request
from tests.swift.test_contract import CREDS, run_walk


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _begin(emu: Emulator) -> str:
    return emu.clock.now().strftime("%Y-%m-%d %H:%M:%S")


async def walk_v1(python: Path, emu: Emulator, ra: float, dec: float, tid: int, days: float) -> Any:
    args = [str(ra), str(dec), str(tid), _begin(emu), str(days)]
    return await run_walk(python, "walk_v1.py", emu.swift_v1_url, "queries", *args)


async def walk_v2(emu: Emulator, ra: float, dec: float, tid: int, days: float) -> Any:
    env = {"SWIFT_TOO_API_URL": emu.swift_v2_url}
    args = [str(ra), str(dec), str(tid), _begin(emu), str(days)]
    return await run_walk(Path(sys.executable), "walk_v2.py", "queries", *args, env=env)


async def test_v1_visibility_agrees_with_the_too_decision(
    pole_emulator: Emulator, swifttools3_python: Path
) -> None:
    """SMC X-3 in the pole band: the TOO is refused until T, and Swift_VisQuery's first
    window opens at T (to the decision's 30-minute search step)."""
    async with SwiftV2Client(pole_emulator.swift_v2_url, **CREDS) as swift:
        with pytest.raises(SwiftRejectedError) as refused:
            await swift.submit(seed_request(urgency=2))
    until = at(refused.value.errors[0].split("until ")[1].split(",")[0])
    out = await walk_v1(swifttools3_python, pole_emulator, *SMC_X3, 945521, 10)
    status, errors, windows = out["vis"]
    assert (status, errors) == ("Accepted", [])
    first = at(windows[0][0])
    assert abs(first - until) <= timedelta(minutes=30)
    assert first > pole_emulator.clock.now().replace(tzinfo=None)
    status, errors, hires = out["hires"]
    assert (status, errors) == ("Accepted", [])
    assert all(at(b) >= first - timedelta(minutes=1) for b, _ in hires)


async def test_v1_timelines_saa_clock_and_requests(
    make_emulator: MakeEmulator, swifttools3_python: Path
) -> None:
    emu = await make_emulator(rules=SwiftRules(constraints=False))
    too = seed_request(target_name="EP250101a", ra=150.0, dec=20.0, urgency=1, num_of_visits=2,
                       exp_time_per_visit=1000, exposure=2000)  # fmt: skip
    async with SwiftV2Client(emu.swift_v2_url, **CREDS) as swift:
        accepted = await swift.submit(too)
        assert accepted.too_id is not None
        target_id = emu.swift.toos[accepted.too_id].target_id
        begin = _begin(emu)

        out = await walk_v1(swifttools3_python, emu, 150.0, 20.0, target_id, 2)
        status, errors, planned = out["plan"]
        assert (status, errors) == ("Accepted", [])
        assert planned  # the accepted TOO's first visit is in the pre-planned timeline
        expected = [f"{target_id:08d}001", f"{target_id:08d}002"]
        assert [e[0] for e in planned] == expected[: len(planned)]
        assert out["modes"] == [["WT", "0x9999"]] * len(planned)  # the TOO asked for WT
        assert out["obs"] == ["Accepted", [], []]  # nothing flown yet

        emu.clock.advance(timedelta(days=3))
        out = await walk_v1(swifttools3_python, emu, 150.0, 20.0, target_id, 2)
        flown = out["obs"][2]
        calendar = await swift.calendar(too_id=accepted.too_id)
        assert [e[0] for e in flown] == [e.obsid for e in calendar if e.observed]
        assert flown
        assert all((e[4], e[5]) == (150.0, 20.0) for e in flown)
        assert all(at(e[1]) < at(e[2]) < at(e[3]) for e in flown)  # begin < settle < end

        # The planning calendar by position and span (once approved), not by TOO ID.
        script = (swifttools3_python, "walk_v1.py", emu.swift_v1_url, "calendar")
        near = await run_walk(*script, "150.0", "20.0", begin, "5")
        far = await run_walk(*script, "10.0", "20.0", begin, "5")
        assert near["status"] == ["Accepted", []]
        assert [row[2] for row in near["entries"]] == [target_id, target_id]
        assert [row[3] for row in near["entries"]] == [1000.0, 1000.0]
        assert (far["status"], far["entries"]) == (["Accepted", []], [])

        # TOORequests by position and span: the approved TOO near the position, none far.
        script = (swifttools3_python, "walk_v1.py", emu.swift_v1_url, "requests_near")
        near = await run_walk(*script, "150.0", "20.0", begin, "5")
        far = await run_walk(*script, "10.0", "20.0", begin, "5")
        assert (near["status"], near["too_ids"]) == (["Accepted", []], [accepted.too_id])
        assert (far["status"], far["too_ids"]) == (["Accepted", []], [])

    vis, hires = out["vis"][2], out["hires"][2]
    assert hires
    for b, e in hires:
        assert at(e) - at(b) <= timedelta(minutes=96)
        assert any(at(vb) <= at(b) and at(e) <= at(ve) for vb, ve in vis)
    status, errors, passages = out["saa"]
    assert (status, errors) == ("Accepted", [])
    assert 4 <= len(passages) <= 12
    for pb, pe in passages:
        assert timedelta(0) < at(pe) - at(pb) <= timedelta(minutes=30)
        assert not any(at(b) < at(pe) and at(pb) < at(e) for b, e in hires)
    _, _, utc, swift_time, utcf = out["clock_met"]
    assert utcf == pytest.approx(-26.43)
    assert (at(swift_time) - at(utc)).total_seconds() == pytest.approx(26.43)
    status, errors = out["plan_no_args"]
    assert (status, errors[0]) == ("Rejected", "Please supply search parameters to narrow search.")


async def test_v1_and_v2_classes_get_the_same_answers(
    make_emulator: MakeEmulator, swifttools3_python: Path
) -> None:
    """One still sky, the same questions through swifttools 3.0.24 (v1) and 4.0.5 (v2)."""
    emu = await make_emulator(speed=1e-9)
    ra, dec = 83.63308333, 22.0145  # the Crab, archive target 30694
    v1 = await walk_v1(swifttools3_python, emu, ra, dec, 30694, 2)
    v2 = await walk_v2(emu, ra, dec, 30694, 2)
    for key in ("vis", "hires", "saa"):
        assert v1[key][:2] == ["Accepted", []], (key, v1[key])
        assert v1[key] == v2[key], key
    assert v1["plan"][0] == "Accepted"
    assert [e[0] for e in v1["plan"][2]] == [e[0] for e in v2["plan"][2]]
    assert [e[1:] for e in v1["plan"][2]] == [e[1:] for e in v2["plan"][2]]
    assert v1["ppstmax"] == v2["ppstmax"]
    assert [e[0] for e in v1["obs"][2]] == [e[0] for e in v2["obs"][2]]
    assert v1["obs"][2]  # the archive target has flown
    assert v1["clock_met"][2:4] == v2["clock_met"][2:4]
    assert v1["clock_met"][4] == pytest.approx(v2["clock_met"][4])
