"""API v2 routes (REST, FastAPI-shaped replies) under ``/api/v2``, with and without a trailing
slash. Sessions: ``POST /login`` sets cookie ``session``; requests without one are anonymous."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from autotoo.emulators.swift.catalog import UVOT_MODES, filters_of, uvot_entries
from autotoo.emulators.swift.forms import TooFormV2, fastapi_detail
from autotoo.emulators.swift.service import Received, SwiftService
from autotoo.emulators.swift.views import calendar_matching, record

PREFIX = "/api/v2"
SERVICE: web.AppKey[SwiftService] = web.AppKey("swift_service", SwiftService)
ACCEPTED = {"status": "Accepted", "errors": [], "warnings": []}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _service(request: web.Request) -> SwiftService:
    return request.app[SERVICE]


def _viewer(request: web.Request) -> str | None:
    """The session's user, ``anonymous`` without a cookie, ``None`` for an unknown session."""
    cookie = request.cookies.get("session")
    service = _service(request)
    viewer = "anonymous" if cookie is None else service.sessions.get(cookie)
    if viewer is not None:
        service.callers.append((viewer, request.path))
    return viewer


def _unauthorized() -> web.Response:
    return web.json_response({"detail": "Not authenticated"}, status=401)


def _rejected(errors: list[str], *, username: str, status: int = 400) -> web.Response:
    body = {
        "status": {"status": "Rejected", "errors": errors, "warnings": [], "username": username}
    }
    return web.json_response(body, status=status)


def _floats(query: Any, *names: str) -> dict[str, float | None]:
    return {n: float(query[n]) if query.get(n) not in (None, "") else None for n in names}


async def login(request: web.Request) -> web.Response:
    try:
        body = json.loads(await request.text())
        username, password = str(body["username"]), str(body["password"])
    except (ValueError, KeyError, TypeError):
        return web.json_response({"detail": "username and password required"}, status=422)
    service = _service(request)
    if username == "anonymous" or not service.check_secret(username, password):
        return web.json_response({"detail": "Invalid username or password"}, status=401)
    resp = web.json_response({"username": username})
    resp.set_cookie("session", service.new_session(username), httponly=True, samesite="Lax")
    return resp


async def logout(request: web.Request) -> web.Response:
    _service(request).sessions.pop(request.cookies.get("session", ""), None)
    resp = web.json_response({"status": "logged out"})
    resp.del_cookie("session")
    return resp


async def session(request: web.Request) -> web.Response:
    viewer = _viewer(request)
    return _unauthorized() if viewer is None else web.json_response({"username": viewer})


async def post_too(request: web.Request) -> web.Response:
    service = _service(request)
    form = dict(await request.post())
    service.received.append(Received("v2", "/swift/too", {k: str(v) for k, v in form.items()}))
    viewer = _viewer(request)
    if viewer is None or (viewer == "anonymous" and service.rules.anonymous_too_refused):
        return _unauthorized()
    try:
        parsed = TooFormV2.model_validate(form)
    except ValidationError as exc:
        return web.json_response({"detail": fastapi_detail(exc)}, status=422)
    decision = service.submit(parsed, username=viewer)
    if decision.status == "Rejected":
        return _rejected(decision.errors, username=viewer)
    if decision.status == "Validated":
        return web.json_response({"status": "Validated"})
    body = {
        "status": "Accepted",
        "too_id": decision.too_id,
        "jobnumber": service.next_jobnumber(),
        "errors": [],
        "warnings": decision.warnings,
    }
    return web.json_response(body, status=201)


async def get_too(request: web.Request) -> web.Response:
    service = _service(request)
    viewer = _viewer(request)
    if viewer is None:
        return _unauthorized()
    q = request.query
    # ``username`` narrows the listing to that requester's TOOs, except the anonymous user's
    # name: it is what swifttools sends for everyone who has not logged in (its default), and
    # the anonymous user owns no TOOs, so it asks for the public listing.
    owner = q.get("username") or None
    if owner == "anonymous":
        owner = None
    try:
        begin = q.get("begin")
        coords = _floats(q, "ra", "dec", "radius", "length")
        entries = service.listing(
            viewer=viewer,
            too_id=int(q["too_id"]) if q.get("too_id") else None,
            owner=owner,
            begin=_aware(datetime.fromisoformat(begin)) if begin else None,
            length_days=coords["length"],
            year=int(q["year"]) if q.get("year") else None,
            ra=coords["ra"],
            dec=coords["dec"],
            radius=coords["radius"],
            limit=int(q["limit"]) if q.get("limit") else None,
        )
    except ValueError as exc:
        return web.json_response({"detail": str(exc)}, status=422)
    detail = q.get("detail", "false").lower() == "true"
    body = {
        "entries": [record(service, e, viewer=viewer, detail=detail, v1=False) for e in entries],
        "status": ACCEPTED,
    }
    return web.json_response(body)


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


async def get_calendar(request: web.Request) -> web.Response:
    """Calendar windows of approved TOOs: by ``too_id``, or by position (``ra``/``dec`` within
    ``radius``, default 0.2 deg), time span (``begin``/``end``/``length`` days, overlap), and
    ``target_id``/``targetid``; ``limit`` caps the entries. Windows are public."""
    service = _service(request)
    viewer = _viewer(request)
    if viewer is None:
        return _unauthorized()
    q = request.query
    try:
        too_id = int(q["too_id"]) if q.get("too_id") else None
        target = q.get("target_id") or q.get("targetid")
        target_id = int(target) if target else None
        coords = _floats(q, "ra", "dec", "radius", "length")
        begin = _aware(datetime.fromisoformat(q["begin"])) if q.get("begin") else None
        end = _aware(datetime.fromisoformat(q["end"])) if q.get("end") else None
        limit = int(q["limit"]) if q.get("limit") else None
    except ValueError as exc:
        return web.json_response({"detail": str(exc)}, status=422)
    if begin is not None and end is None and coords["length"] is not None:
        end = begin + timedelta(days=coords["length"])
    entries = calendar_matching(
        service,
        v1=False,
        too_id=too_id,
        target_id=target_id,
        ra=coords["ra"],
        dec=coords["dec"],
        radius=coords["radius"],
        begin=begin,
        end=end,
        limit=limit,
    )
    return web.json_response({"too_id": too_id, "entries": entries, "status": ACCEPTED})


async def resolve(request: web.Request) -> web.Response:
    name = request.query.get("name", "")
    target = _service(request).sky.locate(name)
    if target is None:
        status = {
            "status": "Rejected",
            "errors": [f"Could not resolve name {name}."],
            "warnings": [],
        }
        return web.json_response({"name": name, "status": status})
    body = {"name": target.name, "ra": target.ra, "dec": target.dec, "resolver": "Simbad"}
    return web.json_response({**body, "status": ACCEPTED})


async def uvot_mode(request: web.Request) -> web.Response:
    service = _service(request)
    try:
        mode = int(request.query["uvot_mode"], 0)
        coords = _floats(request.query, "ra", "dec")
    except (KeyError, ValueError):
        detail = [{"loc": ["query", "uvot_mode"], "msg": "Field required", "type": "missing"}]
        return web.json_response({"detail": detail}, status=422)
    if mode not in UVOT_MODES:
        return _rejected(
            [f"UVOT mode 0x{mode:04x} is not a valid UVOT mode."], username="anonymous"
        )
    ra, dec = coords["ra"], coords["dec"]
    if ra is not None and dec is not None and service.bright_star(ra, dec):
        filters = ", ".join(filters_of(mode))
        return _rejected(
            [f"The following UVOT filters are not allowed due to a bright star: {filters}."],
            username="anonymous",
        )
    body = {"uvot_mode": mode, "ra": ra, "dec": dec, "entries": uvot_entries(mode, v1=False)}
    return web.json_response({**body, "status": ACCEPTED})


ROUTES: tuple[tuple[str, str, Handler], ...] = (
    ("POST", "/login", login),
    ("POST", "/logout", logout),
    ("GET", "/session", session),
    ("POST", "/swift/too", post_too),
    ("GET", "/swift/too", get_too),
    ("GET", "/swift/calendar", get_calendar),
    ("GET", "/resolve", resolve),
    ("GET", "/swift/uvot_mode", uvot_mode),
)


def add_routes(app: web.Application) -> None:
    for method, path, handler in ROUTES:
        app.router.add_route(method, PREFIX + path, handler)
        app.router.add_route(method, PREFIX + path + "/", handler)
