"""A local HTTP server of sky maps in the format Fermi GBM publishes, for the fetcher's tests
and the processor's (a real aiohttp server; each test starts its own with ``aiohttp_server``)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from tests.alerts.skymap_files import flat_map_bytes, gaussian_probabilities

MAP = flat_map_bytes(gaussian_probabilities(6, 29.24, -63.62, 3.0, ring=True))

Server = Callable[[web.Application], Awaitable[Any]]


class MapServer:
    """/map.fit: the map; /slow.fit: answers after 5 s; /chunked.fit: the map without a
    Content-Length; /junk.fit: not a map; anything else: 404. Counts requests."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.app = web.Application()
        self.app.router.add_get("/{name}", self.handle)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        self.requests.append(name)
        if name == "map.fit":
            return web.Response(body=MAP, content_type="application/fits")
        if name == "slow.fit":
            await asyncio.sleep(5)
            return web.Response(body=MAP)
        if name == "chunked.fit":  # no Content-Length: the limit is checked while reading
            response = web.StreamResponse()
            response.enable_chunked_encoding()
            await response.prepare(request)
            for start in range(0, len(MAP), 8192):
                await response.write(MAP[start : start + 8192])
            await response.write_eof()
            return response
        if name == "junk.fit":
            return web.Response(body=b"<html>not a map</html>")
        return web.Response(status=404, text="no such map")
