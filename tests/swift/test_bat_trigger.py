"""The emulator's BAT triggers: Swift slews to a burst by itself, and swifttools 4.0.5's own
PlanQuery and ObsQuery see the automatic observation over HTTP (tests/pipeline/test_presend.py
relies on it to put Swift "already on" a position)."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

import aiohttp

from tests.fixtures.swift_emulator import MakeEmulator
from tests.swift.test_contract import run_walk

RA, DEC = 201.3, -43.02  # well away from every archive target


async def test_bat_trigger_is_planned_then_flown(make_emulator: MakeEmulator) -> None:
    emu = await make_emulator(speed=1e-9)  # a still clock; advanced by hand
    begin = emu.clock.now().strftime("%Y-%m-%d %H:%M:%S")
    async with aiohttp.ClientSession() as http:
        at = emu.clock.now().isoformat()
        body = {"ra": RA, "dec": DEC, "at": at, "exposure_s": 1000, "trigger": 1312345}
        async with http.post(f"{emu.root}/emulator/swift/bat_trigger", json=body) as resp:
            assert resp.status == 200
            made = await resp.json()
        async with http.post(f"{emu.root}/emulator/swift/bat_trigger", json={"ra": 400}) as bad:
            assert bad.status == 400
    assert (made["target_id"], made["obs_id"]) == (1312345, "01312345000")

    env = {"SWIFT_TOO_API_URL": emu.swift_v2_url}
    script = (Path(sys.executable), "walk_v2.py", "near")
    # Under way: in the pre-planned timeline at once, not yet flown.
    out = await run_walk(*script, str(RA + 0.1), str(DEC), "0.2", begin, env=env)
    assert out["plan"][:2] == ["Accepted", []]
    assert [(row[0], row[1]) for row in out["plan"][2]] == [("01312345000", 1312345)]
    assert out["obs"] == ["Accepted", [], []]
    # Elsewhere on the sky: nothing.
    far = await run_walk(*script, str(RA + 1.0), str(DEC), "0.2", begin, env=env)
    assert far["plan"][2] == [] and far["obs"][2] == []

    emu.clock.advance(timedelta(hours=1))
    out = await run_walk(*script, str(RA), str(DEC), "0.2", begin, env=env)
    assert [(row[0], row[4], row[5]) for row in out["obs"][2]] == [("01312345000", RA, DEC)]
