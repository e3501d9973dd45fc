"""POST /alerts on a real aiohttp server on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pydantic import SecretStr

from autotoo.sources.base import payload_digest
from autotoo.sources.http import HttpIngest, setup_ingest_routes
from autotoo.sources.settings import HttpSettings
from tests.sources.helpers import Collector

TOKEN = "ingest-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

Ingest = tuple["TestClient[web.Request, web.Application]", Collector, HttpIngest]
ClientFactory = Callable[[web.Application], Awaitable[TestClient[web.Request, web.Application]]]


@pytest.fixture
async def ingest(
    aiohttp_client: ClientFactory,
) -> Ingest:
    sink = Collector(fail_on=b"make the sink fail")
    app = web.Application()
    handler = setup_ingest_routes(
        app, sink, HttpSettings(token=SecretStr(TOKEN), max_bytes=3 * 1024 * 1024)
    )
    return await aiohttp_client(app), sink, handler


async def test_stores_then_replies_202_with_identity(ingest: Ingest) -> None:
    client, sink, handler = ingest
    payload = b'{"$schema": "https://gcn.nasa.gov/schema/v4.0.0/gcn/notices/swift/bat/guano"}'
    response = await client.post(
        "/alerts", data=payload, headers={**AUTH, "X-Alert-Topic": "gcn.notices.swift.bat.guano"}
    )
    assert response.status == 202
    body = await response.json()
    assert body == {"status": "stored", "identity": f"http:sha256:{payload_digest(payload)}"}
    [received] = sink.items
    assert received.raw == payload
    assert received.topic == "gcn.notices.swift.bat.guano"
    assert received.source == "http"
    assert received.acked
    assert handler.health.status().messages == 1


async def test_query_topic_and_client_id(ingest: Ingest) -> None:
    client, sink, _ = ingest
    response = await client.post(
        "/alerts", params={"topic": "igwn.gwalert", "id": "S230518h-1"}, data=b"{}", headers=AUTH
    )
    assert response.status == 202
    assert sink.items[0].identity == "http:id:S230518h-1"
    assert sink.items[0].topic == "igwn.gwalert"


async def test_larger_than_aiohttp_default_limit_is_accepted(ingest: Ingest) -> None:
    client, sink, _ = ingest
    big = b"x" * (2 * 1024 * 1024)  # aiohttp's client_max_size default is 1 MiB
    response = await client.post("/alerts?topic=igwn.gwalert", data=big, headers=AUTH)
    assert response.status == 202
    assert sink.items[0].raw == big


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "BeArEr", "Bearer "])
async def test_the_bearer_scheme_is_case_insensitive(ingest: Ingest, scheme: str) -> None:
    """RFC 7235 2.1: the auth-scheme is case-insensitive (and 1*SP precedes the token)."""
    client, sink, _ = ingest
    auth = {"Authorization": f"{scheme} {TOKEN}"}
    response = await client.post("/alerts?topic=t", data=b"{}", headers=auth)
    assert response.status == 202
    assert len(sink.items) == 1


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": TOKEN},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": f"Bearer{TOKEN}"},
        {"Authorization": f"Bearer {TOKEN}x"},
    ],
)
async def test_401_without_the_right_bearer_token(ingest: Ingest, headers: dict[str, str]) -> None:
    client, sink, _ = ingest
    response = await client.post("/alerts?topic=t", data=b"{}", headers=headers)
    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert TOKEN not in await response.text()
    assert sink.entered == []


@pytest.mark.parametrize(
    ("path", "data", "headers", "message"),
    [
        ("/alerts", b"{}", {}, "topic"),
        ("/alerts?topic=t", b"", {}, "empty body"),
        ("/alerts?topic=t", b"{}", {"X-Alert-Id": "x" * 201}, "X-Alert-Id"),
        ("/alerts?topic=t", b"{}", {"X-Alert-Id": "tab\there"}, "X-Alert-Id"),
    ],
)
async def test_400_for_incomplete_requests(
    ingest: Ingest, path: str, data: bytes, headers: dict[str, str], message: str
) -> None:
    client, sink, _ = ingest
    response = await client.post(path, data=data, headers={**AUTH, **headers})
    assert response.status == 400
    assert message in (await response.json())["error"]
    assert sink.entered == []


async def test_413_by_declared_length_and_by_streamed_length(ingest: Ingest) -> None:
    client, sink, _ = ingest
    too_big = b"y" * (3 * 1024 * 1024 + 1)
    response = await client.post("/alerts?topic=t", data=too_big, headers=AUTH)
    assert response.status == 413

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: chunked encoding
        for _ in range(4):
            yield b"z" * (1024 * 1024)

    response = await client.post("/alerts?topic=t", data=chunks(), headers=AUTH)
    assert response.status == 413
    assert sink.entered == []


async def test_503_when_the_sink_fails(ingest: Ingest) -> None:
    client, sink, handler = ingest
    response = await client.post("/alerts?topic=t", data=b"make the sink fail", headers=AUTH)
    assert response.status == 503
    assert sink.items == []
    assert "inbox is full" in (handler.health.last_error or "")


async def test_plain_token_argument(aiohttp_client: ClientFactory) -> None:
    sink = Collector()
    app = web.Application()
    setup_ingest_routes(app, sink, SecretStr(TOKEN))
    client = await aiohttp_client(app)
    response = await client.post("/alerts?topic=t", data=b"{}", headers=AUTH)
    assert response.status == 202
