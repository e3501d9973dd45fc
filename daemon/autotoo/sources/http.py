"""``POST /alerts``: alerts pushed by scripts or a bridge into the daemon's aiohttp server.

The reply is sent after the sink returned, so ``202`` means "durably in the inbox" and any
other status means "not stored, send again". Clients that may resend should give an
``X-Alert-Id`` header (or ``?id=``): the identity is then ``http:id:<id>``, otherwise the
payload digest. The topic comes from ``X-Alert-Topic`` or ``?topic=``.

Replies: 202 stored, 400 no topic / empty body / bad id, 401 bad or missing bearer token,
413 body over ``max_bytes``, 503 the sink failed (nothing stored); 503 with ``Retry-After``
(seconds) while the state store cannot write (disk full): send again then.
"""

from __future__ import annotations

import hmac
import math
from typing import TYPE_CHECKING

import structlog
from aiohttp import web
from pydantic import SecretStr

from autotoo.sources.base import (
    Clock,
    HealthReporter,
    Received,
    describe,
    payload_digest,
    utc_now,
)
from autotoo.sources.settings import HttpSettings
from autotoo.store.errors import StorageUnavailableError

if TYPE_CHECKING:
    from autotoo.sources.base import Sink

log = structlog.get_logger(__name__)

INGEST_PATH = "/alerts"
TOPIC_HEADER = "X-Alert-Topic"
ID_HEADER = "X-Alert-Id"
_MAX_ID_LENGTH = 200
_CHUNK = 64 * 1024


def http_identity(raw: bytes, client_id: str | None) -> str:
    if client_id is not None:
        return f"http:id:{client_id}"
    return f"http:sha256:{payload_digest(raw)}"


class _Rejected(Exception):  # noqa: N818 - a control-flow signal inside this module, not an error
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class HttpIngest(HealthReporter):
    """The request handler and its health; mounted by :func:`setup_ingest_routes`."""

    kind = "http"

    def __init__(self, settings: HttpSettings, sink: Sink, *, clock: Clock = utc_now) -> None:
        super().__init__(settings.name, clock)
        self._settings = settings
        self._sink = sink
        self._expected = settings.token.get_secret_value().encode()
        self._paused = False  # answering 503 because the store cannot write

    def _authorized(self, request: web.Request) -> bool:
        """``Authorization: Bearer <token>``; the scheme in any case and followed by one or
        more spaces, as RFC 7235 (2.1) and RFC 6750 (2.1) allow (``bearer`` is common)."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return False
        # Constant time in the token's content; only the length can leak.
        return hmac.compare_digest(token.lstrip(" ").encode(), self._expected)

    async def _read_body(self, request: web.Request) -> bytes | None:
        """The body, or ``None`` once it exceeds the limit (read no further than that)."""
        limit = self._settings.max_bytes
        if request.content_length is not None and request.content_length > limit:
            return None
        body = bytearray()
        # request.read() would apply the app's client_max_size (1 MiB by default), which is
        # below a real LVK notice; stream instead and stop at our own limit.
        async for chunk in request.content.iter_chunked(_CHUNK):
            body += chunk
            if len(body) > limit:
                return None
        return bytes(body)

    async def _accept(self, request: web.Request) -> Received:
        """Validate in the order that reads the least from a bad client; raises _Rejected."""
        if not self._authorized(request):
            raise _Rejected(401, "missing or wrong bearer token")
        topic = (
            request.headers.get(TOPIC_HEADER)
            or request.query.get("topic")
            or self._settings.default_topic
        )
        if not topic:
            raise _Rejected(400, f"give the topic in the {TOPIC_HEADER} header or ?topic=")
        client_id = request.headers.get(ID_HEADER) or request.query.get("id")
        if client_id is not None and not (
            len(client_id) <= _MAX_ID_LENGTH and client_id.isprintable()
        ):
            raise _Rejected(400, f"{ID_HEADER} must be printable and at most 200 characters")
        raw = await self._read_body(request)
        if raw is None:
            raise _Rejected(413, f"body larger than {self._settings.max_bytes} bytes")
        if not raw:
            raise _Rejected(400, "empty body")
        return self._received(raw=raw, identity=http_identity(raw, client_id), topic=topic)

    async def handle(self, request: web.Request) -> web.Response:
        try:
            received = await self._accept(request)
        except _Rejected as rejected:
            headers = {"WWW-Authenticate": "Bearer"} if rejected.status == 401 else None
            return web.json_response(
                {"error": rejected.message}, status=rejected.status, headers=headers
            )
        try:
            await self._sink(received)
        except StorageUnavailableError as exc:
            if not self._paused:  # once per episode, not once per refused request
                self._paused = True
                self._health.mark_error(f"intake paused: {exc.reason}")
                log.warning("http.paused", source=self.name, reason=exc.reason)
            return web.json_response(
                {"error": f"not stored, send again later: {exc.reason}"},
                status=503,
                headers={"Retry-After": str(max(1, math.ceil(exc.retry_after)))},
            )
        except Exception as exc:
            self._health.mark_error(describe(exc))
            log.exception("http.sink_failed", source=self.name, identity=received.identity)
            return web.json_response({"error": "not stored; send again"}, status=503)
        if self._paused:
            self._paused = False
            log.info("http.resumed", source=self.name)
        await received.ack()
        return web.json_response({"status": "stored", "identity": received.identity}, status=202)


def setup_ingest_routes(
    app: web.Application,
    sink: Sink,
    token: SecretStr | HttpSettings,
    *,
    clock: Clock = utc_now,
) -> HttpIngest:
    """Add ``POST /alerts`` to ``app``; returns the ingest object for its health."""
    settings = token if isinstance(token, HttpSettings) else HttpSettings(token=token)
    ingest = HttpIngest(settings, sink, clock=clock)
    ingest.health.mark_alive()  # it is "connected" as long as the server that mounts it runs
    app.router.add_post(INGEST_PATH, ingest.handle)
    return ingest
