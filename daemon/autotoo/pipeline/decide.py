"""What the rules decide for one alert: pure functions of the rule set, the alert, its
event's earlier alerts and the time.

Shared by the processor and ``autotoo replay`` (:mod:`autotoo.replay`), so that a replay
shows exactly what the daemon would plan.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from autotoo.alerts import NormalizedAlert
from autotoo.logs import get_logger
from autotoo.pipeline.planner import MatchedRule
from autotoo.pipeline.skymaps import without_skymap
from autotoo.rules import AlertContext, Decision, RenderError, RuleSet, evaluate, render_actions
from autotoo.store.rows import AssociationRecord, DecisionRecord
from autotoo.store.specs import ApprovalPolicy, RuleBudget, XrtRetry

log = get_logger("autotoo.processor")  # the processor's lines, as before the move


@dataclasses.dataclass(frozen=True, slots=True)
class RuleOutcome:
    """One rule's decision on one alert, as the store records it and the planner needs it."""

    decision: Decision
    record: DecisionRecord
    matched: MatchedRule | None  # None: no match, or the actions could not be rendered
    render_error: str | None = None


def decide_rules(
    ruleset: RuleSet,
    alert: NormalizedAlert,
    earlier: Sequence[NormalizedAlert],
    now: datetime,
    *,
    explain: bool = False,
    transient: Mapping[str, Any] | None = None,
) -> list[RuleOutcome]:
    """Evaluate every rule and render the actions of the matched ones (pure).

    Shared by the processor and ``autotoo replay`` (``explain=True``: a decision for every
    rule), so that a replay shows exactly what the daemon would plan.
    """
    ctx = AlertContext(alert, earlier, now, transient)
    outcomes = []
    for decision in evaluate(ruleset, alert, earlier, now=now, context=ctx, explain=explain):
        reason = decision.reason + (f" [{decision.clause}]" if decision.clause else "")
        matched_ok, matched, problem = decision.matched, None, None
        rule = ruleset.get(decision.rule)
        if matched_ok and rule is not None:
            try:
                actions = render_actions(rule, ctx)
            except RenderError as exc:
                matched_ok, problem = False, str(exc)
                reason = f"matched, but rendering failed: {exc}"
                log.warning("rule actions could not be rendered", rule=decision.rule, error=problem)
            else:
                spec = rule.spec
                matched = MatchedRule(
                    name=spec.name,
                    actions=actions,
                    settle=spec.settle,
                    once_per=spec.once_per,
                    budget=RuleBudget(spec.budget.max, spec.budget.per) if spec.budget else None,
                    xrt_retry=XrtRetry(spec.xrt_products.retry.every, spec.xrt_products.retry.for_)
                    if spec.xrt_products
                    else None,
                    channels=[c["channel"] for c in actions.notify] or None,
                    approve=ApprovalPolicy(spec.approve.within) if spec.approve else None,
                    priority=spec.priority,
                    repoint_beyond_deg=spec.repoint.beyond_arcmin / 60.0 if spec.repoint else None,
                    account=spec.account,
                )
        if rule is not None and rule.uses_skymaps:
            reason += without_skymap(alert, decision.error)
        record = DecisionRecord(decision.rule, decision.digest, matched_ok, reason, decision.error)
        outcomes.append(RuleOutcome(decision, record, matched, problem))
    return outcomes


def transient_view(association: AssociationRecord) -> dict[str, Any]:
    """``event.transient`` in conditions and templates."""
    members = association.members
    return {
        "key": association.transient_key,
        "events": [group_key for group_key, _ in members],
        "missions": sorted({mission for _, mission in members}),
        "joined": association.joined,
        "reason": association.reason,
    }


def impossible(alert: NormalizedAlert, now: datetime, max_clock_skew: timedelta) -> str | None:
    """Why a parsed alert cannot be real (None: nothing says so).

    Such an alert is refused whole -- stored as unparsed with this reason, never grouped
    into an event, never evaluated -- rather than evaluated with its matches withheld: a
    future-dated copy must not become an event's best position or its history, and an
    alert that names no event would be an event of its own at every copy (one TOO each).
    """
    if not alert.names_event:
        return "refused: the alert names no event (no id, event name or trigger number)"
    for label, when in (("trigger", alert.trigger_time), ("issue", alert.issued_time)):
        if when is not None and when - now > max_clock_skew:
            return (
                f"refused: its {label} time {when.isoformat()} lies in the future "
                f"(now {now.isoformat(timespec='seconds')}, max_clock_skew {max_clock_skew})"
            )
    return None


def covered(outcome: RuleOutcome, by: str | None) -> RuleOutcome:
    """A match whose request another rule's request for the transient already makes."""
    if by is None or outcome.matched is None:
        return outcome
    record = dataclasses.replace(outcome.record, reason=f"{outcome.record.reason}; {by}")
    return dataclasses.replace(outcome, record=record)


def not_acted_on(outcome: RuleOutcome, why: str) -> RuleOutcome:
    """A match the daemon must not act on (e.g. an alert older than max_alert_age)."""
    if outcome.matched is None:
        return outcome
    record = dataclasses.replace(
        outcome.record, matched=False, reason=f"matched, but {why}: not acted on"
    )
    return dataclasses.replace(outcome, record=record, matched=None)
