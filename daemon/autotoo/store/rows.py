"""Plain rows the repository returns and accepts (dataclasses: inside the core, no pydantic)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from autotoo.store.specs import Api as Api  # noqa: PLC0414 re-exported beside SubmissionState
from autotoo.store.specs import Spec, api_of, spec_to_json


class SubmissionState(enum.StrEnum):
    PLANNED = "planned"
    SUBMITTING = "submitting"  # committed durably *before* the POST is sent
    SUBMITTED = "submitted"
    TRACKING = "tracking"
    DONE = "done"
    REJECTED = "rejected"
    FAILED = "failed"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"  # the POST's outcome is not known: reconcile before anything else
    NEEDS_HUMAN = "needs_human"
    NEEDS_APPROVAL = "needs_approval"  # a rule's `approve: human`: waits for approve / deny

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL

    @property
    def unsent(self) -> bool:
        """Decided but not sent, and still to be: planned, or waiting for a person's
        approval (not terminal: its follow-ups keep waiting; not due: never sent as is)."""
        return self in (SubmissionState.PLANNED, SubmissionState.NEEDS_APPROVAL)


_TERMINAL = frozenset(
    {
        SubmissionState.DONE,
        SubmissionState.REJECTED,
        SubmissionState.FAILED,
        SubmissionState.CANCELLED,
        SubmissionState.NEEDS_HUMAN,
    }
)


REPROCESSED = "reprocess"
"""The inbox source of a copy stored by ``autotoo alerts reprocess``."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def ts(value: datetime | None) -> str | None:
    """Store times as fixed-width ISO UTC text, so text order is time order:
    ``2026-12-07T12:58:43.749106Z``. (``isoformat`` rather than ``strftime``: the same text,
    in 2/3 of the time; a TOO's path writes a few dozen of them.)"""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


def parse_ts(value: str | None) -> datetime | None:
    """A time stored by :func:`ts` (a fraction may be missing). ``fromisoformat`` rather
    than ``strptime``: 1.3 us against 8.7, and every submission row read holds several.
    Text without the ``Z``, or with an offset, is refused as ``strptime`` refused it."""
    if value is None:
        return None
    parsed = datetime.fromisoformat(value[:-1]) if value.endswith("Z") else None
    if parsed is None or parsed.tzinfo is not None:
        raise ValueError(f"not a stored time (YYYY-MM-DDTHH:MM:SS.ffffffZ): {value!r}")
    return parsed.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class InboxItem:
    """A received message as the inbox stores it."""

    dedup_key: str
    source: str
    identity: str | None
    topic: str | None
    digest: str
    raw: bytes
    received_at: datetime


@dataclass(frozen=True, slots=True)
class InboxPut:
    inbox_id: int
    new: bool  # False: a duplicate (same content key or same transport identity)


@dataclass(frozen=True, slots=True)
class Duplicate:
    """An inbox row that parsed to an alert the store already holds (same identity)."""

    inbox_id: int
    first_inbox_id: int  # the inbox row of the alert it repeats
    reason: str


@dataclass(frozen=True, slots=True)
class InboxRow:
    id: int
    source: str
    topic: str | None
    raw: bytes
    received_at: datetime
    status: str
    reason: str | None
    dedup_key: str
    seen_count: int
    duplicate_of: int | None = None  # a copy of the alert parsed from this inbox row
    # When the retention policy dropped the payload (``raw`` is then empty); the row, its
    # digest and its normalized alert stay (store/retention.py).
    pruned_at: datetime | None = None
    size: int = 0  # length of the payload as received (also after pruning)


@dataclass(frozen=True, slots=True)
class EventRow:
    id: int
    group_key: str
    mission: str
    event_key: str
    alert_count: int
    best_alert_id: int | None
    retracted: bool
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True, slots=True)
class EventHistory:
    """What planning needs of an event already in the store: its alerts' sources in arrival
    order (``raw`` is None for the ids the caller said it holds parsed) and its submissions."""

    event_id: int
    sources: list[tuple[int, str | None, bytes | None]]
    submissions: list[SubmissionRow]


@dataclass(frozen=True, slots=True)
class TransientHistory:
    """What planning needs of a transient: its id and every request made for it."""

    id: int
    key: str
    submissions: list[SubmissionRow]


@dataclass(frozen=True, slots=True)
class AssociationRecord:
    """The transient an evaluated alert's event belongs to, and what the alert changes of it.

    ``first``: the event had no association yet (its first alert since schema 6): the store
    records it with ``reason``. The transient row is created when it does not exist.
    """

    transient_key: str
    first: bool
    joined: bool
    reason: str
    trigger_time: datetime | None
    ra: float | None
    dec: float | None
    error_deg: float | None
    # Not stored: the transient's events so far, (group key, mission), for the rules' view.
    members: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class StoredMember:
    """One event of a stored transient, from the alert that locates it best (or its latest)."""

    transient_id: int
    transient_key: str
    group_key: str
    alert_id: int
    mission: str
    normalized: dict[str, Any]


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    rule: str
    rule_hash: str
    matched: bool
    reason: str
    error: str | None = None


@dataclass(frozen=True, slots=True)
class PlannedSubmission:
    key: str
    rule: str
    action: str
    spec: Spec
    attempt: int = 0
    parent_key: str | None = None
    not_before: datetime | None = None
    waiting: bool = False  # True: released later (e.g. XRT products after the TOO is observed)
    first_try_at: datetime | None = None  # a retried XRT job: the first try's (its window)
    transient_id: int | None = None  # set by the store: the transient of the alert that plans it

    @property
    def api(self) -> Api:
        return api_of(self.spec)


@dataclass(frozen=True, slots=True)
class Notice:
    channel: str  # 'mqtt' | 'webhook'
    topic: str
    payload: dict[str, Any]
    retain: bool = False


@dataclass(slots=True)
class SubmissionRow:
    id: int
    key: str
    api: Api
    rule: str
    event_id: int
    action: str
    attempt: int
    parent_id: int | None
    state: SubmissionState
    spec: Spec
    remote_id: str | None
    sent_at: datetime | None
    not_before: datetime | None
    next_at: datetime | None
    reason: str | None
    created_at: datetime
    updated_at: datetime
    group_key: str = ""
    event_key: str = ""
    # Bookkeeping of the row's handling, apart from what is sent (columns of their own):
    reconcile_missing: int = 0  # consecutive listings that did not show it ('unknown')
    reconcile_errors: int = 0  # consecutive listings that could not be read ('unknown')
    first_try_at: datetime | None = None  # an XRT job retried for "no data yet": its first try
    transient_id: int | None = None  # once_per: transient (schema 6); None: before, or per event
    # A rule's `approve: human` (pipeline/approval.py): when the asking lapses, who approved
    approval_deadline: datetime | None = None
    approved_by: str | None = None
    approved_at: datetime | None = None

    @property
    def account(self) -> str:
        """Whose credentials send, list and poll it (part of the request: ``spec.account``)."""
        return self.spec.account

    @property
    def request(self) -> dict[str, Any]:
        """The request as the store keeps it (JSON), for display: code reads ``spec``."""
        return spec_to_json(self.spec)


@dataclass(frozen=True, slots=True)
class Settled:
    """What became of a row that was waiting for its parent's observation, once the
    parent's outcome was known: ``released`` (with the observed target IDs), ``reparented``
    (to the parent's policy resubmission), ``cancelled`` or ``needs_human``."""

    child_id: int
    child_key: str
    parent_id: int | None
    outcome: str
    reason: str


@dataclass(frozen=True, slots=True)
class NoticeRow:
    id: int
    channel: str
    topic: str
    payload: str
    retain: bool
    attempts: int


@dataclass(frozen=True, slots=True)
class AlertOutcome:
    """Everything one evaluated alert changes, committed in ONE durable transaction: the
    alert and its event, every rule's decision, new submissions (ON CONFLICT DO NOTHING on
    the idempotency key), re-rendered still-planned requests, cancellations, notices."""

    inbox_id: int
    normalized: dict[str, Any]
    group_key: str
    mission: str
    event_key: str
    kind: str
    is_test: bool
    error_deg: float | None
    identity: str | None = None  # the alert's own unique name (IVORN): one alert per name
    decisions: list[DecisionRecord] = field(default_factory=list)
    plans: list[PlannedSubmission] = field(default_factory=list)
    replans: dict[str, Spec] = field(default_factory=dict)  # key -> re-rendered request
    cancel_planned: bool = False  # retraction: withhold every unsent submission of the event
    notices: list[Notice] = field(default_factory=list)
    association: AssociationRecord | None = None
    reowned: dict[str, str] = field(default_factory=dict)  # key -> the rule that takes it over
