"""The processor: inbox rows -> parsed alert -> event -> rule decisions -> plans, one commit.

It works from the store, not from memory: each round takes the inbox rows still 'new', in
arrival order, so after a crash the same rows are simply taken again (their keys are
deterministic, so planning twice plans once). A payload that cannot be parsed is kept, marked
'unparsed' with its reason; nothing in an alert can crash this loop.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from autotoo.alerts import AlertParseError, NormalizedAlert, parse_alert
from autotoo.alerts.skymaps import SKYMAPS
from autotoo.logs import bind, get_logger, info_soon, unbind
from autotoo.memory import return_freed_memory
from autotoo.pipeline.associator import Associator
from autotoo.pipeline.decide import (
    covered,
    decide_rules,
    impossible,
    not_acted_on,
    transient_view,
)
from autotoo.pipeline.keys import alert_identity, content_key
from autotoo.pipeline.planner import plan_alert
from autotoo.pipeline.ports import SkymapPort
from autotoo.pipeline.settings import Clock, PipelineSettings, system_clock
from autotoo.pipeline.skymaps import fetch_skymaps
from autotoo.pipeline.worker import Worker
from autotoo.rules import (
    RuleSet,
    warm_up,
    warm_up_skymaps,
)
from autotoo.store.errors import ConflictError
from autotoo.store.repository import Repository
from autotoo.store.rows import (
    REPROCESSED,
    AlertOutcome,
    AssociationRecord,
    Duplicate,
    EventHistory,
    InboxRow,
    TransientHistory,
)

log = get_logger("autotoo.processor")

_CACHE_SIZE = 4096  # parsed alerts kept for event context (a GBM chain is ~10 alerts)
# Of which at most this many carry an embedded sky map (an LVK alert holds ~1 MB of base64):
# unbounded, 4096 of them were gigabytes (bench/skymap_path.py: +1 MB of RSS per LVK alert).
# As many as the decoded maps kept (alerts/skymaps.py), which share their base64 text. An
# alert evicted is read again from the store if its event speaks again.
_CACHE_MAPS = 8
# Seconds without a map alert after which those alerts and the decoded maps are released
# (issue 20: "the resident memory returns to its level after the alert"). An event's later
# alert then reads its earlier ones from the store and decodes their maps again (~20 ms per
# map); LVK updates of one superevent come minutes apart, the alerts of a burst seconds.
_MAPS_IDLE = 3.0
_ROUND = 200  # inbox rows read per round
_BATCH = 64  # alerts per durable commit: one fsync for many, without holding the first long
_TURNS = 3  # loop turns given to questions asked early (_questions_leave)


@dataclasses.dataclass(slots=True)
class ProcessorCounters:
    parsed: int = 0
    unparsed: int = 0
    duplicates: int = 0  # parsed copies of an alert already evaluated (same IVORN)
    matches: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    planned: int = 0


async def _questions_leave() -> None:
    """A few turns of the loop, so that questions just asked reach the wire before the
    commit that follows holds the loop (a turn each: the task, its queries' tasks, the
    connection's write); Swift then answers them while the plan is stored."""
    for _ in range(_TURNS):
        await asyncio.sleep(0)


class Processor(Worker):
    name = "processor"

    def __init__(
        self,
        repo: Repository,
        *,
        rules: Callable[[], RuleSet],
        settings: Callable[[], PipelineSettings],
        clock: Clock = system_clock,
        on_planned: Callable[[], None] | None = None,
        foresee: Callable[[Sequence[AlertOutcome]], bool] | None = None,
        on_alert: Callable[[NormalizedAlert, float | None], None] | None = None,
        planning_lock: asyncio.Lock | None = None,
        skymaps: SkymapPort | None = None,
    ) -> None:
        super().__init__()
        self.skymaps = skymaps  # None: maps published by URL are not fetched
        # Held from reading an event's rows to committing the plan (see Submitter._submit).
        self.planning_lock = planning_lock or asyncio.Lock()
        self.repo = repo
        self.rules = rules
        self.settings = settings
        self.clock = clock
        self.on_planned = on_planned or (lambda: None)
        # The submitter's early questions (Submitter.foresee): True when some were asked.
        self.foresee = foresee or (lambda _outcomes: False)
        self.on_alert = on_alert or (lambda _alert, _latency: None)
        self.counters = ProcessorCounters()
        self.associator = Associator(repo)
        self._cache: collections.OrderedDict[int, NormalizedAlert] = collections.OrderedDict()
        self._cached_maps: collections.OrderedDict[int, None] = collections.OrderedDict()
        self._maps_used: float | None = None  # monotonic time a map alert was last evaluated
        self._mark: int | None = None  # the evaluation mark this round read (shared store)
        self._stale = False  # this round lost a commit to another instance

    def notify_new(self, _inbox_id: int) -> None:
        self.wake.set()

    def idle_seconds(self) -> float:
        if self._maps_used is not None:  # wake to release them (see _release_maps)
            return max(0.05, self._maps_used + _MAPS_IDLE - time.monotonic())
        return 5.0  # a safety net: new inbox rows wake the processor at once

    def _release_maps(self) -> None:
        """Once no alert carrying a sky map has been evaluated for ``_MAPS_IDLE`` seconds,
        drop the parsed alerts that carry one (~1 MB of base64 each) and the decoded maps,
        and hand the freed memory back to the system: what the processor keeps for an
        event's later alerts is then its other alerts and the store, not whole maps."""
        if self._maps_used is None or time.monotonic() - self._maps_used < _MAPS_IDLE:
            return
        for alert_id in self._cached_maps:
            self._cache.pop(alert_id, None)
        self._cached_maps.clear()
        self._maps_used = None
        SKYMAPS.release()
        return_freed_memory()

    def again(self, worked: int) -> bool:
        # Every new inbox row wakes the processor, so a round that took fewer rows than its
        # limit left none behind; an extra round would only read an empty inbox, and on the
        # way to the POST the submitter has just been woken for.
        return worked >= _ROUND

    async def start(self) -> None:
        """Import astropy and fill the Sun/Moon caches, and import numpy for sky maps, in a
        thread before the first alert, when a rule needs them: a second of imports must not
        stall the event loop (and it happens after READY=1, so start-up stays fast)."""
        rules = self.rules()
        if rules.uses_astropy:
            await asyncio.to_thread(warm_up, self.clock())
        if rules.uses_skymaps:
            await asyncio.to_thread(warm_up_skymaps)

    async def step(self, limit: int = _ROUND) -> int:
        """Evaluate the waiting inbox rows, in arrival order, a batch per durable commit.

        A batch never holds two alerts of one event: an alert is planned against its
        event's stored history, so a second alert of the same event starts a new batch
        after the first one's commit. A crash leaves every row of an uncommitted batch
        'new', to be evaluated again with the same deterministic keys.

        A parsed alert whose identity (its IVORN) an earlier *parsed* alert already has is
        not evaluated again: its row is marked a duplicate of that alert's row. The inbox
        cannot tell this before parsing, and must not: an unparsed row never suppresses a
        later message.
        """
        # Several instances: read before anything else, required unchanged at each commit
        # (Leases.evaluation_mark says why); None on a store with one instance.
        self._mark = await self.repo.leases.evaluation_mark() if self.repo.db.shared else None
        self._stale = False
        rows = await self.repo.inbox_pending(limit=limit)
        if not rows:
            self._release_maps()
        batch: list[tuple[InboxRow, NormalizedAlert, AssociationRecord]] = []
        unparsed: list[tuple[InboxRow, str]] = []
        duplicates: list[Duplicate] = []
        transients: set[str] = set()
        now, skew = self.clock(), self.settings().max_clock_skew
        parsed_rows = [(row, self._parse(row, now, skew)) for row in rows]
        seen = self.repo.alerts_by_identity(
            [i for r, a in parsed_rows if not isinstance(a, str) and (i := _identity(r, a))]
        )
        todo: list[tuple[InboxRow, NormalizedAlert]] = []
        for row, parsed in parsed_rows:
            if self.stopping:
                break
            if isinstance(parsed, str):
                unparsed.append((row, parsed))
                continue
            identity = _identity(row, parsed)
            if identity is not None and identity in seen:
                duplicates.append(
                    Duplicate(row.id, seen[identity], f"duplicate of inbox #{seen[identity]}")
                )
                continue
            if identity is not None:
                seen[identity] = row.id
            todo.append((row, parsed))
        if self.skymaps is not None:
            await fetch_skymaps(self.skymaps, self.rules(), [alert for _, alert in todo])
        # Every alert's transient, in arrival order, before any is planned: a batch never
        # holds two alerts of one transient (each is planned against its stored requests).
        associations = self.associator.assign(
            [(row.id, alert) for row, alert in todo], self.settings().association
        )
        for row, parsed in todo:
            association = associations[row.id]
            if association.transient_key in transients or len(batch) >= _BATCH:
                await self._commit(batch, unparsed, duplicates)
                batch, unparsed, duplicates, transients = [], [], [], set()
            batch.append((row, parsed, association))
            transients.add(association.transient_key)
        if batch or unparsed or duplicates:
            await self._commit(batch, unparsed, duplicates)
        return len(rows)

    def _parse(self, row: InboxRow, now: datetime, skew: timedelta) -> NormalizedAlert | str:
        """The parsed alert, or why it is stored as unparsed (nothing in an alert raises):
        it does not parse, or it cannot be real (:func:`impossible`)."""
        try:
            alert = parse_alert(row.raw, row.topic)
            return impossible(alert, now, skew) or alert
        except AlertParseError as exc:
            return exc.reason
        except Exception as exc:
            bind(inbox_id=row.id)
            log.exception("parser failed unexpectedly")
            unbind("inbox_id")
            return f"internal parser error: {type(exc).__name__}: {exc}"

    async def _commit(
        self,
        batch: list[tuple[InboxRow, NormalizedAlert, AssociationRecord]],
        unparsed: list[tuple[InboxRow, str]],
        duplicates: Sequence[Duplicate] = (),
    ) -> None:
        if self._stale:
            return  # an earlier batch of this round lost to another instance: read again
        # The lock spans reading the events' rows to committing the plans (see
        # Submitter._submit): the submitter must not send what a retraction here cancels.
        async with self.planning_lock:
            histories = await self.repo.event_history(
                {alert.group_key for _, alert, _ in batch}, parsed=frozenset(self._cache)
            )
            requested = self.repo.transient_history([a.transient_key for _, _, a in batch])
            ruleset, settings, now = self.rules(), self.settings(), self.clock()
            # Earlier alerts parsed for this batch are cached only after it: a cache change
            # in the middle could evict an alert whose payload the read above left out.
            parsed_now: dict[int, NormalizedAlert] = {}
            evaluated = [
                self._decide(
                    row,
                    alert,
                    association,
                    histories.get(alert.group_key),
                    requested.get(association.transient_key),
                    ruleset,
                    settings,
                    now,
                    parsed_now,
                )
                for row, alert, association in batch
            ]
            for alert_id, parsed in parsed_now.items():
                self._remember(alert_id, parsed)
            outcomes = [e.outcome for e in evaluated]
            if self.foresee(outcomes):
                await _questions_leave()
            try:
                ids = await self.repo.commit_alerts(
                    outcomes,
                    [(row.id, reason) for row, reason in unparsed],
                    duplicates,
                    mark=self._mark,
                )
            except ConflictError as exc:
                # Another instance on the same database evaluated first (these rows, or
                # others since this round's reads); nothing of this batch was stored, and
                # the next round reads the inbox and the events again.
                log.info("batch evaluated by another instance; read again", reason=str(exc))
                self._stale = self._mark is not None
                self.wake.set()
                return
            if self._mark is not None:
                self._mark += 1
        for dup in duplicates:
            self.counters.duplicates += 1
            info_soon(log, "duplicate alert ignored", inbox_id=dup.inbox_id, reason=dup.reason)
        for row, reason in unparsed:
            self.counters.unparsed += 1
            log.warning("alert stored as unparsed", inbox_id=row.id, reason=reason, topic=row.topic)
        if any(done.acts for done in evaluated):
            self.on_planned()  # first: the submitter's turn comes before the log lines'
        for done, (alert_id, _event_id) in zip(evaluated, ids, strict=True):
            self._evaluated(done, alert_id, now)

    def _earlier(
        self, history: EventHistory | None, parsed_now: dict[int, NormalizedAlert]
    ) -> list[NormalizedAlert]:
        """The event's stored alerts, parsed (from the cache, which holds every alert whose
        payload the history left out, or parsed now and added to ``parsed_now``)."""
        if history is None:
            return []
        earlier = []
        for alert_id, topic, raw in history.sources:
            cached = self._cache.get(alert_id) or parsed_now.get(alert_id)
            if cached is not None and cached.skymap_b64 is not None:
                self._maps_used = time.monotonic()
            if cached is None:
                assert raw is not None, "the cache changed between the read and the batch"
                try:
                    cached = parse_alert(raw, topic)
                except AlertParseError:
                    continue
                parsed_now[alert_id] = cached
            earlier.append(cached)
        return earlier

    def _remember(self, alert_id: int, alert: NormalizedAlert) -> None:
        self._cache[alert_id] = alert
        self._cache.move_to_end(alert_id)
        while len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        if alert.skymap_b64 is not None:
            self._maps_used = time.monotonic()
            self._cached_maps[alert_id] = None
            self._cached_maps.move_to_end(alert_id)
            while len(self._cached_maps) > _CACHE_MAPS:
                oldest, _ = self._cached_maps.popitem(last=False)
                self._cache.pop(oldest, None)

    def _too_old(self, alert: NormalizedAlert, now: datetime) -> str | None:
        """Why the alert is too old to act on (None: fresh enough, or no time to judge by)."""
        when = alert.trigger_time or alert.issued_time
        limit = self.settings().max_alert_age
        if when is None or now - when <= limit:
            return None
        return (
            f"the alert is {(now - when).total_seconds() / 3600:.1f} h old (max_alert_age {limit})"
        )

    def _decide(  # noqa: PLR0917 one alert's whole context, passed once per alert
        self,
        row: InboxRow,
        alert: NormalizedAlert,
        association: AssociationRecord,
        history: EventHistory | None,
        requested: TransientHistory | None,
        ruleset: RuleSet,
        settings: PipelineSettings,
        now: datetime,
        parsed_now: dict[int, NormalizedAlert],
    ) -> _Evaluated:
        bind(inbox_id=row.id, event=alert.group_key)
        try:
            earlier = self._earlier(history, parsed_now)
            outcomes = decide_rules(
                ruleset, alert, earlier, now, transient=transient_view(association)
            )
        finally:
            unbind("inbox_id", "event")
        too_old = self._too_old(alert, now)
        if too_old is not None:
            outcomes = [not_acted_on(o, too_old) for o in outcomes]
        matched = [o.matched for o in outcomes if o.matched is not None]
        existing = {s.id: s for s in (history.submissions if history is not None else [])}
        for sub in requested.submissions if requested is not None else []:
            existing.setdefault(sub.id, sub)
        plan = plan_alert(
            alert=alert,
            inbox_key=content_key(alert, row.dedup_key),
            transient=association.transient_key,
            earlier=earlier,
            matched=matched,
            existing=sorted(existing.values(), key=lambda s: s.id),
            settings=settings,
            now=now,
            priorities=ruleset.priorities,
        )
        if plan.covered:
            outcomes = [covered(o, plan.covered.get(o.record.rule)) for o in outcomes]
        outcome = AlertOutcome(
            inbox_id=row.id,
            normalized=alert.to_json_dict(),
            group_key=alert.group_key,
            mission=alert.mission,
            event_key=alert.event_key,
            kind=alert.kind,
            is_test=alert.is_test,
            error_deg=alert.error_deg,
            identity=_identity(row, alert),
            decisions=[o.record for o in outcomes],
            plans=plan.plans,
            replans=plan.replans,
            cancel_planned=plan.cancel_planned,
            notices=plan.notices,
            association=association,
            reowned=plan.reowned,
        )
        acts = bool(
            plan.plans or plan.replans or plan.reowned or plan.cancel_planned or plan.notices
        )
        return _Evaluated(row, alert, [m.name for m in matched], outcome, acts)

    def _evaluated(self, done: _Evaluated, alert_id: int, now: datetime) -> None:
        """After the commit: counters, the cache, metrics and the log line."""
        self.counters.parsed += 1
        self.counters.matches.update(done.matched)
        self.counters.planned += len(done.outcome.plans)
        self._remember(alert_id, done.alert)
        self.on_alert(done.alert, (now - done.row.received_at).total_seconds())
        bind(inbox_id=done.row.id, event=done.alert.group_key)
        info_soon(
            log,
            "alert evaluated",
            alert_id=alert_id,
            kind=done.alert.kind,
            matched=done.matched,
            planned=len(done.outcome.plans),
        )
        if log.is_enabled_for(logging.DEBUG):  # one check per alert at other levels
            # After the info line and, like it, after the submitter's turn.
            asyncio.get_running_loop().call_soon(_debug_lines, done, alert_id)
        unbind("inbox_id", "event")


def _debug_lines(done: _Evaluated, alert_id: int) -> None:
    """What ``log.level: debug`` adds: the parsed alert, and each rule's verdict and why."""
    alert = done.alert
    log.debug(
        "alert parsed",
        alert_id=alert_id,
        mission=alert.mission,
        notice_type=alert.notice_type,
        event_key=alert.event_key,
        trigger_time=alert.trigger_time.isoformat() if alert.trigger_time else None,
        ra=alert.ra,
        dec=alert.dec,
        error_deg=alert.error_deg,
        is_test=alert.is_test,
    )
    for decision in done.outcome.decisions:
        log.debug(
            "rule decision",
            alert_id=alert_id,
            rule=decision.rule,
            matched=decision.matched,
            reason=decision.reason,
            error=decision.error,
        )


@dataclasses.dataclass(frozen=True, slots=True)
class _Evaluated:
    row: InboxRow
    alert: NormalizedAlert
    matched: list[str]
    outcome: AlertOutcome
    acts: bool  # it planned, replanned, cancelled or queued notices: wake the submitter


def _identity(row: InboxRow, alert: NormalizedAlert) -> str | None:
    """The alert's identity for deduplication; none for a copy ``autotoo alerts reprocess``
    stored on purpose (it is meant to be evaluated again, and the first copy keeps the
    identity's unique index entry)."""
    return None if row.source == REPROCESSED else alert_identity(alert)
