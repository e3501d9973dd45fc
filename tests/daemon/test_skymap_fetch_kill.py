"""The real daemon killed (SIGKILL) while it fetches a GBM notice's sky map: after the restart
the notice, never committed, is evaluated again, its map fetched again, and the rule that
depends on the map asks Swift (the emulator) for its one TOO."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from tests.fixtures.daemon import DaemonHarness, publish
from tests.pipeline.test_skymap_urls import MAP, RULES, gbm_notice

TOPIC = "gcn/notices/fermi/gbm/final_position"


class HangingOnce:
    """/map.fit: the first request never gets an answer (the daemon is killed meanwhile);
    later ones get the map."""

    def __init__(self) -> None:
        self.requests = 0
        self.first = asyncio.Event()
        self.app = web.Application()
        self.app.router.add_get("/map.fit", self.handle)

    async def handle(self, _request: web.Request) -> web.StreamResponse:
        self.requests += 1
        if self.requests == 1:
            self.first.set()
            await asyncio.Event().wait()  # until the connection goes with the daemon
        return web.Response(body=MAP, content_type="application/fits")


async def test_a_kill_during_the_fetch_fetches_again_after_the_restart(
    make_emulator: Any, mosquitto_factory: Any, daemon_factory: Any, aiohttp_server: Any
) -> None:
    server = HangingOnce()
    running = await aiohttp_server(server.app)
    emulator = await make_emulator()
    broker = mosquitto_factory()
    daemon: DaemonHarness = daemon_factory(broker_port=broker.port, emulator_root=emulator.root)
    daemon.configure(RULES)
    await daemon.start()
    await publish(broker.port, TOPIC, gbm_notice(str(running.make_url("/map.fit"))))
    async with asyncio.timeout(30):
        await server.first.wait()
    await daemon.kill()
    assert emulator.swift.toos == {}
    cache = daemon.workdir / "skymaps"  # beside the state file, by default
    assert not list(cache.glob("*.npz"))

    await daemon.start()
    async with asyncio.timeout(60):
        while not emulator.swift.toos:  # noqa: ASYNC110 the emulator fills it in this loop
            await asyncio.sleep(0.1)
    assert server.requests == 2
    assert len(list(cache.glob("*.npz"))) == 1
    assert len(emulator.swift.toos) == 1
    assert await daemon.stop() == 0
