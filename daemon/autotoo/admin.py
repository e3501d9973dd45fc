"""The admin HTTP server (loopback by default): health, readiness, alert ingest.

``/healthz`` is liveness: the event loop answers and the supervisor's heartbeat is recent.
``/readyz`` is readiness: config loaded, store writable (the heartbeat writes to it), every
source connected. Both answer JSON; the mode is always stated, so a probe or a person can see
at a glance whether this daemon would submit anything.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any

from aiohttp import web

from autotoo.logs import get_logger
from autotoo.sources.base import SourceHealth

log = get_logger("autotoo.admin")

HEARTBEAT_STALE_S = 60.0


class AdminServer:
    name = "admin"
    intake = True  # it hosts POST /alerts: stopped with the other intakes

    def __init__(
        self,
        host: str,
        port: int,
        *,
        mode: Callable[[], str],
        heartbeat_age: Callable[[], float],
        sources: Callable[[], Sequence[SourceHealth]],
    ) -> None:
        self.host, self.port = host, port
        self.app = web.Application(client_max_size=16 * 1024 * 1024)
        self._mode = mode
        self._heartbeat_age = heartbeat_age
        self._sources = sources
        self.app.router.add_get("/healthz", self.healthz)
        self.app.router.add_get("/readyz", self.readyz)
        self.bound_port: int | None = None

    @property
    def health(self) -> SimpleNamespace:
        """Like a source's health: the supervisor sends READY=1 only once this is connected
        (listening), so a probe or an HTTP client never races the start."""
        return SimpleNamespace(connected=self.bound_port is not None)

    async def run(self) -> None:
        runner = web.AppRunner(self.app, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.port)
            await site.start()
            sockets = getattr(site._server, "sockets", None) or []  # noqa: SLF001 the bound port
            self.bound_port = sockets[0].getsockname()[1] if sockets else self.port
            log.info("admin server listening", host=self.host, port=self.bound_port)
            await asyncio.Event().wait()  # serve until cancelled
        finally:
            await runner.cleanup()

    def _live(self) -> tuple[bool, dict[str, Any]]:
        age = self._heartbeat_age()
        return age < HEARTBEAT_STALE_S, {"heartbeat_age_s": round(age, 1)}

    async def healthz(self, _request: web.Request) -> web.Response:
        ok, body = self._live()
        return web.json_response(
            {"status": "ok" if ok else "stale", "mode": self._mode(), **body},
            status=200 if ok else 503,
        )

    async def readyz(self, _request: web.Request) -> web.Response:
        live, body = self._live()
        sources = [
            {"name": h.name, "kind": h.kind, "connected": h.connected, "last_error": h.last_error}
            for h in self._sources()
        ]
        ready = live and all(s["connected"] for s in sources)
        return web.json_response(
            {
                "status": "ready" if ready else "not ready",
                "mode": self._mode(),
                "config_loaded": True,
                "store_writable": live,
                "sources": sources,
                **body,
            },
            status=200 if ready else 503,
        )
