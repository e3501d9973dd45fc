"""Planning: from one evaluated alert to the rows and notices to commit (pure, no I/O).

* Keys: ``submission_key(rule, event, action, 0)`` with event = the alert's group key
  (``once_per: event``) or group key + inbox key (``once_per: alert``). A second alert of the
  same event maps to the same key, so the UNIQUE constraint makes a second TOO impossible.
* ``settle``: the first match plans the row with ``not_before = now + settle``; later matches
  of the same event re-render the still-planned request (updates supersede: a better
  position replaces the old one before anything is sent).
* After submission, a better position (smaller error) is recorded with the alert and
  published as a notice; it never produces a second request.
* A retraction withholds every unsent row of the event, and (through the tracker) cancels
  its running XRT jobs; a notice says so for every rule that had work for the event.
* ``xrt_products`` with ``submit: after_observation`` is planned *waiting* on the rule's TOO;
  the tracker releases it when Swift has observed the target.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from autotoo.alerts.model import NormalizedAlert
from autotoo.pipeline.keys import submission_key
from autotoo.pipeline.notices import status_notices
from autotoo.pipeline.presend import spec_policies
from autotoo.pipeline.settings import PipelineSettings
from autotoo.rules import PlannedActions
from autotoo.store.rows import Api, Notice, PlannedSubmission, SubmissionRow, SubmissionState
from autotoo.store.specs import RuleBudget, Spec, TooSpec, XrtRetry, XrtSpec


@dataclass(slots=True)
class MatchedRule:
    """What the planner needs of one matched rule."""

    name: str
    actions: PlannedActions
    settle: timedelta | None
    once_per: str  # 'event' | 'alert'
    budget: RuleBudget | None
    channels: list[str] | None  # None: the default (MQTT status messages)
    xrt_retry: XrtRetry | None = None  # the rule's xrt_products.retry (its model's defaults)


@dataclass(slots=True)
class Plan:
    plans: list[PlannedSubmission] = field(default_factory=list)
    replans: dict[str, Spec] = field(default_factory=dict)
    notices: list[Notice] = field(default_factory=list)
    cancel_planned: bool = False


def _event_part(rule: MatchedRule, alert: NormalizedAlert, inbox_key: str) -> str:
    return alert.group_key if rule.once_per == "event" else f"{alert.group_key}#{inbox_key}"


def _position(alert: NormalizedAlert) -> dict[str, Any] | None:
    if alert.ra is None or alert.dec is None:
        return None
    err = alert.error_deg * 3600.0 if alert.error_deg is not None else None
    return {"ra": alert.ra, "dec": alert.dec, "err90_arcsec": err, "source": "alert"}


def plan_alert(
    *,
    alert: NormalizedAlert,
    inbox_key: str,
    earlier: Sequence[NormalizedAlert],
    matched: Sequence[MatchedRule],
    existing: Sequence[SubmissionRow],
    settings: PipelineSettings,
    now: datetime,
) -> Plan:
    plan = Plan()
    by_key = {row.key: row for row in existing}

    def notices(
        rule: str,
        channels: Sequence[str] | None,
        action: str,
        state: str,
        reason: str | None = None,
        **fields: Any,
    ) -> list[Notice]:
        return status_notices(
            prefix=settings.topic_prefix,
            channels=settings.channels(channels),
            event=alert.group_key,
            rule=rule,
            action=action,
            state=state,
            reason=reason,
            **fields,
        )

    if alert.kind == "retraction":
        plan.cancel_planned = True
        seen: set[tuple[str, str]] = set()
        for row in existing:
            if (row.rule, row.action) in seen or row.state.terminal:
                continue
            seen.add((row.rule, row.action))
            if row.api == Api.TOO and row.state is not SubmissionState.PLANNED:
                # No API withdraws a TOO: say so, and leave the tracking running.
                plan.notices += notices(
                    row.rule,
                    row.spec.notify,
                    row.action,
                    "needs_human",
                    "event retracted after the TOO was submitted: ask the Swift team to "
                    "withdraw it",
                    too_id=row.remote_id,
                )
                continue
            plan.notices += notices(
                row.rule, row.spec.notify, row.action, "cancelled", "event retracted"
            )
        return plan

    previous_best = min((a.error_deg for a in earlier if a.error_deg is not None), default=None)
    better = alert.error_deg is not None and (
        previous_best is None or alert.error_deg < previous_best
    )
    if better and earlier:
        for row in existing:
            if row.api == Api.TOO and row.state not in {
                SubmissionState.PLANNED,
                SubmissionState.CANCELLED,
            }:
                plan.notices += notices(
                    row.rule,
                    row.spec.notify,
                    "too",
                    row.state.value,
                    "a better position arrived after submission (no new TOO is sent)",
                    position=_position(alert),
                    too_id=row.remote_id,
                )

    for rule in matched:
        _plan_rule(plan, rule, alert, inbox_key, by_key, now, notices)
    return plan


def _plan_rule(
    plan: Plan,
    rule: MatchedRule,
    alert: NormalizedAlert,
    inbox_key: str,
    by_key: dict[str, SubmissionRow],
    now: datetime,
    notices: Any,
) -> None:
    actions = rule.actions
    event = _event_part(rule, alert, inbox_key)
    not_before = now + (rule.settle or timedelta(0))  # due now, or after settling
    too_key = submission_key(rule.name, event, "too")
    notify = tuple(rule.channels) if rule.channels is not None else None
    if actions.too is not None:
        policy = actions.too_policy or {}
        too = TooSpec(
            body=actions.too,
            marker=too_key,
            on_reject={
                kind: tuple(int(u) for u in resubmit["urgency"])
                for kind, resubmit in (policy.get("on_reject") or {}).items()
            },
            budget=rule.budget,
            notify=notify,
            debug=bool(policy.get("debug")),
            server_validate=bool(policy.get("server_validate")),
            check_uvot_mode=bool(policy.get("check_uvot_mode")),
            uvot_fallback=policy.get("uvot_fallback"),
            **spec_policies(policy),
        )
        existing = by_key.get(too_key)
        if existing is None:
            plan.plans.append(
                PlannedSubmission(
                    key=too_key, rule=rule.name, action="too", spec=too, not_before=not_before
                )
            )
            plan.notices += notices(
                rule.name,
                rule.channels,
                "too",
                "planned",
                f"settling until {not_before:%H:%M:%S}Z" if rule.settle else None,
                position=_position(alert),
            )
        elif existing.state is SubmissionState.PLANNED:
            plan.replans[too_key] = too  # updates supersede while still unsent
    if actions.xrt is not None:
        xrt_key = submission_key(rule.name, event, "xrt_products")
        rendered = actions.xrt
        after = rendered["submit"] == "after_observation" and actions.too is not None
        xrt = XrtSpec(
            globals=rendered["globals"],
            products=rendered["products"],
            name=f"autotoo {rule.name} {alert.group_key} {xrt_key}",
            retry=rule.xrt_retry,
            submit=rendered["submit"],
            notify=notify,
        )
        existing = by_key.get(xrt_key)
        if existing is None:
            plan.plans.append(
                PlannedSubmission(
                    key=xrt_key,
                    rule=rule.name,
                    action="xrt_products",
                    spec=xrt,
                    parent_key=too_key if after else None,
                    waiting=after,
                    not_before=None if after else not_before,
                )
            )
            plan.notices += notices(
                rule.name,
                rule.channels,
                "xrt_products",
                "planned",
                "waiting for the Swift observation" if after else None,
            )
        elif existing.state is SubmissionState.PLANNED and (
            existing.parent_id is None or existing.next_at is not None
        ):
            # Re-rendered with the better position; a request released by its TOO's
            # observation keeps the observed target ID the tracker set (no rule renders it).
            # Race-free: the tracker releases a row once, and a row still waiting is not
            # replanned at all.
            assert isinstance(existing.spec, XrtSpec)
            targ = existing.spec.globals.get("targ")
            if existing.parent_id is not None and targ is not None:
                xrt = xrt.with_globals(targ=targ)
            plan.replans[xrt_key] = xrt
    if actions.too is None and actions.xrt is None:
        texts = [str(n["text"]) for n in actions.notify if n.get("text")]
        plan.notices += notices(
            rule.name,
            rule.channels,
            "notify",
            "matched",
            "; ".join(texts) if texts else "rule matched",
            position=_position(alert),
        )
