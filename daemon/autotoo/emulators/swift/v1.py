"""API v1 ("1.2") at ``/toop/submit_json.php``: HS256 JWT in form field ``jwt`` (POST) or the
``?jwt=`` query (GET), dispatched on ``api_name``.

TOO requests are jobs keyed by the raw token while they are being polled: the first sight
decides and answers ``Queued``; repeats of the identical token (the client's polling) answer
``Processing`` for ``rules.v1_pending_replies - 1`` more times, then the final status. Once the
final status has been given, the token's job is finished: the client stops polling when it has
read a final status, so the same token arriving later is a new submission with the same content
(swifttools signs no time claim, so a new object with equal fields signs the identical token).
It is decided afresh and, within the repeat window, answered ``TOO already recently submitted``,
as the walkthrough's re-run was. Polling can never create a second TOO either way. A token whose
signature does not verify gets HTTP 200 with a non-JSON body, which is what the real service
appears to do.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt
from aiohttp import web
from pydantic import ValidationError

from autotoo.emulators.swift.catalog import UVOT_MODES, filters_of, uvot_entries
from autotoo.emulators.swift.forms import TooFormV1, v1_messages
from autotoo.emulators.swift.service import Decision, Received, SwiftService
from autotoo.emulators.swift.v1_queries import QUERIES, BadQueryError
from autotoo.emulators.swift.v2 import SERVICE
from autotoo.emulators.swift.views import calendar_matching, record, v1_time

PATH = "/toop/submit_json.php"
API_VERSION = "1.2"


@dataclass(slots=True)
class Job:
    jobnumber: int
    username: str
    decision: Decision
    replies: int  # how many replies this job has given
    timestamp: str


def envelope(api_name: str, api_data: dict[str, Any]) -> web.Response:
    body = {"api_name": api_name, "api_version": API_VERSION, "api_data": api_data}
    return web.json_response(body)


def _status(status: str, errors: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    return {"status": status, "errors": errors or [], "warnings": [], **extra}


def _nested(status: str, errors: list[str] | None = None) -> dict[str, Any]:
    return {"api_name": "Swift_TOO_Status", "api_data": _status(status, errors)}


def _decode(service: SwiftService, token: str) -> dict[str, Any] | None:
    """The verified payload, or ``None`` if the signature (or the user) is unknown."""
    try:
        unverified = jwt.decode(token, options={"verify_signature": False})
        username = str(unverified["api_data"]["username"])
    except (jwt.PyJWTError, KeyError, TypeError):
        return None
    secret = "anonymous" if username == "anonymous" else service.users.swift_secret(username)
    if secret is None:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyJWT's short-HMAC-key warning
        try:
            payload: dict[str, Any] = jwt.decode(token, secret, algorithms=["HS256"])
        except jwt.PyJWTError:
            return None
    return payload


async def handle(request: web.Request) -> web.StreamResponse:
    service = request.app[SERVICE]
    if request.method == "POST":
        token = str((await request.post()).get("jwt", ""))
    else:
        token = request.query.get("jwt", "")
    payload = _decode(service, token)
    if payload is None:
        return web.Response(
            text="<html><body>Invalid request</body></html>", content_type="text/html"
        )
    api_name = str(payload.get("api_name"))
    data = payload.get("api_data") or {}
    service.received.append(Received("v1", api_name, dict(data), token=token))
    username = str(data.get("username"))
    service.callers.append((username, api_name))
    if api_name == "Swift_TOO_Request":
        return _too_request(service, token, data, username)
    if api_name == "Swift_TOO_Requests":
        return _requests(service, data, username)
    if (query := QUERIES.get(api_name)) is not None:
        return _query(service, api_name, query, data)
    handler = _READERS.get(api_name)
    if handler is None:
        return envelope("Swift_TOO_Status", _status("Rejected", [f"Unknown api_name {api_name}"]))
    return handler(service, data)


def _query(
    service: SwiftService,
    api_name: str,
    query: Callable[[SwiftService, dict[str, Any]], tuple[str, dict[str, Any]]],
    data: dict[str, Any],
) -> web.Response:
    """A v1 query class (:mod:`v1_queries`): answered at once, not queued as a job (the
    class reads a final status from its first reply, as it does from the real service's)."""
    try:
        name, reply = query(service, data)
    except BadQueryError as exc:
        return envelope(api_name, {"status": _nested("Rejected", [str(exc)])})
    return envelope(name, reply | {"status": _nested("Accepted")})


def _too_request(
    service: SwiftService, token: str, data: dict[str, Any], username: str
) -> web.Response:
    polled: dict[str, Job] = service.v1_polled
    job = polled.get(token)
    if job is None:
        try:
            form = TooFormV1.model_validate(data)
        except ValidationError as exc:
            decision = Decision("Rejected", errors=v1_messages(exc))
        else:
            decision = service.submit(form, username=username)
        job = Job(service.next_jobnumber(), username, decision, 0, v1_time(service.now))
        service.v1_jobs[job.jobnumber] = job
        polled[token] = job
    reply = _job_data(job, service.rules.v1_pending_replies)
    if job.replies > service.rules.v1_pending_replies:  # the final status has been given
        del polled[token]
    return envelope("Swift_TOO_Status", reply)


def _job_data(job: Job, pending: int, *, advance: bool = True) -> dict[str, Any]:
    """The job's state as this reply reports it (each TOO-request reply advances it)."""
    base = {"username": job.username, "jobnumber": job.jobnumber, "timestamp": job.timestamp}
    seen = job.replies
    if advance:
        job.replies += 1
    if seen < pending:
        state = "Queued" if seen == 0 else "Processing"
        return {**base, "status": state, "errors": [], "warnings": []}
    d = job.decision
    result = {**base, "status": d.status, "errors": d.errors, "warnings": d.warnings}
    if d.too_id is not None:
        result["too_id"] = d.too_id
    return result


def _job_status(service: SwiftService, data: dict[str, Any]) -> web.Response:
    """``Swift_TOO_Status`` by job number: the current state, without advancing it."""
    wanted = data.get("jobnumber")
    job = service.v1_jobs.get(wanted) if isinstance(wanted, int) else None
    if job is not None and job.username == data.get("username"):
        reply = _job_data(job, service.rules.v1_pending_replies, advance=False)
        return envelope("Swift_TOO_Status", reply)
    return envelope("Swift_TOO_Status", _status("Rejected", [f"Job {wanted} not found."]))


def _resolve(service: SwiftService, data: dict[str, Any]) -> web.Response:
    name = str(data.get("name", ""))
    target = service.sky.locate(name)
    reply: dict[str, Any]
    if target is None:
        reply = {"name": name, "status": _nested("Rejected", ["Could not resolve name."])}
        return envelope("Swift_Resolve", reply)
    reply = {
        "name": target.name,
        "ra": target.ra,
        "dec": target.dec,
        "resolver": "Simbad",
        "status": _nested("Accepted"),
    }
    return envelope("Swift_Resolve", reply)


def _uvot_mode(service: SwiftService, data: dict[str, Any]) -> web.Response:
    text = str(data.get("uvotmode", ""))
    try:
        head = text.split(":", maxsplit=1)[0]
        mode = int(head, 16) if head.lower().startswith("0x") else int(head)
    except ValueError:
        mode = -1
    if mode not in UVOT_MODES:
        return envelope(
            "UVOT_mode", {"status": _nested("Rejected", [f"Unknown UVOT mode {text}."])}
        )
    ra, dec = data.get("ra"), data.get("dec")
    if ra is not None and dec is not None and service.bright_star(float(ra), float(dec)):
        filters = ", ".join(filters_of(mode))
        error = f"The following UVOT filters are not allowed due to a bright star: {filters}."
        return envelope("UVOT_mode", {"status": _nested("Rejected", [error])})
    reply = {
        "uvotmode": f"0x{mode:04x}",
        "entries": uvot_entries(mode, v1=True),
        "status": _nested("Accepted"),
    }
    return envelope("UVOT_mode", reply)


def _requests(service: SwiftService, data: dict[str, Any], username: str) -> web.Response:
    def number(name: str, kind: Callable[[Any], Any]) -> Any:
        return kind(data[name]) if data.get(name) is not None else None

    try:
        begin = data.get("begin")
        entries = service.listing(
            viewer=username,
            too_id=number("too_id", int),
            year=number("year", int),
            limit=number("limit", int),
            begin=datetime.fromisoformat(str(begin)).replace(tzinfo=UTC) if begin else None,
            length_days=number("length", float),
            ra=number("ra", float),
            dec=number("dec", float),
            radius=number("radius", float),
        )
    except (TypeError, ValueError) as exc:
        return envelope("Swift_TOO_Requests", {"status": _nested("Rejected", [str(exc)])})
    detail = bool(data.get("detail"))
    reply = {
        "entries": [record(service, e, viewer=username, detail=detail, v1=True) for e in entries],
        "status": _nested("Accepted"),
    }
    return envelope("Swift_TOO_Requests", reply)


def _calendar(service: SwiftService, data: dict[str, Any]) -> web.Response:
    """``Swift_Calendar``: by ``too_id``, or by the class's other filters, as v2's calendar."""

    def number(name: str, kind: Callable[[Any], Any]) -> Any:
        return kind(data[name]) if data.get(name) not in (None, "") else None

    def when(name: str) -> datetime | None:
        value = data.get(name)
        return datetime.fromisoformat(str(value)).replace(tzinfo=UTC) if value else None

    try:
        entries = calendar_matching(
            service,
            v1=True,
            too_id=number("too_id", int),
            target_id=number("targetid", int),
            ra=number("ra", float),
            dec=number("dec", float),
            radius=number("radius", float),
            begin=when("begin"),
            end=when("end"),
        )
    except (TypeError, ValueError) as exc:
        return envelope("Swift_Calendar", {"status": _nested("Rejected", [str(exc)])})
    reply = {"too_id": data.get("too_id"), "entries": entries, "status": _nested("Accepted")}
    return envelope("Swift_Calendar", reply)


_READERS: dict[str, Callable[[SwiftService, dict[str, Any]], web.Response]] = {
    "Swift_TOO_Status": _job_status,
    "Swift_Resolve": _resolve,
    "UVOT_mode": _uvot_mode,
    "Swift_Calendar": _calendar,
}


def add_routes(app: web.Application) -> None:
    app.router.add_route("POST", PATH, handle)
    app.router.add_route("GET", PATH, handle)
