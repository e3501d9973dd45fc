"""Planning: from one evaluated alert to the rows and notices to commit (pure, no I/O).

* Keys: ``submission_key(rule, scope, action, attempt)``. The scope is the alert's
  transient (``once_per: transient``, the default; the rule part is then :data:`SHARED`, so
  every rule of the transient has the same key and the UNIQUE constraint makes a second
  request impossible), its event's group key (``once_per: event``) or group key + inbox
  key (``once_per: alert``). A second alert of the same scope maps to the same key.
* Arbitration: the first rule to match plans; among rules matching one alert the highest
  ``priority`` wins; a later rule is *covered* (its decision says by whom), unless its
  priority is higher and the request unsent: then it takes it over.
* ``settle``: the first match plans the row with ``not_before = now + settle``; later matches
  re-render the still-planned request (updates supersede: a better position replaces the
  old one before anything is sent, whichever of the transient's events brings it).
* After submission, a better position is published as a notice; one beyond the rule's
  ``repoint`` distance from the sent pointing plans a new pointing (a new key), with why.
* A retraction withholds every unsent row its event planned, and (through the tracker)
  cancels its running XRT jobs; another event of the transient that still wants the request
  plans the next attempt.
* ``xrt_products`` with ``submit: after_observation`` is planned *waiting* on the TOO;
  the tracker releases it when Swift has observed the target.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from autotoo.alerts.model import NormalizedAlert
from autotoo.alerts.values import separation_deg
from autotoo.config.models import DEFAULT_ACCOUNT
from autotoo.pipeline.keys import submission_key
from autotoo.pipeline.notices import status_notices
from autotoo.pipeline.presend import spec_policies
from autotoo.pipeline.settings import PipelineSettings
from autotoo.rules import PlannedActions
from autotoo.store.rows import Api, Notice, PlannedSubmission, SubmissionRow, SubmissionState
from autotoo.store.specs import (
    ApprovalPolicy,
    RuleBudget,
    Spec,
    TooSpec,
    XrtRetry,
    XrtSpec,
)

S = SubmissionState

#: Swift XRT's field of view: 23.6 arcmin across.
XRT_FOV_RADIUS_DEG = 11.8 / 60.0


@dataclass(slots=True)
class MatchedRule:
    """What the planner needs of one matched rule."""

    name: str
    actions: PlannedActions
    settle: timedelta | None
    once_per: str  # 'transient' | 'event' | 'alert'
    budget: RuleBudget | None
    channels: list[str] | None  # None: the default (MQTT status messages)
    xrt_retry: XrtRetry | None = None  # the rule's xrt_products.retry (its model's defaults)
    priority: int = 0
    repoint_beyond_deg: float | None = XRT_FOV_RADIUS_DEG  # None: never re-point
    approve: ApprovalPolicy | None = None  # the rule's `approve` (pipeline/approval.py)
    account: str = DEFAULT_ACCOUNT  # whose credentials send its requests (the rule's `account`)


@dataclass(slots=True)
class Plan:
    plans: list[PlannedSubmission] = field(default_factory=list)
    replans: dict[str, Spec] = field(default_factory=dict)
    notices: list[Notice] = field(default_factory=list)
    cancel_planned: bool = False
    covered: dict[str, str] = field(default_factory=dict)  # rule -> by whose request, why
    reowned: dict[str, str] = field(default_factory=dict)  # key -> the rule taking it over


#: The rule part of a key shared by every rule of a transient (not a valid rule name).
SHARED = "*"


def _scope(rule: MatchedRule, alert: NormalizedAlert, inbox_key: str, transient: str) -> str:
    if rule.once_per == "transient":
        return transient
    if rule.once_per == "event":
        return alert.group_key
    return f"{alert.group_key}#{inbox_key}"


def _keys(
    rule: MatchedRule,
    scope: str,
    xrt: Mapping[str, Any] | None,
    by_key: dict[str, SubmissionRow],
    alert: NormalizedAlert,
) -> tuple[str, str | None]:
    """(TOO key, XRT key): shared by every rule of the transient, else the rule's own. A
    shared XRT key names the products and when they are submitted, so two rules asking for
    the same products of the TOO's target share one job, while different products, or
    products of Swift's own trigger (``immediately``) beside those of the TOO's target
    (``after_observation``), make two."""
    if rule.once_per != "transient":
        return (
            submission_key(rule.name, scope, "too"),
            submission_key(rule.name, scope, "xrt_products") if xrt is not None else None,
        )
    too = _current(lambda n: submission_key(SHARED, scope, "too", n), by_key, alert)
    if xrt is None:
        return too, None
    what = f"xrt_products:{xrt['submit']}:{'+'.join(sorted(xrt['products']))}"
    return too, _current(lambda n: submission_key(SHARED, scope, what, n), by_key, alert)


def _current(
    key_of: Callable[[int], str], by_key: dict[str, SubmissionRow], alert: NormalizedAlert
) -> str:
    """The key a transient's request has now: attempt 0, unless another event's retraction
    withheld it while unsent; then the next attempt, for this event that still wants it
    (a retraction withdraws what its own event planned, not the transient's request)."""
    attempt = 0
    while True:
        key = key_of(attempt)
        row = by_key.get(key)
        if (
            row is None
            or row.state is not S.CANCELLED
            or row.reason != "retracted"
            or row.group_key == alert.group_key
        ):
            return key
        attempt += 1


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
    transient: str | None = None,
    priorities: Mapping[str, int] | None = None,
) -> Plan:
    """``existing``: the requests of the alert's event and of its transient (``transient``:
    its key; None: the event is its own). ``priorities``: of every loaded rule, for a rule
    that matched earlier and now meets a rule of higher priority."""
    plan = Plan()
    by_key = {row.key: row for row in existing}
    transient = transient or f"T:{alert.group_key}"
    priority_of = dict(priorities or {}) | {rule.name: rule.priority for rule in matched}

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
            if row.api == Api.TOO and not row.state.unsent:
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

    ordered = sorted(matched, key=lambda r: (-r.priority, r.name))
    for rule in ordered:
        _plan_rule(plan, rule, alert, inbox_key, transient, by_key, priority_of, now, notices)
    _follow_position(plan, alert, earlier, existing, ordered, now, notices)
    return plan


def _follow_position(
    plan: Plan,
    alert: NormalizedAlert,
    earlier: Sequence[NormalizedAlert],
    existing: Sequence[SubmissionRow],
    matched: Sequence[MatchedRule],
    now: datetime,
    notices: Any,
) -> None:
    """A better position than a TOO of the transient was planned or sent with: an unsent
    one is re-aimed; a sent one is told (published), or, when the position lies outside
    what it covers, a new pointing is planned (the rule's ``repoint``)."""
    if alert.ra is None or alert.dec is None or alert.error_deg is None:
        return
    err_arcmin = alert.error_deg * 60.0
    previous_best = min((a.error_deg for a in earlier if a.error_deg is not None), default=None)
    better_than_event = previous_best is None or alert.error_deg < previous_best
    toos = [r for r in existing if r.api == Api.TOO and isinstance(r.spec, TooSpec)]
    sent = [
        r
        for r in toos
        if r.state not in {S.PLANNED, S.CANCELLED, S.REJECTED, S.NEEDS_APPROVAL}
        and not (r.state is S.DONE and r.remote_id is None)  # dry-run: nothing was sent
    ]
    latest = max(sent, key=lambda r: r.id, default=None)
    for row in toos:
        spec = row.spec
        assert isinstance(spec, TooSpec)
        if not row.state.unsent or row.key in plan.replans:  # waiting for approval too
            continue
        if _poserr(spec) is not None and err_arcmin < (_poserr(spec) or 0.0):
            plan.replans[row.key] = spec.with_body(
                ra=alert.ra, dec=alert.dec, poserr=round(err_arcmin, 4)
            )
            plan.notices += notices(
                row.rule,
                spec.notify,
                "too",
                "planned",
                f"re-aimed before sending: {alert.group_key} locates it better",
                position=_position(alert),
            )
    if latest is None or not (better_than_event or latest.group_key != alert.group_key):
        return
    spec = latest.spec
    assert isinstance(spec, TooSpec)
    sent_err = _poserr(spec)
    if sent_err is not None and err_arcmin >= sent_err:
        return  # not better than what was sent
    if any(r.state.unsent and r.id > latest.id for r in toos):
        return  # a newer pointing is waiting already (re-aimed above)
    sep_deg = _separation(spec, alert)
    beyond = _repoint_beyond(latest.rule, matched)
    if sep_deg is None or beyond is None or sep_deg <= beyond:
        plan.notices += notices(
            latest.rule,
            spec.notify,
            "too",
            latest.state.value,
            "a better position arrived after submission"
            + (f", {sep_deg * 60:.1f} arcmin from the pointing" if sep_deg is not None else "")
            + " (no new TOO is sent)",
            position=_position(alert),
            too_id=latest.remote_id,
        )
        return
    reason = (
        f"re-pointed: {alert.group_key} puts it {sep_deg * 60:.1f} arcmin from the TOO "
        f"{latest.remote_id or latest.key} (beyond {beyond * 60:.1f} arcmin)"
    )
    just = str(spec.body.get("science_just") or "")
    key = submission_key(latest.rule, f"{latest.key}#repoint", "too", latest.id)
    repointed = dataclasses.replace(
        spec.with_body(
            ra=alert.ra,
            dec=alert.dec,
            poserr=round(err_arcmin, 4),
            science_just=f"{just} {reason}.".strip(),
        ),
        marker=key,
    )
    plan.plans.append(
        PlannedSubmission(key=key, rule=latest.rule, action="too", spec=repointed, not_before=now)
    )
    plan.notices += notices(
        latest.rule, spec.notify, "too", "planned", reason, position=_position(alert)
    )


def _poserr(spec: TooSpec) -> float | None:
    value = spec.body.get("poserr")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _separation(spec: TooSpec, alert: NormalizedAlert) -> float | None:
    ra, dec = spec.body.get("ra"), spec.body.get("dec")
    if not isinstance(ra, int | float) or not isinstance(dec, int | float):
        return None
    assert alert.ra is not None
    assert alert.dec is not None
    return separation_deg(float(ra), float(dec), alert.ra, alert.dec)


def _repoint_beyond(rule: str, matched: Sequence[MatchedRule]) -> float | None:
    """The owner's re-pointing distance: its own setting when it matched this alert too,
    else the default (the XRT field)."""
    for candidate in matched:
        if candidate.name == rule:
            return candidate.repoint_beyond_deg
    return XRT_FOV_RADIUS_DEG


def _owner(plan: Plan, key: str, by_key: dict[str, SubmissionRow]) -> str | None:
    """The rule whose request ``key`` is (planned by this alert, or stored)."""
    for planned in plan.plans:
        if planned.key == key:
            return planned.rule
    if key in plan.reowned:
        return plan.reowned[key]
    row = by_key.get(key)
    return row.rule if row is not None else None


def _arbitrate(
    plan: Plan,
    rule: MatchedRule,
    key: str,
    what: str,
    by_key: dict[str, SubmissionRow],
    priority_of: dict[str, int],
) -> str:
    """Whose request ``key`` is for this rule: ``own`` (plan or replan it), ``take`` (a
    rule of higher priority takes over a request not sent yet) or ``covered``."""
    owner = _owner(plan, key, by_key)
    if owner is None or owner == rule.name:
        return "own"
    row = by_key.get(key)
    unsent = row is None or row.state is S.PLANNED
    if unsent and rule.priority > priority_of.get(owner, 0) and row is not None:
        return "take"
    state = row.state.value if row is not None else "planned"
    plan.covered.setdefault(rule.name, f"covered by rule {owner}'s {what} ({state})")
    return "covered"


def _plan_rule(  # noqa: PLR0917 the planner's state, passed down once
    plan: Plan,
    rule: MatchedRule,
    alert: NormalizedAlert,
    inbox_key: str,
    transient: str,
    by_key: dict[str, SubmissionRow],
    priority_of: dict[str, int],
    now: datetime,
    notices: Any,
) -> None:
    actions = rule.actions
    scope = _scope(rule, alert, inbox_key, transient)
    not_before = now + (rule.settle or timedelta(0))  # due now, or after settling
    too_key, xrt_key_for = _keys(rule, scope, actions.xrt, by_key, alert)
    notify = tuple(rule.channels) if rule.channels is not None else None
    for key, body, why in _targets(rule, scope, too_key, by_key, alert):
        _plan_too(plan, rule, alert, key, body, why, by_key, priority_of, not_before, notices)
    if actions.xrt is not None:
        assert xrt_key_for is not None
        xrt_key = xrt_key_for
        rendered = actions.xrt
        after = rendered["submit"] == "after_observation" and actions.too is not None
        xrt = XrtSpec(
            globals=rendered["globals"],
            products=rendered["products"],
            name=f"autotoo {rule.name} {alert.group_key} {xrt_key}",
            retry=rule.xrt_retry,
            submit=rendered["submit"],
            notify=notify,
            approve=rule.approve,
            account=rule.account,
        )
        existing = by_key.get(xrt_key)
        verdict = _arbitrate(plan, rule, xrt_key, "XRT products job", by_key, priority_of)
        if verdict == "covered":
            pass
        elif verdict == "take" and existing is not None and existing.next_at is not None:
            plan.replans[xrt_key] = xrt
            plan.reowned[xrt_key] = rule.name
        elif existing is None and _owner(plan, xrt_key, by_key) is None:
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
        elif (
            verdict == "own"
            and existing is not None
            and existing.state.unsent
            and (existing.parent_id is None or existing.next_at is not None)
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


def _targets(
    rule: MatchedRule,
    scope: str,
    too_key: str,
    by_key: dict[str, SubmissionRow],
    alert: NormalizedAlert,
) -> list[tuple[str, dict[str, Any], str | None]]:
    """(key, body, why) of every TOO the rule asks for: its one request, or with ``cover:
    auto`` choosing galaxies, one per galaxy, each keyed by the galaxy's name (a later map
    can reorder them; a key by rank would then point twice at one galaxy)."""
    actions = rule.actions
    if actions.too is None:
        return []
    coverage = actions.coverage
    if coverage is None or coverage.get("choice") != "galaxies":
        return [(too_key, actions.too, coverage.get("explanation") if coverage else None)]
    out: list[tuple[str, dict[str, Any], str | None]] = []
    owner = SHARED if rule.once_per == "transient" else rule.name
    for body, target in zip(actions.too_targets, coverage["targets"], strict=True):
        what = f"too:galaxy:{target['name']}"
        key = _current(functools.partial(_galaxy_key, owner, scope, what), by_key, alert)
        out.append((key, body, f"galaxy {target['name']}: {coverage['explanation']}"))
    return out


def _galaxy_key(owner: str, scope: str, what: str, attempt: int) -> str:
    return submission_key(owner, scope, what, attempt)


def _plan_too(  # noqa: PLR0917 the planner's state, passed down once
    plan: Plan,
    rule: MatchedRule,
    alert: NormalizedAlert,
    too_key: str,
    body: dict[str, Any],
    why: str | None,
    by_key: dict[str, SubmissionRow],
    priority_of: dict[str, int],
    not_before: datetime,
    notices: Any,
) -> None:
    policy = rule.actions.too_policy or {}
    notify = tuple(rule.channels) if rule.channels is not None else None
    too = TooSpec(
        body=body,
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
        approve=rule.approve,
        account=rule.account,
        **spec_policies(policy),
    )
    existing = by_key.get(too_key)
    verdict = _arbitrate(plan, rule, too_key, "TOO", by_key, priority_of)
    if verdict == "covered":
        pass
    elif verdict == "take" and existing is not None:
        plan.replans[too_key] = too
        plan.reowned[too_key] = rule.name
        plan.notices += notices(
            rule.name,
            rule.channels,
            "too",
            "planned",
            f"takes over rule {existing.rule}'s TOO (priority {rule.priority})",
            position=_position(alert),
        )
    elif existing is None and _owner(plan, too_key, by_key) is None:
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
            "; ".join(
                w
                for w in (f"settling until {not_before:%H:%M:%S}Z" if rule.settle else "", why)
                if w
            )
            or None,
            position=_position(alert),
        )
    elif existing is not None and existing.state.unsent:
        plan.replans[too_key] = too  # updates supersede while still unsent
