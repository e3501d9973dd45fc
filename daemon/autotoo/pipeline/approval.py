"""Human approval of requests: a rule's ``approve: human`` (docs/rules.md, "Human approval").

A request of such a rule is planned as any other. When it falls due, instead of being sent
it is *asked*: ``planned -> needs_approval``, with ``approval_deadline`` (asked + the rule's
``within``) and a ``needs_approval`` status notice. A person then decides, with
``autotoo jobs approve|deny ID`` or the dashboard's buttons (behind the admin token):

* approve: ``needs_approval -> planned``, due now, with ``approved_by`` and ``approved_at``
  set. The submitter then handles it as any due row (dry-run, budgets, the durable
  ``submitting`` before the one POST); it is not asked again, also when a send that
  provably failed puts it back to ``planned``, nor for a new attempt the rule makes of it
  (``on_reject``, an XRT job retried for "no data yet"): that carries the approval.
* deny: ``needs_approval -> cancelled`` ("denied by ..."), nothing sent.
* nobody, within the window: ``needs_approval -> cancelled`` ("approval not given within
  2 h (asked 20:00Z): lapsed, not sent"), by the submitter's round, or by the command that
  comes too late.

``needs_approval`` is not terminal (a person may still approve it, so an XRT job waiting for
the TOO keeps waiting) and it is not due (the submitter selects only ``planned`` and
``unknown`` rows; the row's ``next_at`` is its deadline, which only :func:`lapse_due` reads).
Denied or lapsed, the row is ``cancelled``, and :meth:`Repository.transition` settles the
rows waiting for it in the same transaction. Every move is the repository's conditional
update: of a deny, an approve and a lapse racing each other exactly one happens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from autotoo.durations import human_duration
from autotoo.logs import get_logger
from autotoo.pipeline.settings import PipelineSettings
from autotoo.pipeline.worker import row_notices
from autotoo.store.errors import ConflictError
from autotoo.store.repository import Repository
from autotoo.store.rows import Notice, SubmissionRow, SubmissionState

log = get_logger("autotoo.approval")

S = SubmissionState
MAX_NAME = 80  # who approved: a name, not an essay (it is in every log line and notice)


class NotWaitingError(Exception):
    """The submission is not waiting for approval (the message says what it is instead)."""


@dataclass(frozen=True, slots=True)
class Decided:
    """What became of a decision on a waiting row: ``approved``, ``denied`` or ``lapsed``
    (the window had passed when the decision came), with the row as it is now and the rows
    that were waiting for it and were withdrawn with it."""

    outcome: str
    row: SubmissionRow
    withdrawn: Sequence[SubmissionRow] = ()


def _clock(at: datetime) -> str:
    return f"{at:%H:%M}Z"


def needs_asking(row: SubmissionRow) -> bool:
    """Whether a due row must wait for a person before it may be sent."""
    return row.spec.approve is not None and row.approved_at is None


async def ask(
    repo: Repository, settings: PipelineSettings, row: SubmissionRow, now: datetime
) -> bool:
    """The submitter's hook for a due row: True when the row now waits for a person (and
    must not be sent); False when it needs no approval or has it."""
    if not needs_asking(row):
        return False
    if await _approved_before(repo, row):
        return False
    assert row.spec.approve is not None
    within = row.spec.approve.within
    deadline = now + within
    reason = (
        f"waiting for approval until {_clock(deadline)} ({human_duration(within)}): "
        f"autotoo jobs approve {row.id} (or deny)"
    )
    await repo.transition(
        row.id,
        expect=[S.PLANNED],
        to=S.NEEDS_APPROVAL,
        next_at=deadline,  # read only by lapse_due: the submitter never selects this state
        approval_deadline=deadline,
        reason=reason,
        detail=f"approval asked; lapses at {deadline:%Y-%m-%d %H:%M:%S}Z",
        notices=row_notices(settings, row, "needs_approval", reason, submission_id=row.id),
    )
    log.info("waiting for approval", submission=row.id, deadline=deadline.isoformat())
    return True


async def _approved_before(repo: Repository, row: SubmissionRow) -> bool:
    """A new attempt of a request a person approved (a rule's ``on_reject`` policy, a new
    XRT job after "no data yet") carries that approval: the person decided on the request,
    and the rule said beforehand how it is retried. Recorded on the new row, so its
    history says whose approval it runs on."""
    if row.attempt == 0:
        return False
    earlier = [
        r
        for r in await repo.submissions(event_id=row.event_id, api=row.api, limit=1000)
        if r.rule == row.rule and r.action == row.action and r.attempt == row.attempt - 1
    ]
    if not earlier or earlier[0].approved_by is None or earlier[0].approved_at is None:
        return False
    first = earlier[0]
    await repo.transition(
        row.id,
        expect=[S.PLANNED],
        to=S.PLANNED,
        approved_by=first.approved_by,
        approved_at=first.approved_at,
        detail=f"attempt {row.attempt + 1}: approved with submission {first.id} by "
        f"{first.approved_by}",
    )
    return True


def _lapse_reason(row: SubmissionRow) -> str:
    deadline = row.approval_deadline
    within = row.spec.approve.within if row.spec.approve is not None else None
    if deadline is None or within is None:  # not written by ask(): say what is known
        return "approval not given in time: lapsed, not sent"
    asked = deadline - within
    return (
        f"approval not given within {human_duration(within)} (asked {_clock(asked)}): "
        "lapsed, not sent"
    )


async def _end(
    repo: Repository,
    settings: PipelineSettings | None,
    row: SubmissionRow,
    reason: str,
    outcome: str,
) -> Decided:
    """``needs_approval -> cancelled`` with ``reason``, and the rows waiting for it withdrawn
    in the same transaction (with their notices)."""

    def notices(target: SubmissionRow, state: str, why: str) -> list[Notice]:
        return row_notices(settings, target, state, why) if settings is not None else []

    waiting = [
        child.id
        for child in await repo.submissions(parent_id=row.id, states=[S.PLANNED])
        if child.next_at is None
    ]
    done = await repo.transition(
        row.id,
        expect=[S.NEEDS_APPROVAL],
        to=S.CANCELLED,
        reason=reason,
        next_at=None,
        detail=reason,
        notices=notices(row, "cancelled", reason),
        children=notices,
    )
    withdrawn = [
        child
        for child_id in waiting
        if (child := await repo.submission(child_id)) is not None and child.state.terminal
    ]
    return Decided(outcome, done, withdrawn)


async def lapse_due(repo: Repository, settings: PipelineSettings, now: datetime) -> int:
    """The submitter's hook for each round: every waiting row whose window has passed is
    cancelled, unsent, with a notice that says so; how many."""
    lapsed = 0
    for row in await repo.submissions(states=[S.NEEDS_APPROVAL], due_before=now):
        try:
            done = await _end(repo, settings, row, _lapse_reason(row), "lapsed")
        except ConflictError:
            continue  # approved or denied meanwhile
        log.warning("approval lapsed; not sent", submission=row.id, reason=done.row.reason)
        lapsed += 1
    return lapsed


def _who(by: str) -> str:
    name = " ".join(by.split())
    if not name:
        raise ValueError("say who decides (a name)")
    return name[:MAX_NAME]


async def decide(
    repo: Repository,
    row: SubmissionRow,
    *,
    approve: bool,
    by: str,
    now: datetime,
    settings: PipelineSettings | None,
    note: str | None = None,
) -> Decided:
    """A person's decision on a waiting row (the CLI's and the dashboard's one path; it
    logs nothing: the command's stdout may be JSON, the caller says what happened).

    ``settings`` None: no status notices (the command was given only the state file, so
    it does not know the channels). Raises :class:`NotWaitingError` for a row in any other
    state, :class:`ConflictError` when it moved meanwhile (the daemon lapsed it)."""
    who = _who(by)
    if row.state is not S.NEEDS_APPROVAL:
        how = f": {row.reason}" if row.reason else ""
        raise NotWaitingError(
            f"submission {row.id} is {row.state.value}{how}, not waiting for approval"
        )
    if row.approval_deadline is not None and now >= row.approval_deadline:
        return await _end(repo, settings, row, _lapse_reason(row), "lapsed")
    said = f" ({' '.join(note.split())[:200]})" if note and note.strip() else ""
    if not approve:
        denied = f"denied by {who} at {_clock(now)}{said}: not sent"
        return await _end(repo, settings, row, denied, "denied")
    reason = f"approved by {who} at {now:%Y-%m-%d %H:%M:%S}Z{said}"
    done = await repo.transition(
        row.id,
        expect=[S.NEEDS_APPROVAL],
        to=S.PLANNED,
        next_at=now,  # due at once; budgets and dry-run still apply in the submitter
        approved_by=who,
        approved_at=now,
        reason=reason,
        detail=reason,
        notices=row_notices(settings, row, "approved", reason) if settings is not None else (),
    )
    return Decided("approved", done)
