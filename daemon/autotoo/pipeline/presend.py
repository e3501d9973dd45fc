"""Checks before a TOO is sent: is Swift already on the position, and when can it see it?

Two of a rule's TOO policies (``too.if_swift_on_target``, ``too.visibility``) ask the Swift
service, through :class:`TooPort`'s read methods, just before the submission:

* **Already on it.** Three questions at once: the TOO listing (a request near the position in
  the last :data:`RECENT`, not carrying this row's own marker: ours are the reconcile path's
  business), the planned timeline (PlanQuery: a segment that has not ended) and the flown one
  (ObsQuery: a segment since :data:`BEFORE_TRIGGER` before the trigger, e.g. Swift's own slew
  to a BAT trigger). Segments of the target of this row's own listed request do not count.
  Near is within the rule's radius (default: the XRT field of view). With ``skip`` (the
  default) anything found means nothing is sent and the row says why.
* **Visibility.** VisQuery from now: no window opening within the rule's ``within`` means the
  TOO is sent at its ``otherwise_urgency`` (never more urgent than the rule's own), with the
  reason appended to the science justification, rather than sent at an urgency Swift would
  refuse as "Object currently constrained".

A check that cannot be done (the service fails or is slow, the v1 protocol has no timeline or
visibility queries) does not hold the TOO back: it is sent as the rule wrote it, and the log
says which check was missing and why. The service itself refuses a true duplicate, and an
alert left unsent loses its science (docs/swift-too.md, "Checks before a TOO is sent").
All checks create nothing remotely and are asked concurrently, within :data:`TIMEOUT`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, TypeVar

from autotoo.alerts.values import separation_deg
from autotoo.durations import human_duration
from autotoo.logs import get_logger
from autotoo.pipeline.ports import ListedToo, Pointing, RemoteError, TooPort
from autotoo.store.repository import Repository
from autotoo.store.rows import Api, SubmissionRow
from autotoo.store.specs import OnTarget, TooSpec, VisibilityPolicy

log = get_logger("autotoo.presend")

RECENT: Final = timedelta(hours=24)  # the listing: requests this recent count
BEFORE_TRIGGER: Final = timedelta(minutes=10)  # flown segments from this before the trigger
NO_TRIGGER: Final = timedelta(hours=1)  # ... or from this before now, without a trigger time
CLOCK_MARGIN: Final = timedelta(hours=1)  # the listing is asked up to this after now
VIS_BEYOND: Final = timedelta(days=7)  # visibility is asked this far past the window
TIMEOUT: Final = 30.0  # seconds for all the checks together

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Verdict:
    """What to do with the TOO: ``skip`` (why nothing is sent) or send ``spec``."""

    spec: TooSpec
    skip: str | None = None
    notes: tuple[str, ...] = ()


def spec_policies(policy: dict[str, Any]) -> dict[str, Any]:
    """The TooSpec fields of these checks, from a rendered rule's TOO policy (planner)."""
    radius = policy.get("on_target_radius_arcmin")
    trigger = policy.get("trigger_time")
    vis = policy.get("visibility")
    return {
        "on_target": OnTarget(
            then=str(policy.get("if_swift_on_target") or "skip"),
            radius_arcmin=float(radius),
            since=datetime.fromisoformat(trigger) - BEFORE_TRIGGER if trigger else None,
        )
        if radius is not None
        else None,
        "visibility": VisibilityPolicy(
            timedelta(seconds=float(vis["within"])), int(vis["otherwise_urgency"])
        )
        if vis
        else None,
    }


def skipping(spec: TooSpec) -> OnTarget | None:
    """The TOO's on-target policy when it is asked about (``skip``; ``submit`` asks nothing)."""
    on = spec.on_target
    return on if on is not None and on.then == "skip" else None


def wanted(spec: TooSpec) -> bool:
    """Whether anything is asked before this TOO is sent."""
    return skipping(spec) is not None or spec.visibility is not None


def describe(spec: TooSpec) -> str | None:
    """What will be asked before this TOO is sent, for ``autotoo replay`` (which is offline)."""
    parts = []
    on = skipping(spec)
    if on is not None:
        parts.append(
            f"whether it already serves the position (TOO listing, PlanQuery, ObsQuery "
            f"within {on.radius_arcmin:g} arcmin; if so, nothing is sent)"
        )
    if spec.visibility is not None:
        vis = spec.visibility
        parts.append(
            f"when it can next observe the target (VisQuery; not within "
            f"{human_duration(vis.within)}: urgency {vis.urgency})"
        )
    return "before sending, Swift will be asked " + " and ".join(parts) if parts else None


@dataclass(frozen=True, slots=True)
class Answers:
    """What Swift answered the checks of one TOO (an exception in place of each answer it
    did not give), asked at ``now``; ``position`` None: the request has none to ask about."""

    now: datetime
    position: tuple[float, float] | None
    got: dict[str, Any]


def position_of(spec: TooSpec) -> tuple[float, float] | None:
    try:
        return float(spec.body["ra"]), float(spec.body["dec"])
    except (KeyError, TypeError, ValueError):
        return None


async def ask(port: TooPort, spec: TooSpec, *, now: datetime) -> Answers:
    """Ask what the spec's policies need, concurrently (creates nothing remotely)."""
    position = position_of(spec)
    if position is None:
        return Answers(now, None, {})
    ra, dec = position
    on = skipping(spec)
    vis = spec.visibility
    radius = on.radius_arcmin / 60.0 if on is not None else 0.0
    asks: dict[str, Awaitable[Any]] = {}
    if on is not None:
        since = on.since or now - NO_TRIGGER
        window = {"since": now - RECENT, "until": now + CLOCK_MARGIN}
        asks["the TOO listing"] = port.requests_near(
            ra, dec, radius_deg=radius, marker=spec.marker, **window
        )
        asks["PlanQuery"] = port.pointings_near(ra, dec, radius_deg=radius, begin=now, flown=False)
        asks["ObsQuery"] = port.pointings_near(ra, dec, radius_deg=radius, begin=since, flown=True)
    if vis is not None:
        asks["VisQuery"] = port.visibility(ra, dec, begin=now, end=now + vis.within + VIS_BEYOND)
    return Answers(now, position, await _ask(asks))


def decide(spec: TooSpec, answers: Answers, own_targets: frozenset[int] = frozenset()) -> Verdict:
    """The verdict on ``answers``. ``own_targets``: the target IDs Swift gave earlier
    attempts of this request (the store knows them): their pointings are ours even when the
    listing does not show the attempt that asked for them (a listing that failed, or a
    window the clocks of the two sides place differently)."""
    if answers.position is None:
        log.warning("pre-send checks skipped: the request has no position")
        return Verdict(spec, notes=("not checked: the request has no position",))
    (ra, dec), now, got = answers.position, answers.now, answers.got
    failed = {what: answer for what, answer in got.items() if isinstance(answer, Exception)}
    notes = [f"not checked: {what}: {answer}" for what, answer in failed.items()]
    for note in notes:
        log.warning("pre-send check failed; sending anyway", note=note)
    on = skipping(spec)
    if on is not None:
        reason = _on_target(got, ra, dec, now, own_targets)
        if reason is not None:
            return Verdict(spec, skip=f"skipped: {reason} — no TOO sent", notes=tuple(notes))
    vis = spec.visibility
    if vis is not None and not isinstance(windows := got["VisQuery"], BaseException):
        spec, lowered = _visibility(spec, vis, windows, now)
        if lowered:
            notes.append(lowered)
    return Verdict(spec, notes=tuple(notes))


async def check(
    port: TooPort, spec: TooSpec, *, now: datetime, own_targets: frozenset[int] = frozenset()
) -> Verdict:
    """:func:`ask`, then :func:`decide`."""
    return decide(spec, await ask(port, spec, now=now), own_targets)


async def _ask(asks: dict[str, Awaitable[Any]]) -> dict[str, Any]:
    """Every answer, or the exception that took its place (a timeout for all that were late)."""

    async def one(call: Awaitable[T]) -> T | BaseException:
        try:
            return await call
        except RemoteError as exc:
            return exc
        except Exception as exc:  # a check never stops the TOO (module docstring)
            log.exception("pre-send check raised")
            return exc

    tasks = {what: asyncio.ensure_future(one(call)) for what, call in asks.items()}
    if not tasks:
        return {}
    _, late = await asyncio.wait(tasks.values(), timeout=TIMEOUT)
    for task in late:
        task.cancel()
    await asyncio.gather(*late, return_exceptions=True)  # let the cancelled ones finish
    late_error = TimeoutError(f"no answer within {TIMEOUT:.0f} s")
    return {what: late_error if task in late else task.result() for what, task in tasks.items()}


def _hm(when: datetime | None) -> str:
    return f"{when.astimezone(UTC):%Y-%m-%d %H:%M}Z" if when is not None else "an unknown time"


def _away(ra: float, dec: float, other_ra: float | None, other_dec: float | None) -> str:
    """How far a pointing or request lies from the TOO's position, for the reason."""
    if other_ra is None or other_dec is None:
        return ""
    arcmin = separation_deg(ra, dec, other_ra, other_dec) * 60.0
    return f", {arcmin:.1f} arcmin away"


def _seg(p: Pointing, ra: float, dec: float) -> str:
    target = f"{p.target_id:08d}" if p.target_id is not None else "?"
    name = f": {p.target_name}" if p.target_name else ""
    return f"(target {target}, obsid {p.obs_id or '?'}{name}{_away(ra, dec, p.ra, p.dec)})"


def _name(name: str) -> str:
    return "".join(name.lower().split())


def _on_target(
    answers: dict[str, Any], ra: float, dec: float, now: datetime, own_targets: frozenset[int]
) -> str | None:
    """Why Swift is already on the position, or None."""
    listed = answers.get("the TOO listing")
    requests: tuple[ListedToo, ...] = () if isinstance(listed, BaseException) else listed or ()
    # Our own request's segments: by its target ID once Swift gave one (on approval), by its
    # name before (the target is named after the request).
    own_ids = {r.target_id for r in requests if r.ours and r.target_id is not None} | own_targets
    own_names = {_name(r.target_name) for r in requests if r.ours and r.target_name}
    others = [r for r in requests if not r.ours]

    def ours(p: Pointing) -> bool:
        return p.target_id in own_ids or bool(p.target_name and _name(p.target_name) in own_names)

    def segments(what: str) -> list[Pointing]:
        got = answers.get(what)
        if isinstance(got, BaseException) or not got:
            return []
        return sorted((p for p in got if not ours(p)), key=lambda p: p.begin or now)

    flown = segments("ObsQuery")
    planned = [p for p in segments("PlanQuery") if p.end is None or p.end >= now]
    found = []
    if flown:
        last = flown[-1]
        found.append(f"Swift observed this position at {_hm(last.begin)} {_seg(last, ra, dec)}")
    if planned:
        first = planned[0]
        under_way = first.begin is not None and first.begin <= now
        verb = "is observing this position since" if under_way else "plans this position at"
        found.append(f"Swift {verb} {_hm(first.begin)} {_seg(first, ra, dec)}")
    if others:
        r = max(others, key=lambda r: r.requested_at or now)
        what = f"{r.target_name or 'unnamed'}{_away(ra, dec, r.ra, r.dec)}"
        when = _hm(r.requested_at)
        found.append(f"TOO {r.too_id} ({what}) was requested for this position at {when}")
    return "; ".join(found) if found else None


def _visibility(
    spec: TooSpec,
    vis: VisibilityPolicy,
    windows: tuple[tuple[datetime, datetime], ...],
    now: datetime,
) -> tuple[TooSpec, str | None]:
    """The spec at the fallback urgency when no window opens within ``vis.within``."""
    deadline = now + vis.within
    if any(begin <= deadline and end > now for begin, end in windows):
        return spec, None
    urgency = int(spec.body.get("urgency", 3))  # the TOO form's default
    if urgency >= vis.urgency:  # already as patient (e.g. an earlier attempt changed it)
        return spec, None
    opens = min((b for b, _ in windows if b > deadline), default=None)
    later = (
        f"next visible from {_hm(opens)}"
        if opens is not None
        else f"not visible for at least {human_duration(vis.within + VIS_BEYOND)}"
    )
    why = (
        f"Not visible to Swift within {human_duration(vis.within)} of submission ({later}); "
        f"urgency {vis.urgency} instead of {urgency}."
    )
    just = str(spec.body.get("science_just") or "").rstrip()
    body = {"urgency": vis.urgency, "science_just": f"{just}\n\n{why}".lstrip()}
    note = f"visibility: {why}"
    log.info("urgency lowered: the target is not visible in time", reason=why)
    return dataclasses.replace(spec, body={**spec.body, **body}), note


async def earlier_targets(repo: Repository, row: SubmissionRow) -> frozenset[int]:
    """The target IDs Swift gave the earlier attempts of this TOO (its parent chain):
    observed ones, and the one the last poll reported. A new attempt of our own request
    is not "Swift already on it" because of what an earlier attempt got."""
    found: set[int] = set()
    seen: set[int] = set()
    parent_id = row.parent_id
    while parent_id is not None and parent_id not in seen:
        seen.add(parent_id)
        earlier = await repo.submission(parent_id)
        if earlier is None or earlier.api is not Api.TOO:
            break
        texts = [str(o["target_id"]) for o in await repo.observations(earlier.id)]
        job = await repo.remote_job(earlier.id)
        detail = json.loads(job["detail"]) if job and job.get("detail") else {}
        texts.append(str(detail.get("target_id")))
        found.update(int(text) for text in texts if text.isdigit())
        parent_id = earlier.parent_id
    return frozenset(found)
