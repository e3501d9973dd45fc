"""Status notices reach a real webhook server; a failing channel keeps its notices."""

from __future__ import annotations

import json
from datetime import timedelta

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
from pydantic import SecretStr

from autotoo.adapters.publish import WebhookPublisher
from autotoo.pipeline.publisher import Publisher
from autotoo.store.db import Database
from autotoo.store.repository import Repository
from autotoo.store.rows import Notice


async def test_webhook_receives_notices_in_order_and_failures_are_retried(tmp_path) -> None:
    received: list[dict[str, object]] = []
    failing = {"on": True}

    async def hook(request: web.Request) -> web.Response:
        if failing["on"]:
            return web.Response(status=503)
        received.append(await request.json())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hooks/T000/B000/secret", hook)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    db = await Database.open(tmp_path / "state.db")
    repo = Repository(db)
    async with aiohttp.ClientSession() as session:
        url = SecretStr(f"http://127.0.0.1:{server.port}/hooks/T000/B000/secret")
        now = [await _now()]
        publisher = Publisher(
            repo, {"webhook": WebhookPublisher(session, url)}, clock=lambda: now[0]
        )
        await repo.enqueue(
            [Notice("webhook", "webhook", {"text": f"step {i}", "state": str(i)}) for i in range(3)]
        )
        assert await publisher.step() == 0  # 503: kept, backing off
        assert len(await repo.due_notices(now[0] + timedelta(days=1))) == 3
        failing["on"] = False
        now[0] += timedelta(minutes=10)
        assert await publisher.step() == 3
        assert [r["text"] for r in received] == ["step 0", "step 1", "step 2"]
        assert await repo.due_notices(now[0] + timedelta(days=1)) == []
    await db.close()
    await server.close()
    assert "secret" not in json.dumps(received)


async def _now():
    from autotoo.store.rows import utcnow  # noqa: PLC0415

    return utcnow()
