"""The read side of transients: what ``autotoo transients list|show``, the dashboard's
transient view and ``autotoo replay`` show of one source seen by several missions.

A transient's story is spread over eight tables (its events' triggers and notices, every
rule's decision on each notice, the association of each event and why, the requests made
for it, their state changes, Swift's observations, the UKSSDC's products). The person on
duty asks one question of it -- *what happened, in what order, and why* -- so it is read
here as one timeline: every row with its time and its time since the transient's trigger
(T0, the earliest trigger of its events). Each row carries its sentence (``text``), built
once here, so the CLI, the dashboard and replay say the same words; they only lay it out.

Every query only reads.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from autotoo import lightcurve
from autotoo.store.db import Database
from autotoo.store.rows import parse_ts

#: Timeline row kinds, in the order rows of one instant are listed.
KINDS = ("trigger", "notice", "association", "decision", "request", "observation", "product")
_API_WORDS = {"swift_too": "Swift TOO", "ukssdc_xrt": "XRT job"}


def since_text(seconds: float | None) -> str:
    """``+2.0 s``, ``-1.0 s``, ``+20 min 03 s``, ``+3 h 05 min``, ``+2 d 04 h``: a time
    since the trigger, precise where precision matters (the first minutes of a burst)."""
    if seconds is None:
        return "?"
    sign = "-" if seconds < 0 else "+"
    s = abs(seconds)
    if s < 120:
        return f"{sign}{s:.1f} s"
    whole = int(s)
    if whole < 7200:
        return f"{sign}{whole // 60} min {whole % 60:02d} s"
    if whole < 172800:
        return f"{sign}{whole // 3600} h {whole % 3600 // 60:02d} min"
    return f"{sign}{whole // 86400} d {whole % 86400 // 3600:02d} h"


def association_text(group_key: str, reason: str) -> str:
    """How an event came to its transient, in the association's own sentence."""
    return f"event {group_key}: {reason}"


def decision_text(rule: str, matched: bool, reason: str, error: str | None = None) -> str:
    mark = "✔" if matched else "✘"
    return f"{mark} {rule}: {reason}" + (f" ({error})" if error else "")


def position_text(ra: float | None, dec: float | None, error_deg: float | None) -> str:
    if ra is None or dec is None:
        return "no position"
    if error_deg is None:
        return f"RA {ra:.4f} Dec {dec:+.4f}, error not stated"
    error = f"{error_deg:.2f} deg" if error_deg >= 1 else f"{error_deg * 60:.2f} arcmin"
    return f"RA {ra:.4f} Dec {dec:+.4f} ± {error}"


def _when(value: Any) -> datetime | None:
    """A stored time: ours (fixed width) or ISO text (a service's observations, an alert's
    trigger time: no fraction on a whole second)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_ts(value)
    except ValueError:
        pass
    try:
        found = datetime.fromisoformat(value)
    except ValueError:
        return None
    return found if found.tzinfo else found.replace(tzinfo=UTC)


def _iso(value: datetime | None) -> str | None:
    """Milliseconds: triggers of one burst are seconds apart, and its notices less."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z" if value else None


@dataclass(frozen=True, slots=True)
class TransientRequest:
    id: int
    key: str
    api: str
    rule: str
    action: str
    event: str
    state: str
    remote_id: str | None
    reason: str | None

    @property
    def label(self) -> str:
        return f"#{self.id} {_API_WORDS.get(self.api, self.api)} (rule {self.rule})"

    @property
    def text(self) -> str:
        remote = f", {'TOO' if self.api == 'swift_too' else 'job'} {self.remote_id}"
        return f"{self.label}: {self.state}" + (remote if self.remote_id else "")


@dataclass(frozen=True, slots=True)
class TransientMember:
    group_key: str
    mission: str
    joined: bool
    reason: str


@dataclass(frozen=True, slots=True)
class TransientSummary:
    """One transient as ``transients list`` shows it."""

    id: int
    key: str
    trigger_time: datetime | None
    last_trigger: datetime | None
    ra: float | None
    dec: float | None
    error_deg: float | None
    updated_at: datetime | None
    members: list[TransientMember] = field(default_factory=list)
    requests: list[TransientRequest] = field(default_factory=list)

    @property
    def missions(self) -> list[str]:
        return list(dict.fromkeys(m.mission for m in self.members))

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "key": self.key,
            "trigger_time": _iso(self.trigger_time),
            "last_trigger": _iso(self.last_trigger),
            "missions": self.missions,
            "position": {"ra": self.ra, "dec": self.dec, "error_deg": self.error_deg},
            "position_text": position_text(self.ra, self.dec, self.error_deg),
            "updated_at": _iso(self.updated_at),
            "events": [asdict(m) for m in self.members],
            "requests": [asdict(r) | {"text": r.text} for r in self.requests],
        }


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One row of the timeline: when, what kind, about what, the sentence, and the fields
    a script wants (``data``)."""

    at: datetime | None
    since_trigger_s: float | None
    kind: str
    subject: str
    text: str
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def since_trigger(self) -> str:
        return since_text(self.since_trigger_s)

    def to_json(self) -> dict[str, Any]:
        return {
            "at": _iso(self.at),
            "since_trigger_s": (
                round(self.since_trigger_s, 3) if self.since_trigger_s is not None else None
            ),
            "since_trigger": self.since_trigger,
            "kind": self.kind,
            "subject": self.subject,
            "text": self.text,
            **self.data,
        }


@dataclass(frozen=True, slots=True)
class TransientTimeline:
    transient: TransientSummary
    entries: list[TimelineEntry]

    def to_json(self) -> dict[str, Any]:
        return {
            "transient": self.transient.to_json(),
            "timeline": [e.to_json() for e in self.entries],
        }


class TransientReads:
    """Read-only queries of transients (mixed into :class:`~autotoo.store.reads.ReadModels`)."""

    db: Database

    async def recent_transients(self, limit: int = 50) -> list[TransientSummary]:
        """Newest trigger first (a transient that spoke last is the one being watched)."""
        async with self.db.reading() as conn:
            cur = await conn.execute(
                "SELECT id FROM transients ORDER BY "
                "COALESCE(last_trigger, trigger_time, created_at) DESC, id DESC LIMIT ?",
                (limit,),
            )
            ids = [int(r[0]) for r in await cur.fetchall()]
        return await self._summaries(ids)

    async def find_transient(self, ident: str) -> TransientSummary | None:
        """By key (``T:fermi:800400263``) or numeric id."""
        column, value = ("id", int(ident)) if ident.isdigit() else ("key", ident)
        async with self.db.reading() as conn:
            cur = await conn.execute(
                f"SELECT id FROM transients WHERE {column} = ?",  # noqa: S608 a fixed column
                (value,),
            )
            row = await cur.fetchone()
        if row is None:
            return None
        found = await self._summaries([int(row[0])])
        return found[0] if found else None

    async def transient_timeline(self, ident: str) -> TransientTimeline | None:
        summary = await self.find_transient(ident)
        if summary is None:
            return None
        t0 = summary.trigger_time
        entries: list[tuple[tuple[datetime, int, int, int], TimelineEntry]] = []
        order = {kind: i for i, kind in enumerate(KINDS)}
        far = datetime.max.replace(tzinfo=UTC)

        def add(
            at: datetime | None,
            kind: str,
            subject: str,
            text: str,
            *,
            under: datetime | None = None,
            **data: Any,
        ) -> None:
            """``under``: the time the row is listed at, when not its own: a notice, its
            association and every decision on it are listed together, when it was evaluated
            (the notice's own row shows when it was received, a moment before)."""
            since = (at - t0).total_seconds() if at is not None and t0 is not None else None
            alert = (
                int(data.get("alert_id") or 0)
                if kind in {"notice", "association", "decision"}
                else 0
            )
            key = (under or at or far, alert, order.get(kind, 9), len(entries))
            entries.append((key, TimelineEntry(at, since, kind, subject, text, data)))

        await self._alert_entries(summary, add)
        await self._request_entries(summary, add)
        return TransientTimeline(summary, [e for _, e in sorted(entries, key=lambda p: p[0])])

    # ---- the parts ----------------------------------------------------------------------
    async def _summaries(self, ids: Sequence[int]) -> list[TransientSummary]:
        if not ids:
            return []
        marks = ", ".join("?" for _ in ids)
        async with self.db.reading() as conn:
            cur = await conn.execute(
                f"SELECT * FROM transients WHERE id IN ({marks})",  # noqa: S608
                tuple(ids),
            )
            rows = {int(r["id"]): r for r in await cur.fetchall()}
            cur = await conn.execute(
                "SELECT a.transient_id, e.group_key, e.mission, a.joined, a.reason "  # noqa: S608
                f"FROM associations a JOIN events e ON e.id = a.event_id "
                f"WHERE a.transient_id IN ({marks}) ORDER BY a.alert_id",
                tuple(ids),
            )
            members: dict[int, list[TransientMember]] = {}
            for tid, group_key, mission, joined, reason in await cur.fetchall():
                members.setdefault(int(tid), []).append(
                    TransientMember(group_key, mission, bool(joined), reason)
                )
            requests = await self._requests(conn, ids)
        return [
            TransientSummary(
                id=tid,
                key=rows[tid]["key"],
                trigger_time=parse_ts(rows[tid]["trigger_time"]),
                last_trigger=parse_ts(rows[tid]["last_trigger"]),
                ra=rows[tid]["ra"],
                dec=rows[tid]["dec"],
                error_deg=rows[tid]["error_deg"],
                updated_at=parse_ts(rows[tid]["updated_at"]),
                members=members.get(tid, []),
                requests=requests.get(tid, []),
            )
            for tid in ids
            if tid in rows
        ]

    @staticmethod
    async def _requests(conn: Any, ids: Sequence[int]) -> dict[int, list[TransientRequest]]:
        """The requests of each transient: made for it (``transient_id``), or for one of its
        events before transients existed (schema 5 rows have no ``transient_id``)."""
        marks = ", ".join("?" for _ in ids)
        cur = await conn.execute(
            "SELECT COALESCE(s.transient_id, a.transient_id), s.id, s.key, s.api, s.rule, "  # noqa: S608
            "s.action, e.group_key, s.state, s.remote_id, s.reason FROM submissions s "
            "JOIN events e ON e.id = s.event_id "
            "LEFT JOIN associations a ON a.event_id = s.event_id "
            f"WHERE s.transient_id IN ({marks}) "
            f"OR (s.transient_id IS NULL AND a.transient_id IN ({marks})) ORDER BY s.id",
            (*ids, *ids),
        )
        out: dict[int, list[TransientRequest]] = {}
        for tid, *rest in await cur.fetchall():
            out.setdefault(int(tid), []).append(TransientRequest(*rest))
        return out

    async def _alert_entries(self, summary: TransientSummary, add: Any) -> None:
        """Each event's trigger, each notice (when it was received), its association and
        every rule's decision on it (when it was evaluated)."""
        async with self.db.reading() as conn:
            cur = await conn.execute(
                "SELECT al.id, al.inbox_id, al.mission, al.notice_type, al.kind, al.is_test, "
                "al.trigger_time, al.ra, al.dec, al.error_deg, al.normalized, al.created_at, "
                "e.group_key, i.received_at, i.topic, a.alert_id AS first, a.joined, a.reason "
                "FROM associations a JOIN events e ON e.id = a.event_id "
                "JOIN alerts al ON al.event_id = e.id JOIN inbox i ON i.id = al.inbox_id "
                "WHERE a.transient_id = ? ORDER BY al.id",
                (summary.id,),
            )
            alerts = list(await cur.fetchall())
            marks = ", ".join("?" for _ in alerts) or "NULL"
            cur = await conn.execute(
                "SELECT alert_id, rule, matched, reason, error FROM decisions "  # noqa: S608
                f"WHERE alert_id IN ({marks}) ORDER BY alert_id, id",
                tuple(int(a["id"]) for a in alerts),
            )
            decisions: dict[int, list[Any]] = {}
            for d in await cur.fetchall():
                decisions.setdefault(int(d[0]), []).append(d)
        triggered: set[str] = set()
        for a in alerts:
            normalized = json.loads(a["normalized"])
            instrument = normalized.get("instrument")
            who = f"{a['mission']} {instrument}" if instrument else a["mission"]
            # the alert's own text (NormalizedAlert.to_json_dict), not the store's fixed width
            group_key, trigger = a["group_key"], _when(a["trigger_time"])
            if group_key not in triggered and trigger is not None:
                triggered.add(group_key)
                add(trigger, "trigger", group_key, f"{group_key} ({who}) triggered")
            t0 = summary.trigger_time
            offset = (trigger - t0).total_seconds() if trigger and t0 else None
            position = position_text(a["ra"], a["dec"], a["error_deg"])
            test = ", TEST" if a["is_test"] else ""
            evaluated, received = parse_ts(a["created_at"]), parse_ts(a["received_at"])
            add(
                received,
                "notice",
                group_key,
                f"{who} {a['notice_type']} ({a['kind']}{test}), alert #{a['id']}: trigger "
                f"{since_text(offset)}, {position}",
                under=evaluated,
                alert_id=a["id"],
                inbox_id=a["inbox_id"],
                mission=a["mission"],
                instrument=instrument,
                notice_type=a["notice_type"],
                notice_kind=a["kind"],
                topic=a["topic"],
                trigger_time=_iso(trigger),
                trigger_since_s=offset,
                ra=a["ra"],
                dec=a["dec"],
                error_deg=a["error_deg"],
            )
            if a["first"] == a["id"]:
                add(
                    evaluated,
                    "association",
                    group_key,
                    association_text(group_key, a["reason"]),
                    under=evaluated,
                    alert_id=a["id"],
                    joined=bool(a["joined"]),
                    reason=a["reason"],
                )
            for _, rule, matched, reason, error in decisions.get(int(a["id"]), []):
                add(
                    evaluated,
                    "decision",
                    rule,
                    decision_text(rule, bool(matched), reason, error),
                    under=evaluated,
                    alert_id=a["id"],
                    rule=rule,
                    matched=bool(matched),
                    reason=reason,
                    error=error,
                    covered="; covered by rule " in reason,
                )

    async def _request_entries(self, summary: TransientSummary, add: Any) -> None:
        """Every state change of its requests, what Swift observed and what was retrieved."""
        ids = [r.id for r in summary.requests]
        if not ids:
            return
        by_id = {r.id: r for r in summary.requests}
        marks = ", ".join("?" for _ in ids)
        async with self.db.reading() as conn:
            log = await (
                await conn.execute(
                    "SELECT submission_id, from_state, to_state, at, detail FROM submission_log "  # noqa: S608
                    f"WHERE submission_id IN ({marks}) ORDER BY id",
                    tuple(ids),
                )
            ).fetchall()
            observed = await (
                await conn.execute(
                    "SELECT submission_id, target_id, obsid, start_time, exposure_s "  # noqa: S608
                    f"FROM observations WHERE submission_id IN ({marks}) "
                    "ORDER BY start_time, obsid",
                    tuple(ids),
                )
            ).fetchall()
            products = await (
                await conn.execute(
                    "SELECT submission_id, kind, data, created_at FROM results "  # noqa: S608
                    f"WHERE submission_id IN ({marks}) ORDER BY id",
                    tuple(ids),
                )
            ).fetchall()
        for sub_id, before, after, at, detail in log:
            req = by_id[int(sub_id)]
            if before is None:
                moved = f"{after} for {req.event}"
            elif before == after:
                moved = f"still {after}"
            else:
                moved = f"{before} -> {after}"
            add(
                parse_ts(at),
                "request",
                req.label,
                f"{req.label}: {moved}" + (f" ({detail})" if detail else ""),
                submission_id=req.id,
                api=req.api,
                rule=req.rule,
                action=req.action,
                from_state=before,
                to_state=after,
                detail=detail,
            )
        for sub_id, target, obsid, start, exposure in observed:
            req = by_id[int(sub_id)]
            length = f", {exposure:.0f} s" if isinstance(exposure, int | float) else ""
            add(
                _when(start),
                "observation",
                req.label,
                f"Swift observed target {target}, obsid {obsid}{length} ({req.label})",
                submission_id=req.id,
                target_id=target,
                obsid=obsid,
                exposure_s=exposure,
            )
        for sub_id, kind, data, created in products:
            req = by_id[int(sub_id)]
            add(
                parse_ts(created),
                "product",
                req.label,
                f"{_product(kind, json.loads(data))} ({req.label})",
                submission_id=req.id,
                product=kind,
            )


def _product(kind: str, data: Any) -> str:
    """A product in a few words (``autotoo jobs show ID`` prints it whole)."""
    if isinstance(data, dict) and isinstance(data.get("ra"), int | float):
        err = data.get("err90_arcsec")
        error = f" ± {err:.1f} arcsec (90%)" if isinstance(err, int | float) else ""
        return f"XRT {kind}: RA {data['ra']:.5f} Dec {data['dec']:+.5f}{error}"
    if isinstance(data, dict) and data.get("got_pos") is False:
        return f"XRT {kind}: no position ({data.get('reason') or 'no reason given'})"
    if kind == "lightcurve":
        return f"XRT light curve: {len(lightcurve.points(data))} rate points"
    return f"XRT {kind} retrieved"
