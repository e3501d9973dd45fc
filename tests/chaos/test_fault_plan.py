"""The fault middleware does what each kind says, against a real server and a real client:
whether the service acted, and what the client saw. The chaos scenarios rely on this."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from autotoo.emulators.faults import Fault, FaultKind, FaultPlan

Serve = Callable[[FaultPlan], Awaitable[tuple[str, list[int]]]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """A tiny service that counts the requests it acted on, behind a fault plan."""
    servers: list[TestServer] = []

    async def start(plan: FaultPlan) -> tuple[str, list[int]]:
        acted: list[int] = []

        async def act(_request: web.Request) -> web.Response:
            acted.append(1)
            return web.json_response({"ok": True})

        app = web.Application(middlewares=[plan.middleware])
        app.router.add_post("/too", act)
        app.router.add_get("/too", act)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return f"http://127.0.0.1:{server.port}", acted

    yield start
    for server in servers:
        await server.close()


async def _post(url: str, timeout: float = 0.2) -> tuple[int | None, str | None, str]:
    """(status, body, error name) as a client sees it."""
    async with aiohttp.ClientSession() as session:
        try:
            async with (
                asyncio.timeout(timeout),
                session.post(f"{url}/too", data=b"x") as resp,
            ):
                return resp.status, await resp.text(), ""
        except (aiohttp.ClientError, TimeoutError) as exc:
            return None, None, type(exc).__name__


@pytest.mark.parametrize(
    ("kind", "acted", "status", "error"),
    [
        (FaultKind.REFUSE, 0, None, "ServerDisconnectedError"),
        (FaultKind.HTTP_500, 0, 500, ""),
        (FaultKind.HTTP_503, 0, 503, ""),
        (FaultKind.EXPIRE_SESSION, 0, 401, ""),
        (FaultKind.TIMEOUT_BEFORE, 0, None, "TimeoutError"),
        (FaultKind.TIMEOUT_AFTER, 1, None, "TimeoutError"),
        (FaultKind.MALFORMED_JSON, 1, 200, ""),
        (FaultKind.DELAY, 1, 200, ""),
    ],
)
async def test_each_kind(
    serve: Serve, kind: FaultKind, acted: int, status: int | None, error: str
) -> None:
    seconds = 0.05 if kind is FaultKind.DELAY else 0.4  # timeouts: past the client's 0.2 s
    plan = FaultPlan([Fault(kind, path="/too", method="POST", nth=(1,), seconds=seconds)])
    url, calls = await serve(plan)
    # Only the timeout kinds need the client's 0.2 s; the others get room for a loaded
    # machine (a 401 answered after 0.2 s under load read as a TimeoutError).
    got_status, body, got_error = await _post(url, timeout=0.2 if error else 2)
    await asyncio.sleep(seconds + 0.1)  # let a late handler finish before counting
    assert (len(calls), got_status, got_error) == (acted, status, error)
    if kind is FaultKind.MALFORMED_JSON:
        with pytest.raises(json.JSONDecodeError):
            json.loads(body or "")
    assert [i.kind for i in plan.injected] == [kind]
    # the second request passes untouched
    assert (await _post(url, timeout=2))[0] == 200


async def test_nth_chain_probability_and_seed(serve: Serve) -> None:
    chain = FaultPlan(
        [
            Fault(FaultKind.HTTP_500, path="/too", nth=(1,)),
            Fault(FaultKind.HTTP_503, path="/too", nth=(1,)),
        ]
    )
    url, _ = await serve(chain)
    assert [(await _post(url, timeout=2))[0] for _ in range(3)] == [500, 503, 200]

    def schedule(seed: int) -> list[bool]:
        plan = FaultPlan([Fault(FaultKind.HTTP_500, probability=0.5)], seed=seed)
        return [plan.faults[0].fires(plan.rng) for _ in range(64)]

    assert schedule(7) == schedule(7)
    assert schedule(7) != schedule(8)
    assert 16 < sum(schedule(7)) < 48


async def test_plan_from_json_and_the_emulate_command(tmp_path: Path) -> None:
    """``autotoo emulate --faults FILE`` serves the emulators behind the plan."""
    path = tmp_path / "faults.json"
    path.write_text(
        json.dumps({"seed": 3, "faults": [{"kind": "503", "path": "/swift/too", "nth": [1]}]})
    )
    plan = FaultPlan.from_json(path)
    assert (plan.seed, plan.faults[0].kind, plan.faults[0].nth) == (3, FaultKind.HTTP_503, (1,))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "autotoo", "emulate", "--port", str(port), "--faults", str(path),
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(30):
            await proc.stdout.readline()  # the first base URL: listening
        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{port}/api/v2/swift/too"
            statuses = []
            for _ in range(2):
                async with asyncio.timeout(10), session.post(url, data={}) as resp:
                    statuses.append(resp.status)
        assert statuses[0] == 503
        assert statuses[1] != 503
    finally:
        proc.terminate()
        await proc.wait()
