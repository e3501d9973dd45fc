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
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Final

from autotoo.alerts.values import separation_deg
from autotoo.pipeline import approval, presend
from autotoo.pipeline.presend import Answers
from autotoo.store.rows import SubmissionRow, SubmissionState
from autotoo.store.specs import TooSpec

DEPTH: Final = 4  # rows asked ahead of the one being sent


def _asked(row: SubmissionRow) -> TooSpec | None:
    """The row's TOO spec when it is asked anything before sending and may be asked ahead."""
    spec = row.spec
    if row.state is not SubmissionState.PLANNED or not isinstance(spec, TooSpec):
        return None
    if spec.checked or not presend.wanted(spec) or approval.needs_asking(row):
        return None
    return spec


class Lookahead:
    """Pre-send answers of the rows after the current one (module docstring)."""

    def __init__(
        self,
        rows: Sequence[SubmissionRow],
        ask: Callable[[SubmissionRow, TooSpec], Awaitable[Answers]],
        *,
        depth: int = DEPTH,
        enabled: bool = True,
    ) -> None:
        self._rows = rows
        self._ask = ask
        self._depth = depth if enabled else 0
        self._tasks: dict[int, asyncio.Task[Answers]] = {}
        self._tried: set[int] = set()  # row ids looked at (asked ahead or not): once each

    def at(self, index: int) -> None:
        """``rows[index]`` is about to be handled: ask ahead for those after it."""
        for later in range(index + 1, min(index + 1 + self._depth, len(self._rows))):
            row = self._rows[later]
            if row.id in self._tried:
                continue
            self._tried.add(row.id)
            spec = _asked(row)
            if spec is None or self._near_an_earlier_one(index, later, spec):
                continue
            self._tasks[row.id] = asyncio.ensure_future(self._ask(row, spec))

    def _near_an_earlier_one(self, index: int, later: int, spec: TooSpec) -> bool:
        position = presend.position_of(spec)
        if position is None:
            return False  # nothing is asked about a request without a position
        on = presend.skipping(spec)
        radius = on.radius_arcmin / 60.0 if on is not None else 0.0
        for row in self._rows[index:later]:
            other = presend.position_of(row.spec) if isinstance(row.spec, TooSpec) else None
            # 1% margin: the service's own radius test may round differently from ours.
            if other is not None and separation_deg(*position, *other) <= radius * 1.01:
                return True
        return False

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
