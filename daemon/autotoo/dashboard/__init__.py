"""The dashboard for the person on duty: one server-rendered page and its JSON.

``GET /`` (and ``/dashboard``) is a static page carrying the current status inline (no
fetch is needed to see it, and no build step exists: the page is plain HTML with a small
script), which then polls ``GET /api/status`` every few seconds and redraws. One renderer
(the page's script) draws both, so the first view and the refreshed one cannot disagree.

Order is the duty order: what needs a human first, then requests in flight, then results
(XRT positions on a small sky plot, light curves), then recent alerts with every rule's
verdict and why, then events and messages nobody could parse.

Everything shown comes from the store (and the sources' health), never from memory, so
after a restart the page shows the same history.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

from autotoo.sources.base import SourceHealth
from autotoo.store.repository import Repository
from autotoo.store.rows import SubmissionRow, SubmissionState, ts
from autotoo.store.specs import TooSpec
from autotoo.ukssdc import results as R  # noqa: N812 the module's constants, namespaced

S = SubmissionState
_ORDER = {
    S.NEEDS_APPROVAL: 0,
    S.NEEDS_HUMAN: 0,
    S.UNKNOWN: 1,
    S.SUBMITTING: 2,
    S.TRACKING: 3,
    S.SUBMITTED: 3,
    S.PLANNED: 4,
}
# Instances shown: those seen within the hour (as `autotoo status`), a killed one included
INSTANCES_WITHIN = timedelta(hours=1)
LIGHTCURVE_ROWS = 2000  # per dataset; the page plots, it does not archive
_PRODUCTS = {
    "psf": "standard position",
    "enh": "enhanced position",
    "xastrom": "astrometric position",
    "lc": "light curve",
    "spec": "spectrum",
    "image": "image",
    "sourceDet": "source list",
}
_CODES = {  # the UKSSDC's per-product status codes, in a word or two for a table cell
    R.CANCELLED: "cancelled",
    R.NO_PRODUCT: "no product",
    R.QUEUE_ERROR: "queue error",
    R.REQUEST_ERROR: "request error",
    R.REQUESTED: "requested",
    R.QUEUED: "queued",
    R.RUNNING: "running",
    R.DONE: "done",
    R.WAITING_FOR_PSF: "waiting for the position",
    R.NOT_REPORTED: "not reported",
}


def _iso(value: datetime | None) -> str | None:
    return ts(value) if value is not None else None


def _submission(
    row: SubmissionRow,
    remote: dict[str, Any] | None,
    observations: list[dict[str, Any]],
    results: dict[str, Any],
    positions: dict[int, dict[str, Any]],
) -> dict[str, Any]:
    spec = row.spec
    if isinstance(spec, TooSpec):  # a TOO request form
        target = spec.body.get("source_name") or spec.body.get("target_name")
    else:  # an XRT product request
        target = spec.globals.get("name")
    return {
        "id": row.id,
        "api": row.api,
        "rule": row.rule,
        "event": row.group_key,
        "event_id": row.event_id,
        "action": row.action,
        "attempt": row.attempt,
        "parent_id": row.parent_id,
        "state": row.state.value,
        "remote_id": row.remote_id,
        "reason": row.reason,
        "target": target,
        "created_at": _iso(row.created_at),
        "updated_at": _iso(row.updated_at),
        "sent_at": _iso(row.sent_at),
        "not_before": _iso(row.not_before),
        "next_at": _iso(row.next_at),
        "approval_deadline": _iso(row.approval_deadline),
        "approved_by": row.approved_by,
        "approved_at": _iso(row.approved_at),
        "remote": _remote(remote),
        "observations": observations,
        "results": _trim(results),
        "alert_position": positions.get(row.event_id),
    }


def _remote(remote: dict[str, Any] | None) -> dict[str, Any] | None:
    """The stored remote status, with an XRT job's product codes spelled out."""
    if remote is None:
        return None
    codes = (remote.get("detail") or {}).get("codes") or {}
    products = [
        f"{_PRODUCTS.get(name, name)}: {_CODES.get(code, f'code {code}')}"
        for name, code in codes.items()
    ]
    return {k: v for k, v in remote.items() if k != "detail"} | {"products": products}


def _trim(results: dict[str, Any]) -> dict[str, Any]:
    out = dict(results)
    lc = out.get("lightcurve")
    if isinstance(lc, dict) and isinstance(lc.get("datasets"), dict):
        out["lightcurve"] = lc | {
            "datasets": {
                name: {**d, "rows": d.get("rows", [])[:LIGHTCURVE_ROWS]}
                for name, d in lc["datasets"].items()
                if isinstance(d, dict)
            }
        }
    for bulky in ("spectrum", "sourcelist"):  # shown as "retrieved", not drawn
        if bulky in out:
            out[bulky] = True
    return out


async def status(
    repo: Repository,
    *,
    mode: str,
    problems: Sequence[str] = (),
    sources: Sequence[SourceHealth] = (),
    limit: int = 50,
    approvals: bool = False,
    instance: str | None = None,
    lease: timedelta = timedelta(seconds=30),
) -> dict[str, Any]:
    """Everything the page shows, as JSON-ready data (also served as ``/api/status``).
    ``approvals``: whether the page's approve and deny buttons can work (an admin token is
    configured); the server checks the token either way. ``instance``: this daemon's id in
    the store's instances (marked ``this``); ``lease``: its ``store.lease``, within which
    an instance's heartbeat shows it live."""
    now = datetime.now(UTC)
    instances = await repo.leases.instances(now, within=INSTANCES_WITHIN, live_within=lease)
    alerts = await repo.recent_alerts(limit=max(limit, 200))
    decisions = await repo.decisions_for_alerts([a["id"] for a in alerts[:limit]])
    events = await repo.recent_events(limit=limit)
    by_alert = {a["id"]: a for a in alerts}
    positions = {
        e.id: {k: by_alert[e.best_alert_id][k] for k in ("ra", "dec", "error_deg")}
        for e in events
        if e.best_alert_id in by_alert
    }
    rows = await repo.submissions(limit=200)
    ids = [r.id for r in rows]
    remote = await repo.remote_jobs_for(ids)
    observed = await repo.observations_for(ids)
    results = await repo.results_for(ids)
    subs = [
        _submission(r, remote.get(r.id), observed.get(r.id, []), results.get(r.id, {}), positions)
        for r in rows
    ]
    subs.sort(key=lambda s: (_ORDER.get(S(s["state"]), 5), -s["id"]))
    unparsed = await repo.inbox_list(limit=20, status="unparsed", payloads=False)
    return {
        "generated_at": _iso(now),
        "mode": mode,
        # the liveness check (/healthz) passes; not the mode (that is "mode": "live")
        "healthy": not problems,
        "problems": list(problems),
        "sources": [
            {
                "name": h.name,
                "kind": h.kind,
                "connected": h.connected,
                "last_error": h.last_error,
                "last_message_at": _iso(h.last_message_at),
                "messages": h.messages,
            }
            for h in sources
        ],
        # every daemon on this store (several on one PostgreSQL database), the same read as
        # `autotoo status`; on SQLite this one (and any killed within the hour)
        "instances": [i | {"this": i["id"] == instance} for i in instances],
        "counts": await repo.counts(),
        "needs_human": [s for s in subs if s["state"] == S.NEEDS_HUMAN.value],
        "needs_approval": [s for s in subs if s["state"] == S.NEEDS_APPROVAL.value],
        "approvals_enabled": approvals,
        "submissions": subs,
        "alerts": [a | {"decisions": decisions.get(a["id"], [])} for a in alerts[:limit]],
        "events": [
            {
                "id": e.id,
                "group_key": e.group_key,
                "mission": e.mission,
                "event_key": e.event_key,
                "alert_count": e.alert_count,
                "retracted": e.retracted,
                "first_seen": _iso(e.first_seen),
                "last_seen": _iso(e.last_seen),
            }
            for e in events
        ],
        "unparsed": [
            {
                "inbox_id": r.id,
                "source": r.source,
                "topic": r.topic,
                "received_at": _iso(r.received_at),
                "reason": r.reason,
            }
            for r in unparsed
        ],
    }


def page(initial: dict[str, Any], *, refresh_s: float = 3.0) -> str:
    """The HTML page with ``initial`` inline. Every ``<`` is escaped (``\\u003c``, which JSON
    only allows inside strings) so no alert text can close or confuse the script element:
    alert payloads are untrusted input. The page's script builds text nodes, never HTML."""
    template = resources.files(__name__).joinpath("page.html").read_text(encoding="utf-8")
    data = json.dumps(initial, separators=(",", ":"), default=str).replace("<", "\\u003c")
    return template.replace("__INITIAL__", data).replace(
        "__REFRESH_MS__", str(int(refresh_s * 1000))
    )
