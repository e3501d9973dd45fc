"""The client's error taxonomy against real misbehaving servers on loopback.

Each fault server is a small aiohttp app (a real server, not a mock of our client), so the
classification is exercised on real sockets: refused connections, slow replies, 5xx pages,
non-JSON and wrongly shaped JSON.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from autotoo.ukssdc.client import UkssdcClient
from autotoo.xrtrequest.errors import (
    AmbiguousError,
    BadReplyError,
    NotSentError,
    RejectedError,
    TransportError,
    UkssdcError,
)
from autotoo.xrtrequest.request import XrtRequest

USER = "astronomer@example.org"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def ready_request() -> XrtRequest:
    req = XrtRequest(USER)
    req.set_globals(name="x", targ="1", RA=1.0, Dec=1.0, centroid=False, useSXPS=False)
    req.add_product("Image")
    return req


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    servers: list[TestServer] = []

    async def start(handler: Handler) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return str(server.make_url("/user_objects"))

    yield start
    for server in servers:
        await server.close()


def json_reply(body: dict[str, Any], status: int = 200) -> Handler:
    async def handler(_request: web.Request) -> web.Response:
        return web.Response(text=json.dumps(body), status=status, content_type="text/html")

    return handler


async def test_refused_connection_is_not_sent(session: aiohttp.ClientSession) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = UkssdcClient(session, USER, base_url=f"http://127.0.0.1:{port}/user_objects")
    with pytest.raises(NotSentError):
        await client.submit(ready_request())
    with pytest.raises(NotSentError):
        await client.status(1, ["image"])


async def test_timeout_after_sending_is_ambiguous_only_for_submit(
    session: aiohttp.ClientSession, serve: Callable[[Handler], Awaitable[str]]
) -> None:
    async def slow(_request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response(text="{}")

    client = UkssdcClient(session, USER, base_url=await serve(slow), timeout=0.2)
    with pytest.raises(AmbiguousError, match="timed out after the request was sent"):
        await client.submit(ready_request())
    with pytest.raises(TransportError) as exc:
        await client.status(1, ["image"])
    assert not isinstance(exc.value, AmbiguousError)


@pytest.mark.parametrize(
    ("status", "submit_error"),
    [(500, AmbiguousError), (503, AmbiguousError), (404, NotSentError)],
)
async def test_http_errors(
    session: aiohttp.ClientSession,
    serve: Callable[[Handler], Awaitable[str]],
    status: int,
    submit_error: type[UkssdcError],
) -> None:
    async def page(_request: web.Request) -> web.Response:
        return web.Response(status=status, text="<html>oops</html>", content_type="text/html")

    client = UkssdcClient(session, USER, base_url=await serve(page))
    with pytest.raises(submit_error, match=f"An HTTP error occured - HTTP return code {status}"):
        await client.submit(ready_request())
    with pytest.raises(TransportError) as exc:
        await client.status(1, ["image"])
    assert not isinstance(exc.value, AmbiguousError)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"OK": 1}, "do you need do update this module"),  # no APIVersion
        ({"APIVersion": "1.12"}, "do you need do update this module"),  # no OK
        ({"OK": 0, "APIVersion": "1.12"}, "do you need do update this module"),  # OK 0, no ERROR
        ({"OK": 1, "APIVersion": "1.12", "URL": "u", "jobPars": {}}, "missing JobID"),
    ],
)
async def test_bad_replies(
    session: aiohttp.ClientSession,
    serve: Callable[[Handler], Awaitable[str]],
    body: dict[str, Any],
    message: str,
) -> None:
    client = UkssdcClient(session, USER, base_url=await serve(json_reply(body)))
    with pytest.raises(BadReplyError, match=message):
        await client.submit(ready_request())


async def test_not_json(
    session: aiohttp.ClientSession, serve: Callable[[Handler], Awaitable[str]]
) -> None:
    async def html(_request: web.Request) -> web.Response:
        return web.Response(text="<html>maintenance</html>", content_type="text/html")

    client = UkssdcClient(session, USER, base_url=await serve(html))
    with pytest.raises(BadReplyError, match="not JSON"):
        await client.count_active_jobs()


async def test_wire_details(
    session: aiohttp.ClientSession, serve: Callable[[Handler], Awaitable[str]]
) -> None:
    seen: list[tuple[str, str, dict[str, Any]]] = []

    async def record(request: web.Request) -> web.Response:
        body = json.loads(await request.text())
        seen.append((request.method, request.path, body))
        reply = {"OK": 1, "APIVersion": 1.12, "URL": "http://x/USERPROD_7", "JobID": 7,
                 "jobPars": {}}  # fmt: skip
        return web.Response(text=json.dumps(reply), content_type="text/html")

    client = UkssdcClient(session, USER, base_url=await serve(record))
    result = await client.submit(ready_request())
    assert result.job_id == 7  # an int JobID is fine too
    method, path, body = seen[0]
    assert (method, path) == ("POST", "/user_objects/run_userobject.php")
    assert body["UserID"] == USER
    assert body["api_name"] == "xrt_prods"
    assert body["api_version"] == "1.12"
    assert body["image"] == 1
    assert USER not in repr(client)


async def test_rejection_carries_the_list(
    session: aiohttp.ClientSession, serve: Callable[[Handler], Awaitable[str]]
) -> None:
    body = {"OK": 0, "APIVersion": "1.12", "ERROR": "There were problems.",
            "listErr": [{"label": "Needed:", "list": ["cent"]}]}  # fmt: skip
    client = UkssdcClient(session, USER, base_url=await serve(json_reply(body)))
    with pytest.raises(RejectedError) as exc:
        await client.status(1, ["image"])
    assert exc.value.error == "There were problems."
    assert exc.value.list_err[0].items == ("cent",)
    assert exc.value.text == "There were problems. \nNeeded: \n* centroid\n "


async def test_failed_download_leaves_nothing(
    session: aiohttp.ClientSession, serve: Callable[[Handler], Awaitable[str]], tmp_path: Path
) -> None:
    async def missing(_request: web.Request) -> web.Response:
        return web.Response(status=404, text="<html>no</html>", content_type="text/html")

    base = await serve(missing)
    client = UkssdcClient(session, USER, base_url=base)
    with pytest.raises(TransportError, match="HTTP return code 404"):
        await client.download(f"{base}/tprods/USERPROD_1", "lc", tmp_path)
    assert not any(tmp_path.iterdir())  # noqa: ASYNC240 - a tiny local listing in a test
