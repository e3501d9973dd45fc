"""Replay: saved alerts through the daemon's own decisions and planning, with nothing sent.

``autotoo replay`` answers "what would the daemon have done with these alerts?". It calls
the same code the daemon runs -- :func:`~autotoo.pipeline.decide.decide_rules` and
:func:`~autotoo.pipeline.planner.plan_alert` -- against an in-memory event grouping instead of
the store, so updates of one event see the earlier alerts and ``once_per: event`` plans once.
Events are associated into transients as the processor does, in memory
(:class:`~autotoo.pipeline.associator.MemoryAssociator`), so the rules of one transient share
its requests, and each alert's report says which transient its event belongs to and why, in
the words ``autotoo transients show`` uses.
The request bodies are built by the real clients' encoders (the Swift client's local
validation and wire form, :class:`~autotoo.xrtrequest.request.XrtRequest`), never sent.

Time: each alert is evaluated at its own issue time (else its trigger time), the moment the
daemon would have seen it live; Sun and Moon distances and ``settle`` windows depend on it.
A planned row whose settle window has passed by a later alert's time counts as sent (dry-run:
done), so that later alert cannot re-render it, exactly as in the daemon.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import PurePath
from typing import Any

from pydantic import ValidationError

from autotoo.alerts import AlertParseError, NormalizedAlert, parse_alert
from autotoo.alerts.streams import topic_of_payload
from autotoo.durations import human_duration
from autotoo.pipeline import presend
from autotoo.pipeline.associator import MemoryAssociator
from autotoo.pipeline.decide import RuleOutcome, decide_rules, impossible, transient_view
from autotoo.pipeline.keys import alert_identity, content_key, inbox_key
from autotoo.pipeline.planner import Plan, plan_alert
from autotoo.pipeline.settings import PipelineSettings
from autotoo.rules import Decision, RuleSet
from autotoo.store.rows import Notice, PlannedSubmission, SubmissionRow, SubmissionState
from autotoo.store.specs import TooSpec, XrtSpec
from autotoo.store.transient_reads import association_text
from autotoo.swift import SwiftClient, TooRequest
from autotoo.swift.base import ANONYMOUS
from autotoo.swift.v1 import API_VERSION as SWIFT_V1_API_VERSION
from autotoo.swift.wire import v1_api_data, v2_form
from autotoo.xrtrequest.errors import RequestError
from autotoo.xrtrequest.request import XrtRequest

S = SubmissionState

# ---- the topic a saved file arrived on ----------------------------------------------------

# Topic levels that contain an underscore themselves; every other underscore in a file name
# stands for a dot. (Kafka topic names: gcn.notices.einstein_probe.wxt.alert,
# gcn.notices.icecube.lvk_nu_track_search, gcn.notices.superk.sn_alert, ...)
_COMPOUND_LEVELS = (
    ("einstein", "probe"),
    ("lvk", "nu", "track", "search"),
    ("gold", "bronze", "track", "alerts"),
    ("single", "neutrino", "alerts"),
    ("sn", "alert"),
)
_NUMBER_PREFIX = re.compile(r"\A(?:\d+_)+")  # "<seq>_<offset>_" (captures), "<id>_" (export)
_CLASSIC = re.compile(r"\Agcn_classic_(voevent|text|binary)_(\w+)\Z")


def _levels(tokens: list[str]) -> list[str]:
    out: list[str] = []
    index = 0
    while index < len(tokens):
        for compound in _COMPOUND_LEVELS:
            if tuple(tokens[index : index + len(compound)]) == compound:
                out.append("_".join(compound))
                index += len(compound)
                break
        else:
            out.append(tokens[index])
            index += 1
    return out


def topic_from_filename(name: str) -> str | None:
    """The Kafka topic of a saved alert file named ``[<numbers>_]<topic, dots as _>.<ext>``.

    ``000002_3969_gcn_classic_voevent_fermi_gbm_flt_pos.xml`` ->
    ``gcn.classic.voevent.FERMI_GBM_FLT_POS`` (classic notice types are upper case);
    ``..._gcn_notices_einstein_probe_wxt_alert.json`` -> ``gcn.notices.einstein_probe.wxt.alert``.
    None when the name follows no known topic family (the parser then reads the payload).
    """
    stem = _NUMBER_PREFIX.sub("", PurePath(name).stem, count=1)
    if stem == "igwn_gwalert":
        return "igwn.gwalert"
    classic = _CLASSIC.match(stem)
    if classic:
        return f"gcn.classic.{classic.group(1)}.{classic.group(2).upper()}"
    if stem.startswith("gcn_notices_") and len(stem) > len("gcn_notices_"):
        return ".".join(["gcn", "notices", *_levels(stem.split("_")[2:])])
    return None


def export_filename(inbox_id: int, topic: str | None, raw: bytes) -> str:
    """The name ``alerts export`` gives a stored payload, so that replay re-infers its topic."""
    ext = "xml" if raw.lstrip()[:1] == b"<" else "json"
    label = topic.strip().strip("/").replace("/", ".").replace(".", "_") if topic else "no-topic"
    return f"{inbox_id:08d}_{label}.{ext}"


# ---- request bodies as the clients would send them ----------------------------------------


@dataclass(frozen=True, slots=True)
class WireBody:
    """One request as it would go on the wire, and what the client would say about it."""

    form: str  # "swift v2 form" | "swift v1 api_data" | "ukssdc json"
    body: Any
    warnings: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "form": self.form,
            "body": self.body,
            "warnings": self.warnings,
            "problems": self.problems,
        }


XrtBuilder = Callable[[dict[str, Any], str], XrtRequest]


class WireRenderer:
    """Builds request bodies with the real client code (local validation included), sends none.

    ``build_xrt`` is the UKSSDC adapter's ``build`` (the same conversion the submitter uses);
    ``xrt_problem`` is said of every XRT body (e.g. no ``ukssdc.user_id`` configured).
    """

    def __init__(
        self,
        swift: SwiftClient,
        build_xrt: XrtBuilder,
        *,
        debug_mode: bool,
        xrt_problem: str | None = None,
    ) -> None:
        self.swift = swift
        self.build_xrt = build_xrt
        self.debug_mode = debug_mode
        self.xrt_problem = xrt_problem

    def too(self, spec: TooSpec) -> WireBody:
        form = f"swift {self.swift.protocol} {'form' if self.swift.protocol == 'v2' else 'json'}"
        debug = self.debug_mode or spec.debug  # as the submitter decides
        try:
            req = TooRequest.model_validate({**spec.body, "marker": spec.marker, "debug": debug})
        except (ValidationError, ValueError) as exc:
            return WireBody(form, None, problems=[f"invalid TOO request: {exc}"])
        checked = self.swift.check(req)
        problems = list(checked.errors)
        if self.swift.username == ANONYMOUS:  # the client refuses to submit as anonymous
            problems.append("Anonymous users cannot submit TOO requests.")
        sent = checked.request.model_copy(update={"validate_only": False})
        body: Any
        if self.swift.protocol == "v2":
            body = [[k, v] for k, v in v2_form(sent, username=self.swift.username)]
        else:
            body = {
                "api_name": "Swift_TOO_Request",
                "api_version": SWIFT_V1_API_VERSION,
                "api_data": v1_api_data(sent, username=self.swift.username),
            }
        return WireBody(form, body, list(checked.warnings), problems)

    def xrt(self, spec: XrtSpec, *, waiting: bool = False) -> WireBody:
        """``waiting``: released after the TOO is observed, when the tracker sets ``targ``."""
        problems = [self.xrt_problem] if self.xrt_problem else []
        try:
            xrt = self.build_xrt({"globals": spec.globals, "products": spec.products}, spec.name)
        except (RequestError, ValueError, TypeError) as exc:
            return WireBody(
                "ukssdc json", None, problems=[*problems, f"invalid XRT request: {exc}"]
            )
        ok, report = xrt.is_valid(assume_set=("targ",) if waiting else ())
        if not ok:
            problems.append(report.strip())
        warnings = ["targ is set to the observed target ID when the job is released"] * waiting
        return WireBody("ukssdc json", xrt.to_json(), warnings, problems)


# ---- the replay itself --------------------------------------------------------------------


@dataclass(slots=True)
class ActionReport:
    action: str  # too | xrt_products | notify
    status: str
    key: str | None = None
    wire: WireBody | None = None
    asked: str | None = None  # what is asked of Swift before sending (pipeline.presend)

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "status": self.status,
            "key": self.key,
            "request": self.wire.to_json() if self.wire else None,
            "before_sending": self.asked,
        }


@dataclass(slots=True)
class RuleReport:
    """A rule's decision; ``matched``/``reason`` differ from it when rendering failed."""

    decision: Decision
    matched: bool
    reason: str
    actions: list[ActionReport] = field(default_factory=list)

    @property
    def rule(self) -> str:
        return self.decision.rule

    @property
    def clause(self) -> str | None:
        return self.decision.clause

    def to_json(self) -> dict[str, Any]:
        return {
            **self.decision.to_json(),
            "matched": self.matched,
            "reason": self.reason,
            "actions": [a.to_json() for a in self.actions],
        }


@dataclass(slots=True)
class AlertReport:
    file: str
    topic: str | None
    topic_source: str  # "file name" | "--topic" | "payload"
    error: str | None = None
    duplicate_of: str | None = None
    alert: NormalizedAlert | None = None
    evaluated_at: datetime | None = None
    transient: str | None = None  # the transient its event belongs to
    association: str | None = None  # why (the sentence stored with the association)
    rules: list[RuleReport] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def association_line(self) -> str | None:
        """``transient T:...: event ...: joined T:... because ...`` (the timeline's words)."""
        if self.transient is None or self.alert is None:
            return None
        why = association_text(self.alert.group_key, self.association or "")
        return f"transient {self.transient}: {why}"

    @property
    def parsed(self) -> bool:
        return self.error is None

    def to_json(self) -> dict[str, Any]:
        a = self.alert
        return {
            "file": self.file,
            "topic": self.topic,
            "topic_source": self.topic_source,
            "parsed": self.parsed,
            "error": self.error,
            "duplicate_of": self.duplicate_of,
            "mission": a.mission if a else None,
            "notice_type": a.notice_type if a else None,
            "event_key": a.event_key if a else None,
            "group_key": a.group_key if a else None,
            "kind": a.kind if a else None,
            "is_test": a.is_test if a else None,
            "evaluated_at": self.evaluated_at.isoformat() if self.evaluated_at else None,
            "transient": self.transient,
            "association": self.association,
            "rules": [r.to_json() for r in self.rules],
            "notes": self.notes,
        }


@dataclass(slots=True)
class _Event:
    id: int
    alerts: list[NormalizedAlert] = field(default_factory=list)
    rows: list[SubmissionRow] = field(default_factory=list)


class Replay:
    """Feeds alerts one by one, in order, keeping each event's alerts and planned rows."""

    def __init__(self, ruleset: RuleSet, settings: PipelineSettings, wire: WireRenderer) -> None:
        self.ruleset = ruleset
        self.settings = settings
        self.wire = wire
        self._events: dict[str, _Event] = {}
        self._seen: dict[str, str] = {}  # inbox content key or alert identity -> first file
        self._associator = MemoryAssociator(settings.association)
        self._rows: dict[str, list[SubmissionRow]] = {}  # transient key -> its requests
        self._ids = itertools.count(1)

    def feed(self, name: str, raw: bytes, topic: str | None, topic_source: str) -> AlertReport:
        """Evaluate one saved alert. Without a topic, the topic its payload names (as a drop
        folder gives it), so a VOEvent reaches the rules written for its stream."""
        if topic is None:
            topic, topic_source = topic_of_payload(raw), "payload"
        report = AlertReport(name, topic, topic_source)
        key, _digest = inbox_key(raw, topic)
        if key in self._seen:  # the inbox keeps one row per content key
            report.duplicate_of = self._seen[key]
            report.notes.append(f"duplicate of {self._seen[key]}: the daemon stores it once")
            return report
        self._seen[key] = name
        try:
            alert = parse_alert(raw, topic)
        except AlertParseError as exc:
            report.error = exc.reason
            return report
        # As the processor refuses it (the wall clock: no replayed time makes it possible).
        why = impossible(alert, datetime.now(UTC), self.settings.max_clock_skew)
        if why is not None:
            report.error = why
            return report
        identity = alert_identity(alert)
        if identity is not None:  # the processor evaluates one alert per IVORN
            if identity in self._seen:
                report.duplicate_of = self._seen[identity]
                report.notes.append(
                    f"duplicate of {self._seen[identity]} (same IVORN): evaluated once"
                )
                return report
            self._seen[identity] = name
        report.alert = alert
        now = alert.issued_time or alert.trigger_time or datetime.now(UTC)
        report.evaluated_at = now
        association = self._associator.assign(alert)
        report.transient, report.association = association.transient_key, association.reason
        event = self._events.get(alert.group_key)
        if event is None:  # its requests are its transient's (once_per: transient shares them)
            event = self._events[alert.group_key] = _Event(next(self._ids))
            event.rows = self._rows.setdefault(report.transient, [])
        self._advance(event, now)
        outcomes = decide_rules(
            self.ruleset,
            alert,
            event.alerts,
            now,
            explain=True,
            transient=transient_view(association),
        )
        plan = plan_alert(
            alert=alert,
            inbox_key=content_key(alert, key),
            earlier=event.alerts,
            matched=[o.matched for o in outcomes if o.matched is not None],
            existing=event.rows,
            settings=self.settings,
            now=now,
            transient=report.transient,
            priorities=self.ruleset.priorities,
        )
        before = {row.key: row.state for row in event.rows}
        self._apply(event, plan, now, report)
        report.notes += publish_notes(plan.notices)
        for outcome in outcomes:  # cover: auto says why it chose a pointing, tiles or galaxies
            chosen = outcome.matched
            if chosen is not None and chosen.actions.coverage is not None:
                coverage = chosen.actions.coverage
                targets = len(chosen.actions.too_targets)
                report.notes.append(
                    f"{chosen.name}: cover: {coverage['choice']} ({targets} TOO bodies): "
                    f"{coverage['explanation']}"
                )
        report.rules = [self._rule_report(o, plan, event, before) for o in outcomes]
        event.alerts.append(alert)
        return report

    def _advance(self, event: _Event, now: datetime) -> None:
        """Rows whose time has come by ``now`` would have been sent (dry-run: marked done)."""
        sent = S.DONE if self.settings.dry_run else S.SUBMITTED
        for row in event.rows:
            if row.state is S.PLANNED and row.next_at is not None and row.next_at <= now:
                row.state, row.sent_at, row.updated_at = sent, row.next_at, row.next_at

    def _apply(self, event: _Event, plan: Plan, now: datetime, report: AlertReport) -> None:
        """What ``Repository.commit_alert`` does with a plan, on the in-memory rows."""
        known = {row.key for row in event.rows}
        for p in plan.plans:
            if p.key not in known:  # ON CONFLICT (key) DO NOTHING
                event.rows.append(self._row(event, p, now))
        for row in event.rows:
            if row.key in plan.replans and row.state is S.PLANNED:
                row.spec = plan.replans[row.key]
            if row.key in plan.reowned and row.state is S.PLANNED:  # taken over
                row.rule = plan.reowned[row.key]
        if plan.cancel_planned:  # the event's own rows, as the store withholds them
            own = [row for row in event.rows if row.event_id == event.id]
            withheld = [row for row in own if row.state is S.PLANNED]
            for row in withheld:
                row.state, row.reason = S.CANCELLED, "retracted"
            running = [r for r in own if r.state in {S.SUBMITTED, S.TRACKING}]
            if not own:
                report.notes.append("retraction: nothing was planned for this event")
                return
            report.notes.append(
                f"retraction: {len(withheld)} unsent request(s) of this event withheld"
                + (f"; {len(running)} sent request(s) left to the tracker" if running else "")
            )

    def _row(self, event: _Event, plan: PlannedSubmission, now: datetime) -> SubmissionRow:
        return SubmissionRow(
            id=next(self._ids),
            key=plan.key,
            api=plan.api,
            rule=plan.rule,
            event_id=event.id,
            action=plan.action,
            attempt=plan.attempt,
            parent_id=None,
            state=S.PLANNED,
            spec=plan.spec,
            remote_id=None,
            sent_at=None,
            not_before=plan.not_before,
            next_at=None if plan.waiting else plan.not_before or now,
            reason=None,
            created_at=now,
            updated_at=now,
        )

    def _rule_report(
        self, outcome: RuleOutcome, plan: Plan, event: _Event, before: dict[str, S]
    ) -> RuleReport:
        d = outcome.decision
        reason = outcome.record.reason if outcome.render_error else d.reason
        covered = plan.covered.get(d.rule) if outcome.matched is not None else None
        if covered is not None:  # the processor's words (pipeline/decide.py, ``covered``)
            reason = f"{reason}; {covered}"
        report = RuleReport(d, outcome.matched is not None, reason)
        if outcome.matched is None:
            return report
        new = {p.key: p for p in plan.plans if p.rule == d.rule and p.key not in before}
        for row in (r for r in event.rows if r.rule == d.rule):
            if row.key in new:
                status = "new request"
                if new[row.key].waiting:
                    status += ", waiting for the Swift observation of the TOO"
                elif row.not_before is not None and row.not_before > row.created_at:
                    status += f", settling until {row.not_before:%Y-%m-%d %H:%M:%S}Z"
                if row.spec.approve is not None:  # the replay then takes it as approved
                    within = human_duration(row.spec.approve.within)
                    status += f"; then waits for a person's approval (lapses after {within})"
                report.actions.append(self._action(row, status))
            elif row.key in plan.replans:
                status = "already planned for this event (would re-render while settling)"
                report.actions.append(self._action(row, status))
            elif row.key in before and outcome.matched.once_per in {"event", "transient"}:
                scope = outcome.matched.once_per
                report.actions.append(ActionReport(row.action, self._already(row, scope), row.key))
        actions = outcome.matched.actions
        if actions.too is None and actions.xrt is None:
            texts = [str(n["text"]) for n in actions.notify if n.get("text")]
            report.actions.append(
                ActionReport("notify", "notify only: " + ("; ".join(texts) or "rule matched"))
            )
        return report

    def _already(self, row: SubmissionRow, scope: str = "event") -> str:
        head = f"already planned for this {scope}"
        if row.state is S.CANCELLED:
            return f"{head}, then withheld ({row.reason}): no second request"
        if row.state is S.PLANNED:
            return f"{head} (waiting for the Swift observation): no second request"
        sent = f"{row.sent_at:%Y-%m-%d %H:%M:%S}Z" if row.sent_at else "?"
        how = "recorded as done, nothing sent (dry-run)" if self.settings.dry_run else "sent"
        return f"{head}, {how} at {sent}, before this alert: no second request"

    def _action(self, row: SubmissionRow, status: str) -> ActionReport:
        asked = None
        if isinstance(row.spec, TooSpec):
            wire = self.wire.too(row.spec)
            asked = presend.describe(row.spec)
        else:
            wire = self.wire.xrt(row.spec, waiting=row.next_at is None)
        return ActionReport(row.action, status, row.key, wire, asked)


def publish_notes(notices: Sequence[Notice]) -> list[str]:
    """The status messages a plan publishes, one line per step (MQTT sends each step twice)."""
    steps: dict[tuple[str, ...], set[str]] = {}
    for notice in notices:
        body = notice.payload
        step = (body["rule"], body["action"], body["state"], body.get("reason") or "")
        steps.setdefault(step, set()).add(notice.channel)
    return [
        f"would publish ({', '.join(sorted(channels))}): {rule} {action} {state}"
        + (f" ({reason})" if reason else "")
        for (rule, action, state, reason), channels in steps.items()
    ]
