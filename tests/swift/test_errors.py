"""Each way a reply can go wrong maps to the error class that says what may be done next.

A small misbehaving service (a real aiohttp server) plays the failures; the lost-reply case
forwards to the emulator and drops the connection afterwards, so a TOO really exists and
``find_submission`` must find it before anything is resent.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any, TypeVar

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from autotoo.swift import (
    SwiftAmbiguousError,
    SwiftBadReplyError,
    SwiftNotSentError,
    SwiftRejectedError,
    SwiftV1Client,
    SwiftV2Client,
)
from tests.fixtures.swift_emulator import Emulator
from tests.swift.conftest import seed_request

CREDS = {"username": "myuser", "shared_secret": "my_shared_secret"}
LOGIN = {"username": "myuser", "password": "my_shared_secret"}
MODE: web.AppKey[list[str]] = web.AppKey("mode", list)
UPSTREAM: web.AppKey[list[str]] = web.AppKey("upstream", list)
E = TypeVar("E", bound=Exception)
LOGINS: web.AppKey[list[int]] = web.AppKey("logins", list)


async def _login(request: web.Request) -> web.Response:
    request.app[LOGINS].append(1)
    resp = web.json_response({"username": "myuser"})
    resp.set_cookie("session", "s1")
    return resp


async def _too(request: web.Request) -> web.StreamResponse:
    mode = request.app[MODE][0]
    body = await request.post()
    if mode == "500":
        return web.Response(status=500, text="Internal Server Error")
    if mode == "502":
        return web.Response(status=502, text="<html>Bad Gateway</html>", content_type="text/html")
    if mode == "nonjson":
        return web.Response(text="<html>maintenance</html>", content_type="text/html")
    if mode == "422":
        detail = [
            {"loc": ["body", "exposure"], "msg": "Field required", "type": "missing"},
            {"loc": ["body", "urgency"], "msg": "Input should be 0, 1, 2, 3 or 4", "type": "enum"},
        ]
        return web.json_response({"detail": detail}, status=422)
    if mode == "400":
        status = {"status": "Rejected", "errors": ["UVOT says no."], "warnings": ["w"]}
        return web.json_response({"status": status}, status=400)
    if mode == "403":
        return web.Response(status=403, text="Forbidden")
    if mode == "rejected-200":
        return web.json_response({"status": "Rejected", "errors": ["Nope."]})
    if mode == "hang":
        await asyncio.sleep(30)
    if mode == "drop":  # the service acts, then the reply is lost
        base = request.app[UPSTREAM][0]
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as upstream:
            async with upstream.post(f"{base}/login", json=LOGIN) as resp:
                assert resp.status == 200
            async with upstream.post(f"{base}/swift/too", data=dict(body)) as resp:
                assert resp.status == 201, await resp.text()
        assert request.transport is not None
        request.transport.abort()
        await asyncio.sleep(1)  # never answered: the connection is gone
    return web.json_response({"status": "Accepted", "too_id": 1, "jobnumber": 2}, status=201)


async def _v1(request: web.Request) -> web.Response:
    mode = request.app[MODE][0]
    if mode == "500":
        return web.Response(status=500, text="oops")
    if mode == "version":
        body = {"api_name": "Swift_TOO_Status", "api_version": "1.3", "api_data": {}}
        return web.json_response(body)
    if mode == "hang":
        await asyncio.sleep(30)
    body = {"api_name": "Swift_TOO_Status", "api_version": "1.2", "api_data": {"status": "Queued"}}
    return web.json_response(body)  # "queued" forever


@pytest.fixture
async def faulty() -> AsyncIterator[tuple[web.Application, str]]:
    app = web.Application()
    app[MODE] = ["500"]
    app[UPSTREAM] = [""]
    app[LOGINS] = []
    app.router.add_post("/api/v2/login", _login)
    app.router.add_post("/api/v2/swift/too", _too)
    app.router.add_post("/toop/submit_json.php", _v1)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield app, f"http://127.0.0.1:{server.port}"
    await server.close()


def v2(url: str, **kw: Any) -> SwiftV2Client:
    return SwiftV2Client(f"{url}/api/v2", **(CREDS | kw))


async def test_5xx_after_sending_is_ambiguous_and_keeps_the_request(faulty: Any) -> None:
    for code in ("500", "502"):
        error = await fails(*faulty, code, SwiftAmbiguousError)
        assert error.request is not None
        assert error.request["target_name"] == "SMC X-3"
        assert "shared_secret" not in str(error.request)


async def fails(app: web.Application, url: str, mode: str, error: type[E]) -> E:
    """Submit the seed TOO through the faulty service in ``mode``; return the error raised."""
    app[MODE][0] = mode
    async with v2(url) as swift:
        with pytest.raises(error) as exc:
            await swift.submit(seed_request(urgency=4))
    return exc.value


async def test_non_json_2xx_is_a_bad_reply(faulty: Any) -> None:
    bad = await fails(*faulty, "nonjson", SwiftBadReplyError)
    assert isinstance(bad, SwiftAmbiguousError)  # never resent blindly
    assert bad.status == 200
    assert "maintenance" in bad.body


async def test_422_detail_and_400_status_are_rejections(faulty: Any) -> None:
    app, url = faulty
    app[MODE][0] = "422"
    async with v2(url) as swift:
        with pytest.raises(SwiftRejectedError) as exc:
            await swift.submit(seed_request(urgency=4))
        assert exc.value.errors == [
            "exposure: Field required",
            "urgency: Input should be 0, 1, 2, 3 or 4",
        ]
        assert exc.value.http_status == 422
        app[MODE][0] = "400"
        with pytest.raises(SwiftRejectedError) as exc:
            await swift.submit(seed_request(urgency=4))
        assert (exc.value.errors, exc.value.warnings) == (["UVOT says no."], ["w"])
        app[MODE][0] = "403"
        with pytest.raises(SwiftRejectedError, match="Client error 403: Forbidden"):
            await swift.submit(seed_request(urgency=4))
        app[MODE][0] = "rejected-200"
        with pytest.raises(SwiftRejectedError, match="Nope"):
            await swift.submit(seed_request(urgency=4))
    assert len(app[LOGINS]) == 1  # one login per client, kept for its requests


async def test_timeout_after_sending_is_ambiguous(faulty: Any) -> None:
    app, url = faulty
    app[MODE][0] = "hang"
    async with v2(url, timeout=aiohttp.ClientTimeout(total=0.5)) as swift:
        with pytest.raises(SwiftAmbiguousError):
            await swift.submit(seed_request(urgency=4))


async def test_connection_refused_is_not_sent() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with SwiftV2Client(f"http://127.0.0.1:{port}/api/v2", **CREDS) as swift:
        with pytest.raises(SwiftNotSentError):
            await swift.submit(seed_request(urgency=4))
    async with SwiftV1Client(f"http://127.0.0.1:{port}/toop/submit_json.php", **CREDS) as swift:
        with pytest.raises(SwiftNotSentError):
            await swift.submit(seed_request(urgency=4))


async def test_v1_failures(faulty: Any) -> None:
    app, url = faulty
    client = SwiftV1Client(
        f"{url}/toop/submit_json.php",
        poll_interval=0.05,
        timeout=aiohttp.ClientTimeout(total=0.5),
        **CREDS,
    )
    async with client as swift:
        with pytest.raises(SwiftAmbiguousError, match="error code 500"):
            await swift.submit(seed_request(urgency=4))
        app[MODE][0] = "version"
        with pytest.raises(SwiftBadReplyError, match="API version mismatch"):
            await swift.submit(seed_request(urgency=4))
        app[MODE][0] = "queued"
        with pytest.raises(SwiftAmbiguousError, match="Queued job timed out"):
            await swift.submit(seed_request(urgency=4))
        with pytest.raises(SwiftNotSentError, match="Queued job timed out"):
            await swift.resolve("Crab")  # a read: safe to repeat


async def test_lost_reply_is_reconciled_from_the_listing(faulty: Any, emulator: Emulator) -> None:
    app, url = faulty
    app[MODE][0] = "drop"
    app[UPSTREAM][0] = emulator.swift_v2_url
    since = emulator.clock.now()
    too = seed_request(urgency=4, marker="rule:ep/EP240101a/too/0")
    async with v2(url) as through_front:
        with pytest.raises(SwiftAmbiguousError):
            await through_front.submit(too)

    async with SwiftV2Client(emulator.swift_v2_url, **CREDS) as direct:
        assert len(emulator.swift.toos) == 1  # it *was* accepted: resending would duplicate
        found = await direct.find_submission(
            "rule:ep/EP240101a/too/0", target_name="SMC X-3", since=since
        )
        assert found is not None
        assert found.too_id in emulator.swift.toos
        assert await direct.find_submission("rule:ep/EP240101a/too/1", since=since) is None
