"""Status notices reach a real webhook server; a failing channel keeps its notices."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
from pydantic import SecretStr

from autotoo.adapters.publish import WebhookPublisher
from autotoo.pipeline.publisher import Publisher
from autotoo.store.db import Database
from autotoo.store.repository import Repository
from autotoo.store.rows import Notice, utcnow


async def test_webhook_receives_notices_in_order_and_failures_are_retried(tmp_path) -> None:
    received: list[dict[str, object]] = []
    failing = {"on": True}

    async def hook(request: web.Request) -> web.Response:
        if failing["on"]:
            return web.Response(status=503)
        received.append(await request.json())
        return web.Response(text="ok")

    now = [await _now()]
    path = "/hooks/T000/B000/secret"
    async with _webhook(tmp_path, hook, 3, path=path, clock=lambda: now[0]) as (_, repo, publisher):
        assert await publisher.step() == 0  # 503: kept, backing off
        assert len(await repo.due_notices(now[0] + timedelta(days=1))) == 3
        failing["on"] = False
        now[0] += timedelta(minutes=10)
        assert await publisher.step() == 3
        assert [r["text"] for r in received] == ["0", "1", "2"]
        assert await repo.due_notices(now[0] + timedelta(days=1)) == []
    assert "secret" not in json.dumps(received)


async def _now():
    return utcnow()


@contextlib.asynccontextmanager
async def _webhook(
    tmp_path: Path, handler: Any, texts: int, *, path: str = "/hook", clock: Any = None
) -> AsyncIterator[tuple[Database, Repository, Publisher]]:
    """A real webhook server with ``handler`` at ``path``, a store holding ``texts``
    notices for it ({"text": "0"}, ...), and the publisher between them."""
    app = web.Application()
    app.router.add_post(path, handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    db = await Database.open(tmp_path / "state.db")
    repo = Repository(db)
    try:
        async with aiohttp.ClientSession() as session:
            url = SecretStr(f"http://127.0.0.1:{server.port}{path}")
            publisher = Publisher(
                repo, {"webhook": WebhookPublisher(session, url)}, clock=clock or utcnow
            )
            await repo.enqueue(
                [Notice("webhook", "webhook", {"text": f"{i}"}) for i in range(texts)]
            )
            yield db, repo, publisher
    finally:
        await db.close()
        await server.close()


async def test_a_rounds_accepted_notices_are_deleted_together(tmp_path) -> None:
    """One transaction per 64 accepted notices, not one each: a TOO's eight notices must not
    take the write lock eight times in the way of the alerts' commits."""
    received: list[str] = []

    async def hook(request: web.Request) -> web.Response:
        received.append((await request.json())["text"])
        return web.Response(text="ok")

    async with _webhook(tmp_path, hook, 100) as (db, repo, publisher):
        before = db.commits
        assert await publisher.step() == 100  # a round's worth
        assert db.commits - before == 2  # after 64, and the rest at the end
        assert received == [f"{i}" for i in range(100)]
        assert await repo.due_notices(await _now() + timedelta(days=1)) == []


async def test_notices_accepted_before_a_cancelled_round_are_not_sent_again(tmp_path) -> None:
    """A shutdown cancels the round in the middle of a publish: what was accepted before it
    is deleted all the same, and only the rest waits for the next start."""
    stuck = asyncio.Event()

    async def hook(request: web.Request) -> web.Response:
        if (await request.json())["text"] == "3":
            stuck.set()
            await asyncio.Event().wait()  # never answers
        return web.Response(text="ok")

    async with _webhook(tmp_path, hook, 6) as (_db, repo, publisher):
        round_ = asyncio.create_task(publisher.step())
        await asyncio.wait_for(stuck.wait(), 10)
        round_.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await round_
        left = await repo.due_notices(await _now() + timedelta(days=1))
        assert [json.loads(n.payload)["text"] for n in left] == ["3", "4", "5"]
