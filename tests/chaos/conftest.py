"""Reliability scenarios: seeds, scale and a counts record the bench turns into a report.

Every scenario takes its randomness from ``chaos_seed`` (``AUTOTOO_CHAOS_SEED``, else a fresh
one, printed so a failing run can be repeated) and writes what it counted through
``chaos_record`` to ``AUTOTOO_CHAOS_REPORT`` (JSON lines) when that is set. ``bench/chaos.py``
sets both, and the scale knobs (``AUTOTOO_CHAOS_*``) for the long version.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from autotoo.emulators.app import create_app
from autotoo.emulators.clock import SimClock
from autotoo.emulators.faults import FaultPlan
from autotoo.emulators.sky import Sky
from autotoo.emulators.swift import SERVICE
from autotoo.emulators.users import Users
from tests.fixtures.swift_emulator import Emulator

Record = Callable[..., None]


def scale(name: str, default: int) -> int:
    """A scenario size: the CI default, or the bench's ``AUTOTOO_CHAOS_<NAME>``."""
    return int(os.environ.get(f"AUTOTOO_CHAOS_{name.upper()}", default))


@pytest.fixture
def chaos_seed(request: pytest.FixtureRequest) -> int:
    seed = int(os.environ.get("AUTOTOO_CHAOS_SEED") or random.randrange(2**32))
    print(f"\n{request.node.name}: AUTOTOO_CHAOS_SEED={seed}")
    return seed


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call":
        item.stash[_OUTCOME] = report.outcome
    return report


_OUTCOME = pytest.StashKey[str]()


@pytest.fixture
def chaos_record(request: pytest.FixtureRequest, chaos_seed: int) -> Iterator[Record]:
    """``record(scenario, **counts)``; the outcome (passed/failed) is added at teardown."""
    entries: list[dict[str, Any]] = []

    def record(scenario: str, **counts: Any) -> None:
        entries.append({"scenario": scenario, "seed": chaos_seed, **counts})

    yield record
    target = os.environ.get("AUTOTOO_CHAOS_REPORT")
    if not target:
        return
    outcome = request.node.stash.get(_OUTCOME, "error")
    with Path(target).open("a", encoding="utf-8") as out:
        out.writelines(
            json.dumps({**entry, "test": request.node.name, "outcome": outcome}) + "\n"
            for entry in entries or [{"scenario": request.node.name, "seed": chaos_seed}]
        )


ServeEmulator = Callable[..., Awaitable[Emulator]]


@pytest.fixture
async def serve_emulator() -> AsyncIterator[ServeEmulator]:
    """Emulators with a fault plan, optionally on a given (reserved, still closed) port."""
    servers: list[TestServer] = []

    async def serve(
        *,
        faults: FaultPlan | None = None,
        port: int | None = None,
        speed: float = 20_000,
        users: Users | None = None,
    ) -> Emulator:
        sky = Sky(SimClock(speed=speed))
        app = create_app(sky=sky, faults=faults, users=users)
        server = TestServer(app, host="127.0.0.1", port=port)
        await server.start_server()
        servers.append(server)
        return Emulator(f"http://127.0.0.1:{server.port}", sky, app[SERVICE], app)

    yield serve
    for server in servers:
        await server.close()
