"""The seed walkthrough's TOO, and an emulator whose clock starts with SMC X-3 pole-constrained."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from autotoo.emulators.swift.rules import SwiftRules
from autotoo.swift import TooRequest
from tests.fixtures.swift_emulator import Emulator, MakeEmulator

SMC_X3 = (13.0234, -72.4345)
# The seed's message; the time is when the emulator finds the target free again.
CONSTRAINED = re.compile(
    r"ERROR: Object currently constrained until \d{4}-\d\d-\d\d \d\d:\d\d:00, "
    r"so (24|4)-hour response TOO rejected\."
)
BRIGHT_STAR = (
    "The following UVOT filters are not allowed due to a bright star: uvw1, u, b, uvw2, v, uvm2."
)
SCIENCE_JUST = (
    "SMC X-3 has been detected to be entering it's 3rd outburst since discovery."
    "We wish to monitor the flux and pulsar period in order to track the evolution "
    "of this Be/XRB which has previously shown to enter a Super-Eddington level outburst. "
    "As the outburst has been detected in it's early stages, we request observations begin "
    "ASAP, and request an initial 2 week monitoring period to accurately sample flux rise "
    "and pulsar period evolution."
)


def seed_request(**changes: object) -> TooRequest:
    """The seed's TOO, as it stands just before submission."""
    fields: dict[str, object] = {
        "source_name": "SMC X-3",
        "source_type": "Be/X-ray Binary",
        "ra": SMC_X3[0],
        "dec": SMC_X3[1],
        "exp_time_per_visit": 1000,
        "monitoring_freq": "2 days",
        "num_of_visits": 7,
        "exp_time_just": "1ks to measure flux and period",
        "immediate_objective": (
            "Track the X-ray evolution and pulsar period in this new outburst of SMC X-3"
        ),
        "urgency": 2,
        "obs_type": "Light Curve",
        "instrument": "XRT",
        "xrt_countrate": 20,
        "xrt_mode": "WT",
        "uvot_mode": "I think I want all UV filters for this, whatever the UVOT team recommends.",
        "uvot_just": "All UV filters to follow the disc.",
        "science_just": SCIENCE_JUST,
    }
    for v2_name, v1_name in (("target_name", "source_name"), ("target_type", "source_type")):
        if v2_name in changes:
            fields.pop(v1_name)
    fields.update(changes)
    return TooRequest.model_validate(fields)


@pytest.fixture
def seed_too() -> TooRequest:
    return seed_request()


@pytest.fixture
async def pole_emulator(make_emulator: MakeEmulator) -> Emulator:
    """An emulator whose sim clock starts with SMC X-3 inside the pole band."""
    rules = SwiftRules()
    start = rules.when_south_pole_at(SMC_X3[0], after=datetime.now(UTC))
    return await make_emulator(start=start, rules=rules)


ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = Path(__file__).with_name("requirements-swifttools3.txt")


@pytest.fixture(scope="session")
def swifttools3_python() -> Path:
    venv = ROOT / ".venv-swifttools3"
    python = venv / "bin" / "python"
    stamp = venv / "requirements.sha256"
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if python.exists() and stamp.exists() and stamp.read_text() == digest:
        return python
    uv = shutil.which("uv") or os.environ.get("UV")
    if uv is None:
        pytest.fail("`uv` is needed to build the swifttools 3.0.24 test environment")
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([uv, "venv", "--quiet", "--python", "3.11", str(venv)], check=True)
    subprocess.run(
        [
            uv,
            "pip",
            "install",
            "--quiet",
            "--python",
            str(python),
            "--require-hashes",
            "-r",
            str(REQUIREMENTS),
        ],
        check=True,
    )
    stamp.write_text(digest)
    return python
