"""The admin HTTP server (loopback by default): health, readiness, metrics, the dashboard,
and alert ingest (``POST /alerts``, mounted by the wiring when an http source is configured).

``/healthz`` is liveness, the same check that gates systemd's WATCHDOG=1: the event loop
answers, the supervisor's heartbeat reached the store recently, and no component's task has
stopped. ``/readyz`` is readiness: config loaded, store writable (the heartbeat writes to it),
heartbeat recent, every source connected; while the store cannot write (disk full) it is not
ready (intake refuses then) and ``storage`` says why, but the daemon is alive (``/healthz``
200: it waits for space by itself, and a restart would not make any). Both answer JSON; the
mode is always stated, so a probe or a person can see at a glance whether this daemon would
submit anything.
``/metrics`` is Prometheus text; ``/`` the dashboard and ``/api/status`` its JSON.

Reading needs no authentication: the server listens on loopback unless configured otherwise.
What changes something needs a bearer token: ``POST /alerts`` its source's, and the
dashboard's two decisions on a request waiting for approval (a rule's ``approve: human``),
``POST /api/submissions/{id}/approve`` and ``.../deny``, the token of ``admin.token_file``.
Without that file configured they are refused (403, with what to do instead): a person who
can reach the page is not thereby someone who may send a TOO. A bearer token in a header,
not a cookie, is never sent by the browser on its own, so another site cannot forge a click.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from autotoo import dashboard
from autotoo.dashboard import transients as dashboard_transients
from autotoo.logs import get_logger
from autotoo.metrics import Metrics
from autotoo.pipeline import approval
from autotoo.sources.base import SourceHealth
from autotoo.store.errors import ConflictError
from autotoo.supervisor import StartupError

if TYPE_CHECKING:
    from pydantic import SecretStr

    from autotoo.pipeline.settings import PipelineSettings
    from autotoo.store.repository import Repository
    from autotoo.supervisor import Runtime

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
        problems: Callable[[], Sequence[str]] = tuple,
        stored_age: Callable[[], float] | None = None,
        storage: Callable[[], str | None] = lambda: None,
        metrics: Metrics | None = None,
        repo: Repository | None = None,
        token: Callable[[], SecretStr | None] = lambda: None,
        settings: Callable[[], PipelineSettings] | None = None,
        on_approved: Callable[[], None] = lambda: None,
        instance: str | None = None,
        lease: Callable[[], timedelta] = lambda: timedelta(seconds=30),
    ) -> None:
        self.host, self.port = host, port
        self.app = web.Application(client_max_size=16 * 1024 * 1024)
        self._mode = mode
        self._heartbeat_age = heartbeat_age
        self._sources = sources
        self._problems = problems
        self._stored_age = stored_age or heartbeat_age
        self._storage = storage
        self._metrics = metrics
        self._repo = repo
        self._token = token  # read at each request: a SIGHUP may have set or changed it
        self._settings = settings
        self._on_approved = on_approved  # wakes the submitter: an approved row is due now
        self._instance = instance  # this daemon's id in the store's instances
        self._lease = lease  # store.lease: an instance is live while it beats within it
        self.app.router.add_get("/healthz", self.healthz)
        self.app.router.add_get("/readyz", self.readyz)
        if metrics is not None:
            self.app.router.add_get("/metrics", self.metrics)
        if repo is not None:
            self.app.router.add_get("/", self.dashboard)
            self.app.router.add_get("/dashboard", self.dashboard)
            self.app.router.add_get("/api/status", self.status)
            self.app.router.add_post("/api/submissions/{id}/approve", self.approve)
            self.app.router.add_post("/api/submissions/{id}/deny", self.deny)
            self.app.router.add_get("/api/transients", self.transients)
            self.app.router.add_get("/api/transients/{ident}", self.transient)
        self.bound_port: int | None = None
        self.listening = asyncio.Event()  # the supervisor sends READY=1 only once this is set

    async def run(self) -> None:
        runner = web.AppRunner(self.app, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.port)
            try:
                await site.start()
            except OSError as exc:  # taken port, unknown address: nothing to retry
                reason = os.strerror(exc.errno) if exc.errno else str(exc)
                raise StartupError(
                    f"cannot listen on {self.host}:{self.port} (admin.listen): {reason}"
                ) from exc
            sockets = getattr(site._server, "sockets", None) or []  # noqa: SLF001 the bound port
            self.bound_port = sockets[0].getsockname()[1] if sockets else self.port
            log.info("admin server listening", host=self.host, port=self.bound_port)
            self.listening.set()
            await asyncio.Event().wait()  # serve until cancelled
        finally:
            await runner.cleanup()

    def _live(self) -> tuple[bool, dict[str, Any]]:
        age = self._heartbeat_age()
        problems = list(self._problems())
        if age >= HEARTBEAT_STALE_S:
            problems.append(f"no heartbeat for {age:.0f} s")
        return not problems, {"heartbeat_age_s": round(age, 1), "problems": problems}

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
        # "store writable": the heartbeat is a store write, so a recent one proves it; a
        # write the disk refused says so at once, with the reason.
        storage = self._storage()
        writable = storage is None and self._stored_age() < HEARTBEAT_STALE_S
        ready = live and writable and all(s["connected"] for s in sources)
        return web.json_response(
            {
                "status": "ready" if ready else "not ready",
                "mode": self._mode(),
                "config_loaded": True,
                "store_writable": writable,
                "storage": "ok" if storage is None else f"intake paused: {storage}",
                "sources": sources,
                **body,
            },
            status=200 if ready else 503,
        )

    async def metrics(self, _request: web.Request) -> web.Response:
        assert self._metrics is not None
        body = await self._metrics.render()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _status(self) -> dict[str, Any]:
        assert self._repo is not None
        return await dashboard.status(
            self._repo,
            mode=self._mode(),
            problems=self._live()[1]["problems"],
            sources=self._sources(),
            approvals=self._token() is not None,
            instance=self._instance,
            lease=self._lease(),
        )

    def _refused(self, request: web.Request) -> web.Response | None:
        """Why a decision may not be taken (None: the right bearer token came with it)."""
        expected = self._token()
        if expected is None:
            return web.json_response(
                {
                    "error": "approving and denying from the dashboard is off: no admin "
                    'token is configured (admin.token_file, docs/operations.md "Human '
                    "approval\"); use 'autotoo jobs approve ID' or 'autotoo jobs deny ID'"
                },
                status=403,
            )
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        wanted = expected.get_secret_value().encode()
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), wanted):
            return web.json_response(
                {"error": "missing or wrong admin token"},
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="autotoo"'},
            )
        return None

    async def approve(self, request: web.Request) -> web.Response:
        return await self._decide(request, approve=True)

    async def deny(self, request: web.Request) -> web.Response:
        return await self._decide(request, approve=False)

    async def _decide(self, request: web.Request, *, approve: bool) -> web.Response:
        """A person's decision from the dashboard: the same path as ``autotoo jobs approve``
        (pipeline/approval.py), recorded as ``<name> (dashboard)``."""
        assert self._repo is not None
        if (refused := self._refused(request)) is not None:
            return refused
        try:
            body = await request.json() if request.can_read_body else {}
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return web.json_response({"error": "expected a JSON object"}, status=400)
        name = " ".join(str(body.get("by") or "").split())
        ident = request.match_info["id"]
        row = await self._repo.submission(int(ident)) if ident.isdigit() else None
        if row is None:
            return web.json_response({"error": f"no submission {ident}"}, status=404)
        try:
            done = await approval.decide(
                self._repo,
                row,
                approve=approve,
                by=f"{name} (dashboard)" if name else "someone with the admin token (dashboard)",
                now=datetime.now(UTC),
                settings=self._settings() if self._settings is not None else None,
                note=str(body.get("note") or "") or None,
            )
        except approval.NotWaitingError as exc:
            return web.json_response({"error": str(exc)}, status=409)
        except ConflictError:
            return web.json_response(
                {"error": f"submission {row.id} changed meanwhile; look again"}, status=409
            )
        log.info(done.outcome, submission=row.id, by=done.row.approved_by or name or None)
        if done.outcome == "approved":
            self._on_approved()
        status = 409 if done.outcome == "lapsed" else 200
        reply = {"outcome": done.outcome, "id": done.row.id, "state": done.row.state.value}
        return web.json_response(reply | {"reason": done.row.reason}, status=status)

    async def status(self, _request: web.Request) -> web.Response:
        return web.json_response(await self._status(), dumps=_dumps)

    async def transients(self, _request: web.Request) -> web.Response:
        """The recent transients (the dashboard's transient section)."""
        assert self._repo is not None
        return web.json_response(await dashboard_transients.recent(self._repo), dumps=_dumps)

    async def transient(self, request: web.Request) -> web.Response:
        """One transient's timeline, by key (``T:fermi:800400263``) or number."""
        assert self._repo is not None
        ident = request.match_info["ident"]
        found = await dashboard_transients.timeline(self._repo, ident)
        if found is None:
            return web.json_response({"error": f"no transient {ident!r}"}, status=404)
        return web.json_response(found, dumps=_dumps)

    async def dashboard(self, _request: web.Request) -> web.Response:
        return web.Response(
            text=dashboard.page(await self._status()),
            content_type="text/html",
            headers={"Cache-Control": "no-store"},
        )


def _dumps(value: Any) -> str:
    return json.dumps(value, default=str)


def build_admin(
    runtime: Runtime,
    *,
    sources: Sequence[Any],
    inbox: Any,
    processor: Any,
    problems: Callable[[], Sequence[str]],
    settings: Callable[[], PipelineSettings] | None = None,
    on_approved: Callable[[], None] = lambda: None,
) -> AdminServer:
    """The admin server of a running daemon, with metrics fed by its components."""
    host, _, port = runtime.loaded.config.admin.listen.rpartition(":")
    loop = asyncio.get_running_loop()

    def health() -> list[SourceHealth]:
        return [s.health for s in sources]

    return AdminServer(
        host.strip("[]"),
        int(port),
        mode=lambda: runtime.loaded.config.mode.value,
        heartbeat_age=lambda: loop.time() - runtime.heartbeat_at,
        stored_age=lambda: loop.time() - runtime.stored_at,
        storage=lambda: runtime.db.storage.problem,
        sources=health,
        problems=problems,
        metrics=Metrics(
            runtime.repo,
            inbox=inbox,
            processor=processor,
            sources=health,
            lease=lambda: runtime.loaded.config.store.lease,
        ),
        repo=runtime.repo,
        token=lambda: runtime.loaded.secret("admin.token_file"),
        settings=settings,
        on_approved=on_approved,
        instance=runtime.instance,
        lease=lambda: runtime.loaded.config.store.lease,
    )
