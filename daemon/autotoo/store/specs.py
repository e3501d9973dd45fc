"""What each remote API is asked for, typed: a submission's request and its handling policy.

A row's ``spec`` is either a :class:`TooSpec` (the Swift TOO API) or an :class:`XrtSpec` (the
UKSSDC XRT product generator): what would be sent, plus the rule's policies for it (budget,
rejection, pre-submission checks, retries, notification channels). Planning builds them from
the rule; the submitter and tracker read their fields; nothing reads a request by key.

The bookkeeping of a row's handling (reconciliation counts, the first try of a retried XRT
job) is not part of what is sent: it lives in columns of its own (``SubmissionRow``), so that
"did the request change?" compares only the spec.

:func:`spec_to_json` and :func:`spec_from_json` are the one serialization of a spec, used only
by the store (the ``request`` column). Its JSON keeps the shape the column has always had
(durations in seconds there, ``timedelta`` everywhere else), so rows written by earlier
versions load unchanged; keys a row lacks read as "not set", never as a policy default (the
defaults live once, in the rule model).
"""

from __future__ import annotations

import dataclasses
import enum
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

# The account of the top-level swift and ukssdc sections, and of every row written before
# schema 7 (whose request names no account).
from autotoo.config.models import DEFAULT_ACCOUNT


class Api(enum.StrEnum):
    """The remote API a submission goes to (the ``api`` column)."""

    TOO = "swift_too"  # the Swift TOO API
    XRT = "ukssdc_xrt"  # the UKSSDC XRT product generator


@dataclass(frozen=True, slots=True)
class RuleBudget:
    """At most ``max`` TOOs of one rule in any sliding window of ``per``."""

    max: int
    per: timedelta


@dataclass(frozen=True, slots=True)
class ApprovalPolicy:
    """The rule's ``approve``: the request waits for a person (``needs_approval``) and
    lapses unsent if nobody approves it ``within`` this of being asked."""

    within: timedelta


@dataclass(frozen=True, slots=True)
class OnTarget:
    """Ask Swift, before sending, whether it already serves the position (a recent request
    in the listing, the planned or the flown timeline) and then ``skip`` or ``submit``.
    ``since``: flown pointings from then on count (shortly before the trigger)."""

    then: str  # 'skip' | 'submit'
    radius_arcmin: float
    since: datetime | None = None


@dataclass(frozen=True, slots=True)
class VisibilityPolicy:
    """Not visible to Swift within ``within`` of the submission: send at ``urgency``."""

    within: timedelta
    urgency: int


@dataclass(frozen=True, slots=True)
class TooSpec:
    """A Swift TOO: the form fields sent (``body``, with ``marker`` the idempotency key that
    reconciliation looks for in the listing) and how the submission is handled."""

    body: dict[str, Any]
    marker: str
    # rejection kind -> the urgencies of the explicit new attempts, in turn (rule on_reject)
    on_reject: dict[str, tuple[int, ...]] = field(default_factory=dict)
    budget: RuleBudget | None = None
    notify: tuple[str, ...] | None = None  # None: the default channels
    debug: bool = False  # send with the Swift API's debug flag
    server_validate: bool = False  # ask the service to validate before the submission
    check_uvot_mode: bool = False  # check the UVOT mode first, falling back if refused
    uvot_fallback: str | None = None  # the UVOT mode used when the check refuses the rule's
    approve: ApprovalPolicy | None = None  # None: sent without asking anyone
    on_target: OnTarget | None = None  # None: not asked (rows planned before the check)
    visibility: VisibilityPolicy | None = None  # None: urgency does not depend on it
    account: str = DEFAULT_ACCOUNT  # whose credentials send, list and poll it (rule `account`)

    def with_body(self, **fields: Any) -> TooSpec:
        """The same spec sending ``body`` with ``fields`` replaced (e.g. a new urgency)."""
        return dataclasses.replace(self, body={**self.body, **fields})

    @property
    def checked(self) -> bool:
        """Whether anything is checked with the service before the submission."""
        return self.check_uvot_mode or self.server_validate


@dataclass(frozen=True, slots=True)
class XrtRetry:
    """While the UKSSDC has no data yet: a new job ``every`` this long, for ``for_`` after
    the first try."""

    every: timedelta
    for_: timedelta


@dataclass(frozen=True, slots=True)
class XrtSpec:
    """A UKSSDC XRT product job: the globals and products sent, under the job ``name`` (which
    carries the idempotency key that reconciliation looks for), and how it is handled."""

    globals: dict[str, Any]
    products: dict[str, dict[str, Any]]
    name: str
    retry: XrtRetry | None = None  # None: not retried (a row that stated no retry)
    submit: str | None = None  # 'immediately' | 'after_observation' (None: not stated)
    notify: tuple[str, ...] | None = None  # None: the default channels
    approve: ApprovalPolicy | None = None  # None: sent without asking anyone
    account: str = DEFAULT_ACCOUNT  # whose UKSSDC user id submits, lists and polls it

    @property
    def product_names(self) -> tuple[str, ...]:
        return tuple(self.products)

    def with_globals(self, **values: Any) -> XrtSpec:
        """The same job with ``values`` set among its globals (e.g. the observed ``targ``)."""
        return dataclasses.replace(self, globals={**self.globals, **values})

    def named(self, name: str) -> XrtSpec:
        return dataclasses.replace(self, name=name)


Spec = TooSpec | XrtSpec


def api_of(spec: Spec) -> Api:
    return Api.TOO if isinstance(spec, TooSpec) else Api.XRT


# ---- the one serialization (the store's ``request`` column) --------------------------------


def _seconds(value: timedelta) -> float:
    return value.total_seconds()


def spec_to_json(spec: Spec) -> dict[str, Any]:
    """A spec as JSON: the ``request`` column, also what ``jobs show`` prints. ``approve``
    and ``account`` are written only when set (not the default), so the rows of rules
    without them keep their exact text; the store reads the account back as a column of its
    own (schema 7: ``submissions.account``, generated from this JSON)."""
    out = _spec_json(spec)
    if spec.approve is not None:
        out["approve"] = {"by": "human", "within_s": _seconds(spec.approve.within)}
    if spec.account != DEFAULT_ACCOUNT:
        out["account"] = spec.account
    return out


def _approval(data: dict[str, Any]) -> ApprovalPolicy | None:
    approve = data.get("approve")
    if not approve:
        return None
    return ApprovalPolicy(timedelta(seconds=float(approve["within_s"])))


def _spec_json(spec: Spec) -> dict[str, Any]:
    if isinstance(spec, TooSpec):
        return {
            "body": dict(spec.body),
            "marker": spec.marker,
            "policy": {kind: {"urgency": list(u)} for kind, u in spec.on_reject.items()},
            "budget": {"max": spec.budget.max, "per_s": _seconds(spec.budget.per)}
            if spec.budget
            else None,
            "notify": list(spec.notify) if spec.notify is not None else None,
            "debug": spec.debug,
            "server_validate": spec.server_validate,
            "check_uvot_mode": spec.check_uvot_mode,
            "uvot_fallback": spec.uvot_fallback,
            "on_target": _on_target_json(spec.on_target),
            "visibility": {
                "within_s": _seconds(spec.visibility.within),
                "urgency": spec.visibility.urgency,
            }
            if spec.visibility
            else None,
        }
    out: dict[str, Any] = {
        "request": {"globals": dict(spec.globals), "products": dict(spec.products)},
        "name": spec.name,
        "notify": list(spec.notify) if spec.notify is not None else None,
        "submit": spec.submit,
    }
    if spec.retry is not None:
        out["retry_every_s"] = _seconds(spec.retry.every)
        out["retry_for_s"] = _seconds(spec.retry.for_)
    return out


def spec_from_json(api: Api, data: dict[str, Any]) -> Spec:
    """The spec of a stored ``request`` (rows of every earlier version included)."""
    notify = data.get("notify")
    channels = tuple(notify) if notify is not None else None
    if api is Api.TOO:
        budget, fallback = data.get("budget"), data.get("uvot_fallback")
        return TooSpec(
            body=dict(data.get("body") or {}),
            marker=str(data.get("marker", "")),
            on_reject={
                str(kind): tuple(int(u) for u in (policy or {}).get("urgency", ()))
                for kind, policy in (data.get("policy") or {}).items()
            },
            budget=RuleBudget(int(budget["max"]), timedelta(seconds=float(budget["per_s"])))
            if budget
            else None,
            notify=channels,
            debug=bool(data.get("debug")),
            server_validate=bool(data.get("server_validate")),
            check_uvot_mode=bool(data.get("check_uvot_mode")),
            uvot_fallback=None if fallback is None else str(fallback),
            approve=_approval(data),
            on_target=_on_target(data.get("on_target")),
            visibility=VisibilityPolicy(
                timedelta(seconds=float(vis["within_s"])), int(vis["urgency"])
            )
            if (vis := data.get("visibility"))
            else None,
            account=str(data.get("account") or DEFAULT_ACCOUNT),
        )
    request = data.get("request") or {}
    every, for_ = data.get("retry_every_s"), data.get("retry_for_s")
    return XrtSpec(
        globals=dict(request.get("globals") or {}),
        products={str(k): dict(v or {}) for k, v in (request.get("products") or {}).items()},
        name=str(data.get("name", "")),
        retry=XrtRetry(timedelta(seconds=float(every)), timedelta(seconds=float(for_)))
        if every is not None and for_ is not None
        else None,
        submit=data.get("submit"),
        notify=channels,
        approve=_approval(data),
        account=str(data.get("account") or DEFAULT_ACCOUNT),
    )


def _on_target_json(policy: OnTarget | None) -> dict[str, Any] | None:
    if policy is None:
        return None
    since = policy.since.isoformat() if policy.since is not None else None
    return {"then": policy.then, "radius_arcmin": policy.radius_arcmin, "since": since}


def _on_target(data: dict[str, Any] | None) -> OnTarget | None:
    if not data:
        return None
    since = data.get("since")
    return OnTarget(
        then=str(data["then"]),
        radius_arcmin=float(data["radius_arcmin"]),
        since=datetime.fromisoformat(since) if since else None,
    )


def dumps(spec: Spec) -> str:
    """The column text: sorted keys, compact (the form every write of the store uses)."""
    return json.dumps(spec_to_json(spec), sort_keys=True, separators=(",", ":"), default=str)


def loads(api: Api, text: str) -> Spec:
    return spec_from_json(api, json.loads(text))
