"""Contract tests: the real swifttools clients walk the seed against our emulator.

swifttools 4.0.5 (API v2) is in the dev environment; swifttools 3.0.24 (API v1) cannot share
it, so a session fixture (``swifttools3_python``, tests/swift/conftest.py) builds
``.venv-swifttools3`` at the repository root once from the committed, hash-pinned
``requirements-swifttools3.txt`` (rebuilt when that file changes). Both run as subprocesses —
swifttools is synchronous and keeps global state (cookie jar, base URL).

Each walk also proves our client's wire body equals what swifttools sends for the same TOO.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import jwt

from autotoo.emulators.swift.rules import SwiftRules
from autotoo.swift import SwiftV1Client, SwiftV2Client
from tests.fixtures.swift_emulator import Emulator, MakeEmulator
from tests.swift.conftest import BRIGHT_STAR, CONSTRAINED, seed_request

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = Path(__file__).with_name("contract")
CREDS = {"username": "myuser", "shared_secret": "my_shared_secret"}

SEED_BANANAS = "Unknown mode (Bananas), should be PC, WT or Auto"
SEED_96 = "Unknown mode (96), should be PC (7), WT (6) or Auto (0)"


async def run_walk(python: Path, script: str, *args: str, env: dict[str, str] | None = None) -> Any:
    with tempfile.TemporaryDirectory() as home:
        environ = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": home,  # swifttools 4 keeps its cookie jar under ~/.cache/swift_too
            "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
            **(env or {}),
        }
        proc = await asyncio.create_subprocess_exec(
            str(python),
            str(CONTRACT / script),
            *args,
            env=environ,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        async with asyncio.timeout(120):
            out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return json.loads(out.decode().strip().splitlines()[-1])


def submitted(emu: Emulator, protocol: str, **match: Any) -> list[dict[str, Any]]:
    """The TOO request bodies the emulator received, oldest first, filtered by field values."""
    api = "/swift/too" if protocol == "v2" else "Swift_TOO_Request"
    bodies = [
        r.body | {"__token": r.token}
        for r in emu.swift.received
        if r.protocol == protocol and r.api == api
    ]
    return [b for b in bodies if all(b.get(k) == v for k, v in match.items())]


def claims(token: str) -> Any:
    return jwt.decode(token, options={"verify_signature": False})


def assert_public_listing(out: dict[str, Any], too_id: int) -> None:
    """An approved TOO is in the public listing, without its justification texts."""
    assert (out["status"], out["errors"]) == ("Accepted", [])
    (entry,) = out["entries"]
    assert (entry["too_id"], entry["decision"], entry["target_id"]) == (
        too_id,
        "Approved",
        945521,
    )
    assert entry["target_name"] == "SMC X-3"
    assert entry["science_just"] is None


# ---- API v2: swifttools 4.0.5 ---------------------------------------------------------------
async def test_swifttools4_walks_the_seed(
    pole_emulator: Emulator, make_emulator: MakeEmulator
) -> None:
    emu = pole_emulator
    env = {"SWIFT_TOO_API_URL": emu.swift_v2_url}
    out = await run_walk(Path(sys.executable), "walk_v2.py", "seed", env=env)

    assert [round(v, 3) for v in out["auto_resolved"]] == [13.023, -72.435]
    assert out["resolve"] == {"ra": 13.02343792, "dec": -72.43450778, "resolver": "Simbad"}
    assert out["skycoord_frame"] == "fk5"
    assert out["xrt_mode"] == 6
    assert SEED_BANANAS in out["xrt_mode_Bananas"]
    assert SEED_96 in out["xrt_mode_96"]
    assert out["uvot_mode"] == "0x01AB"
    assert out["uvot_lookup"] == ["u"]
    assert out["uvot_bright"]["status"] == "Rejected"
    assert out["uvot_bright"]["errors"] == [BRIGHT_STAR]
    ok, status = out["validate_1"]
    assert (ok, status["errors"]) == (
        False,
        ["argument: Value error, Missing required field: science_just"],
    )
    assert out["validate_2"][0] is True
    assert out["server_validate"] == [
        True,
        {"status": "Pending", "errors": [], "warnings": [], "too_id": None},
    ]
    ok, status = out["submit_urgency2"]
    assert (ok, status["status"]) == (False, "Rejected")
    (message,) = status["errors"]
    assert CONSTRAINED.fullmatch(message)
    assert "24-hour" in message
    assert out["submit_after_reject_without_clear"] is False  # the seed's status.clear() lesson
    ok, status = out["submit_urgency4"]
    too_id = status["too_id"]
    assert (ok, status["status"], status["errors"]) == (True, "Accepted", [])
    assert out["submit_repeat"][1]["errors"] == [
        f"TOO already recently submitted. TOO ID: {too_id}"
    ]
    ok, status = out["submit_debug"]
    assert (ok, status["status"]) == (True, "Accepted")
    assert status["too_id"] not in emu.swift.toos  # debug: acknowledged, never a real TOO

    emu.clock.advance(timedelta(days=30))
    track = await run_walk(Path(sys.executable), "walk_v2.py", "track", str(too_id), env=env)
    assert (track["status"], track["decision"], track["target_id"]) == (
        "Accepted",
        "Approved",
        945521,
    )
    flown = [e for e in track["calendar"] if e["asflown"]]
    assert len(track["calendar"]) == 7
    assert flown
    assert {e["obsid"] for e in flown} <= {o.obsid for o in emu.sky.observations(945521)}
    public = await run_walk(Path(sys.executable), "walk_v2.py", "public", str(too_id), env=env)
    assert_public_listing(public, too_id)

    # Our client's body for the same TOO, field by field (ra/dec: swifttools 4 shifts them by
    # the ICRS->FK5 bias after assignment).
    theirs, repeat = submitted(emu, "v2", urgency="4", debug="false", validate_only="false")
    assert repeat == theirs
    other = await make_emulator()
    async with SwiftV2Client(other.swift_v2_url, **CREDS) as client:
        await client.submit(seed_request(urgency=4))
    (ours,) = submitted(other, "v2")
    assert list(ours) == list(theirs)
    for key in ("ra", "dec"):
        assert abs(float(ours.pop(key)) - float(theirs.pop(key))) < 1e-4
    assert ours == theirs


def assert_resubmission_story(out: dict[str, Any], emu: Emulator) -> None:
    """The seed run a second time: its earlier debug TOO (13837 in the seed) makes the same
    request a repeat; urgency 4 after ``status.clear()`` is a new request (13838); sending that
    one again is a repeat of it."""
    ok, earlier = out["earlier_run"]
    assert (ok, earlier["status"]) == (True, "Accepted")
    first = earlier["too_id"]
    ok, status = out["submit"]
    assert (ok, status["status"]) == (False, "Rejected")
    assert status["errors"] == [f"TOO already recently submitted. TOO ID: {first}"]
    ok, status = out["resubmit"]
    assert (ok, status["status"], status["errors"]) == (True, "Accepted", [])
    assert status["too_id"] == first + 1
    ok, repeat = out["repeat"]
    assert (ok, repeat["errors"]) == (
        False,
        [f"TOO already recently submitted. TOO ID: {first + 1}"],
    )
    assert not emu.swift.toos  # debug mode throughout, as in the seed


async def test_swifttools4_walks_the_resubmission(make_emulator: MakeEmulator) -> None:
    emu = await make_emulator(rules=SwiftRules(constraints=False))
    env = {"SWIFT_TOO_API_URL": emu.swift_v2_url}
    out = await run_walk(Path(sys.executable), "walk_v2.py", "resubmit", env=env)
    assert_resubmission_story(out, emu)


# ---- API v1: swifttools 3.0.24 --------------------------------------------------------------
async def test_swifttools3_walks_the_seed(
    pole_emulator: Emulator, make_emulator: MakeEmulator, swifttools3_python: Path
) -> None:
    emu = pole_emulator
    out = await run_walk(swifttools3_python, "walk_v1.py", emu.swift_v1_url, "seed")

    assert out["resolve"] == {"ra": 13.02343792, "dec": -72.43450778, "resolver": "Simbad"}
    assert out["auto_resolved"] == [13.02343792, -72.43450778]
    assert out["obs_types"] == ["Spectroscopy", "Light Curve", "Position", "Timing"]
    assert out["xrt_mode"] == "WT"
    assert out["xrt_mode_Bananas"] == ["NameError", SEED_BANANAS]
    assert out["xrt_mode_96"] == ["ValueError", SEED_96]
    assert out["uvot_mode"] == "0x01ab"
    assert out["uvot_lookup"] == ["u"]
    assert out["uvot_table"] == "UVOT Mode: 0x01ab"
    assert out["validate_1"][0] is False
    assert out["validate_1"][1]["errors"] == ["Missing key: science_just"]
    assert out["validate_2"][0] is True
    # 3.0.24's wording; the seed's notebook (swifttools 2.4) printed "... Correcting."
    assert out["validate_2"][1]["warnings"] == [
        "INFO: Total exposure time does not match total of individuals. Corrected."
    ]
    assert out["server_validate"][0] is True
    ok, status = out["submit_urgency2"]
    assert (ok, status["status"]) == (False, "Rejected")
    (message,) = status["errors"]
    assert CONSTRAINED.fullmatch(message)
    assert "24-hour" in message
    ok, status = out["submit_urgency4"]
    too_id = status["too_id"]
    assert (ok, status["status"]) == (True, "Accepted")
    assert out["job_status"] == {"status": "Accepted", "too_id": too_id}
    assert (out["status_truthy"], out["complete"], out["table_has_requester"]) == (True, True, True)
    assert out["submit_repeat"][1]["errors"] == [
        f"TOO already recently submitted. TOO ID: {too_id}"
    ]
    ok, status = out["submit_debug"]
    assert (ok, status["status"]) == (True, "Accepted")
    assert status["too_id"] not in emu.swift.toos
    assert out["stdout"] == ""

    emu.clock.advance(timedelta(days=30))
    track = await run_walk(swifttools3_python, "walk_v1.py", emu.swift_v1_url, "track", str(too_id))
    assert (track["status"], track["decision"], track["target_id"]) == (
        "Accepted",
        "Approved",
        945521,
    )
    assert track["calendar_errors"] == []
    assert len(track["calendar"]) == 7
    assert any(e["asflown"] for e in track["calendar"])
    public = await run_walk(
        swifttools3_python, "walk_v1.py", emu.swift_v1_url, "public", str(too_id)
    )
    assert_public_listing(public, too_id)

    # Same TOO from our client: the signed token is byte-identical to swifttools' own.
    other = await make_emulator()
    async with SwiftV1Client(other.swift_v1_url, poll_interval=0.01, **CREDS) as client:
        await client.submit(seed_request(urgency=4, uvot_just=None))
        await client.submit(seed_request(urgency=4, uvot_just=None, debug=True))
    ours = list(dict.fromkeys(b["__token"] for b in submitted(other, "v1")))  # polls repeat it
    theirs = [out["token_urgency4"], out["token_debug"]]
    assert [claims(t) for t in ours] == [claims(t) for t in theirs]
    assert ours == theirs


async def test_swifttools3_walks_the_resubmission(
    make_emulator: MakeEmulator, swifttools3_python: Path
) -> None:
    """v1: the re-run's new object signs the very token of the earlier run (no time claim), and
    is still a new submission: the earlier job had given its final status."""
    emu = await make_emulator(rules=SwiftRules(constraints=False))
    out = await run_walk(swifttools3_python, "walk_v1.py", emu.swift_v1_url, "resubmit")
    assert out["same_token"] is True
    assert_resubmission_story(out, emu)
    assert out["stdout"] == ""


# ---- name resolution: both clients ----------------------------------------------------------
REAL_NAMES = {  # J2000 degrees, to 1e-3
    "M31": (10.685, 41.269),
    "NGC 4151": (182.636, 39.406),
    "V404 Cyg": (306.016, 33.867),
    "GRB 221009A": (288.265, 19.773),
    "Swift J1753.5-0127": (268.368, -1.452),
}
UNKNOWN = "Not A Real Source 12345"


def assert_resolved(out: dict[str, Any], *, v1: bool) -> None:
    for name, (ra, dec) in REAL_NAMES.items():
        got = out[name]
        assert (got["status"], got["errors"]) == ("Accepted", []), name
        assert (round(got["ra"], 3), round(got["dec"], 3)) == (ra, dec), name
        assert [round(v, 3) for v in got["too"]] == [ra, dec], name
    unknown = out[UNKNOWN]
    assert (unknown["ra"], unknown["dec"], unknown["status"]) == (None, None, "Rejected")
    if v1:
        assert unknown["errors"] == ["Could not resolve name."]
        assert out[UNKNOWN]["too_errors"] == ["Could not resolve name."]  # swifttools' own
    else:
        assert unknown["errors"] == [f"Could not resolve name {UNKNOWN}."]
    assert out[UNKNOWN]["too"] == [None, None]


async def test_swifttools4_resolves_real_names(emulator: Emulator) -> None:
    env = {"SWIFT_TOO_API_URL": emulator.swift_v2_url}
    names = [*REAL_NAMES, UNKNOWN]
    out = await run_walk(Path(sys.executable), "walk_v2.py", "resolve", *names, env=env)
    assert_resolved(out, v1=False)


async def test_swifttools3_resolves_real_names(
    emulator: Emulator, swifttools3_python: Path
) -> None:
    names = [*REAL_NAMES, UNKNOWN]
    out = await run_walk(swifttools3_python, "walk_v1.py", emulator.swift_v1_url, "resolve", *names)
    assert_resolved(out, v1=True)
    assert out["stdout"] == ""
