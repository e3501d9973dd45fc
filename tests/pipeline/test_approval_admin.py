"""The dashboard's approve and deny (admin server, ``POST /api/submissions/{id}/...``): only
with the admin token of ``admin.token_file``; refused, with what to do instead, when none is
configured. Real HTTP to a real AdminServer over the pipeline's SQLite file; the Swift
emulator counts what is sent."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from pydantic import SecretStr

from autotoo.admin import AdminServer
from autotoo.store.rows import SubmissionState as S
from tests.pipeline.conftest import MakePipeline, Pipeline
from tests.pipeline.test_approval import asked, too_posts

TOKEN = "s3cret-admin-token"  # the test's own

Serve = Callable[[Pipeline, str | None], Any]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    servers: list[TestServer] = []

    async def start(p: Pipeline, token: str | None) -> str:
        admin = AdminServer(
            "127.0.0.1",
            0,
            mode=lambda: p.settings.mode,
            heartbeat_age=lambda: 0.0,
            sources=tuple,
            repo=p.repo,
            token=lambda: SecretStr(token) if token is not None else None,
            settings=lambda: p.settings,
        )
        server = TestServer(admin.app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return f"http://127.0.0.1:{server.port}"

    yield start
    for server in servers:
        await server.close()


async def post(url: str, headers: dict[str, str] | None = None, **body: Any) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, json=body, headers=headers or {}) as reply,
    ):
        return reply.status, await reply.json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_refused_without_a_configured_token(
    make_emulator: Any, make_pipeline: MakePipeline, serve: Serve
) -> None:
    p, emulator, too, _ = await asked(make_emulator, make_pipeline)
    root = await serve(p, None)
    for verb in ("approve", "deny"):
        status, body = await post(f"{root}/api/submissions/{too.id}/{verb}", bearer(TOKEN))
        assert status == 403
        assert "admin.token_file" in body["error"]
        assert f"autotoo jobs {verb} ID" in body["error"]
    async with aiohttp.ClientSession() as session, session.get(f"{root}/api/status") as reply:
        status_json = await reply.json()
    assert status_json["approvals_enabled"] is False
    assert [s["id"] for s in status_json["needs_approval"]] == [too.id]
    await p.run(3)
    assert await p.state_of(too.key) is S.NEEDS_APPROVAL
    assert too_posts(emulator) == 0


async def test_a_missing_or_wrong_token_is_refused(
    make_emulator: Any, make_pipeline: MakePipeline, serve: Serve
) -> None:
    p, emulator, too, _ = await asked(make_emulator, make_pipeline)
    root = await serve(p, TOKEN)
    url = f"{root}/api/submissions/{too.id}/approve"
    for headers in (
        None,
        bearer("wrong"),
        bearer(TOKEN + "x"),
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
    ):
        status, body = await post(url, headers, by="mallory")
        assert status == 401, headers
        assert body == {"error": "missing or wrong admin token"}
    await p.run(3)
    assert await p.state_of(too.key) is S.NEEDS_APPROVAL
    assert too_posts(emulator) == 0


async def test_the_right_token_approves_and_one_too_is_sent(
    make_emulator: Any, make_pipeline: MakePipeline, serve: Serve
) -> None:
    p, emulator, too, _ = await asked(make_emulator, make_pipeline)
    root = await serve(p, TOKEN)
    status, body = await post(f"{root}/api/submissions/{too.id}/approve", bearer(TOKEN), by="carol")
    assert status == 200, body
    assert body["outcome"] == "approved"
    assert body["state"] == "planned"
    p.clock.now = max(p.clock.now, datetime.now(UTC))
    await p.run(5)
    row = await p.repo.submission(too.id)
    assert row is not None
    assert row.approved_by == "carol (dashboard)"
    assert row.remote_id is not None  # sent: submitted, tracked, maybe observed already
    assert too_posts(emulator) == 1
    # a second click (another tab) finds nothing to approve
    status, body = await post(f"{root}/api/submissions/{too.id}/approve", bearer(TOKEN))
    assert status == 409
    assert "not waiting for approval" in body["error"]
    status, body = await post(f"{root}/api/submissions/999/approve", bearer(TOKEN))
    assert status == 404
    await p.run(3)
    assert too_posts(emulator) == 1


async def test_the_right_token_denies(
    make_emulator: Any, make_pipeline: MakePipeline, serve: Serve
) -> None:
    p, emulator, too, xrt = await asked(make_emulator, make_pipeline)
    root = await serve(p, TOKEN)
    status, body = await post(f"{root}/api/submissions/{too.id}/deny", bearer(TOKEN), by="dan")
    assert status == 200, body
    assert body["outcome"] == "denied"
    assert body["reason"].startswith("denied by dan (dashboard) at ")
    await p.run(3)
    assert await p.state_of(too.key) is S.CANCELLED
    assert await p.state_of(xrt.key) is S.CANCELLED
    assert too_posts(emulator) == 0
