"""The pre-send questions of the next due TOOs, asked while the one before them is sent.

A submitter round sends its due rows one at a time, and a TOO whose rule checks Swift first
(:mod:`.presend`) waits a round trip for the answers before its POST. Against the real
service that is a few hundred milliseconds per TOO, so the fifth of a GW event's five galaxy
TOOs would wait five of them. :class:`Lookahead` asks the questions of up to ``depth`` rows
ahead, while the rows before them are committed and POSTed: the wait is paid about once per
round. The questions create nothing remotely, and each row's verdict is still decided when
its turn comes (with its own earlier targets, read then), so what is sent does not change:

* A row is asked ahead only when its answers cannot depend on a row before it: no earlier
  row of the round, not yet handled, lies within its on-target radius (that row's TOO, once
  sent, is in the listing this one must see; such a row is asked at its turn, as before).
* A rule's ``checked`` TOOs (``check_uvot_mode``, ``server_validate``) are asked at their
  turn: their check may rewrite the request first.
* Nothing is asked ahead in dry-run, or for a row that waits for a person's approval.

At most ``depth`` rows are asked ahead at a time (three or four queries each), so a backlog
after an outage does not turn into a burst of queries at Swift.

:class:`EarlyAsks` goes one step further back, for the TOO of a lone alert: its questions are
asked when the processor has planned it, before the plan's commit and the hand-over to the
submitter, whose turn then finds the answers (or nearly) in. The same rules keep what is sent
unchanged; the "earlier row not yet sent" is any TOO the submitter claimed since the questions
were asked (or was sending then): the answers are dropped, and asked again at the row's turn,
when such a TOO lies within the row's on-target radius.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable, Container, Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from autotoo.alerts.values import separation_deg
from autotoo.pipeline import approval, presend
from autotoo.pipeline.presend import Answers
from autotoo.store.rows import PlannedSubmission, SubmissionRow, SubmissionState
from autotoo.store.specs import TooSpec

DEPTH: Final = 4  # rows asked ahead of the one being sent
FRESH_S: Final = 30.0  # answers asked early are used within this long, else asked again
SENT_KEPT: Final = 256  # TOOs sent whose positions are remembered against early answers


def _askable(spec: object) -> TooSpec | None:
    """The TOO spec when it is asked anything before sending and its check rewrites
    nothing first (``checked``): its questions may be asked before its turn."""
    if not isinstance(spec, TooSpec) or spec.checked or not presend.wanted(spec):
        return None
    return spec


def _asked(row: SubmissionRow) -> TooSpec | None:
    """The row's TOO spec when it may be asked ahead (planned, and no approval awaited)."""
    if row.state is not SubmissionState.PLANNED or approval.needs_asking(row):
        return None
    return _askable(row.spec)


class Lookahead:
    """Pre-send answers of the rows after the current one (module docstring)."""

    def __init__(
        self,
        rows: Sequence[SubmissionRow],
        ask: Callable[[SubmissionRow, TooSpec], Awaitable[Answers]],
        *,
        depth: int = DEPTH,
        enabled: bool = True,
        early: Container[str] = (),
    ) -> None:
        """``early``: the keys of rows asked already (:class:`EarlyAsks`)."""
        self._rows = rows
        self._ask = ask
        self._depth = depth if enabled else 0
        self._tasks: dict[int, asyncio.Task[Answers]] = {}
        self._tried: set[int] = set()  # row ids looked at (asked ahead or not): once each
        self._early = early

    def at(self, index: int) -> None:
        """``rows[index]`` is about to be handled: ask ahead for those after it."""
        for later in range(index + 1, min(index + 1 + self._depth, len(self._rows))):
            row = self._rows[later]
            if row.id in self._tried:
                continue
            self._tried.add(row.id)
            spec = _asked(row)
            if spec is None or row.key in self._early:
                continue
            if self._near_an_earlier_one(index, later, spec):
                continue
            self._tasks[row.id] = asyncio.ensure_future(self._ask(row, spec))

    def _near_an_earlier_one(self, index: int, later: int, spec: TooSpec) -> bool:
        return _near_any(
            spec, (r.spec for r in self._rows[index:later] if isinstance(r.spec, TooSpec))
        )

    async def answers(self, row: SubmissionRow, spec: TooSpec) -> Answers | None:
        """The answers asked ahead for ``row``, if they were and ``spec`` is still what was
        asked about (None: ask now)."""
        task = self._tasks.pop(row.id, None)
        if task is None:
            return None
        try:
            answers = await task
        except Exception:  # noqa: BLE001 e.g. the account's client is gone: ask at the turn
            return None
        return answers if spec is row.spec else None

    async def close(self) -> None:
        """Cancel what was asked for rows the round did not reach (stopping, or a row taken
        by another instance) and wait for them to end."""
        tasks, self._tasks = list(self._tasks.values()), {}
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def _near_any(spec: TooSpec, others: Iterable[TooSpec]) -> bool:
    """Whether any of ``others`` lies within ``spec``'s on-target radius (its TOO, once sent,
    is in the listing that ``spec``'s check must see)."""
    position = presend.position_of(spec)
    if position is None:
        return False  # nothing is asked about a request without a position
    on = presend.skipping(spec)
    radius = on.radius_arcmin / 60.0 if on is not None else 0.0
    for other in others:
        there = presend.position_of(other)
        # 1% margin: the service's own radius test may round differently from ours.
        if there is not None and separation_deg(*position, *there) <= radius * 1.01:
            return True
    return False


@dataclass(slots=True)
class _Early:
    spec: TooSpec
    since: int  # the first TOO send the answers may not have seen
    asked_at: float  # time.monotonic()
    task: asyncio.Task[Answers]


class EarlyAsks:
    """Pre-send answers asked when a TOO is planned, before its row exists (module docstring).

    The submitter owns it: it :meth:`start` s the questions of the plans the processor is
    about to commit, notes each TOO it sends (:meth:`sending`, :meth:`sent`), and takes the
    answers at the row's turn (:meth:`answers`)."""

    def __init__(self, *, depth: int = DEPTH) -> None:
        self._depth = depth
        self._asked: dict[str, _Early] = {}  # by submission key
        self._sends = 0  # TOOs claimed for sending so far
        self._open: int | None = None  # the number of the one being sent
        self._sent: deque[tuple[int, TooSpec]] = deque(maxlen=SENT_KEPT)

    def __contains__(self, key: object) -> bool:
        return key in self._asked

    def start(self, plan: PlannedSubmission, ask: Callable[[TooSpec], Awaitable[Answers]]) -> bool:
        """Ask ``plan``'s questions now (``ask(spec)``), if they may be (False: they are
        asked at its turn). The caller has checked what the row adds (due now, not in
        dry-run, one instance)."""
        spec = _askable(plan.spec)
        if spec is None or spec.approve is not None or presend.position_of(spec) is None:
            return False
        if plan.key in self._asked or len(self._asked) >= self._depth:
            return False
        since = self._open if self._open is not None else self._sends
        task = asyncio.ensure_future(ask(spec))
        # Seen, so that one nobody takes (pruned, closed) is not logged as never retrieved.
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        self._asked[plan.key] = _Early(spec, since, time.monotonic(), task)
        return True

    def sending(self, spec: TooSpec) -> None:
        """A TOO is claimed for sending (its POST follows)."""
        self._open = self._sends
        self._sent.append((self._sends, spec))
        self._sends += 1

    def sent(self) -> None:
        """The TOO being sent has its reply (or failed): Swift's listing shows it from now."""
        self._open = None

    async def answers(self, key: str, spec: TooSpec) -> Answers | None:
        """The answers asked early for the row of ``key``, if they were, are fresh, were
        asked about ``spec`` and saw every TOO sent near it (None: ask now)."""
        early = self._asked.pop(key, None)
        if early is None:
            return None
        try:
            answers = await early.task
        except Exception:  # noqa: BLE001 e.g. the account's client is gone: ask at the turn
            return None
        if spec != early.spec or time.monotonic() - early.asked_at > FRESH_S:
            return None
        if self._sent and self._sent[0][0] > early.since:
            return None  # sends it may not have seen are forgotten: assume one was near
        if _near_any(spec, (s for n, s in self._sent if n >= early.since)):
            return None
        return answers

    def prune(self) -> None:
        """Drop answers nobody took in time (a plan that made no row, or whose row was
        handled another way)."""
        now = time.monotonic()
        for key, early in list(self._asked.items()):
            if now - early.asked_at > FRESH_S:
                del self._asked[key]
                early.task.cancel()

    async def close(self) -> None:
        """Cancel every question still out and wait for them to end."""
        asked, self._asked = list(self._asked.values()), {}
        for early in asked:
            early.task.cancel()
        for early in asked:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await early.task
