"""The consistency sweep: repairs rows that a crash (or an older autotoo) left waiting for
something that has already happened, at start and every ``sweep_every`` (5 min).

Every multi-step sequence that decides a follow-up now commits its steps in one transaction
(the tracker's observation, notice and release; a rejection with its policy resubmission; a
failed XRT job with its retry; a parent's end with its waiting children), so with this
version a SIGKILL should leave none of the states below. They still occur in state files
written by earlier versions, which committed those steps apart, and a row must never be
able to wait for an event that has already happened, whatever put it there. The sweep
checks, each in its own transaction, and logs one line per repair (row ids and reason):

1. **A follow-up whose parent was observed but which was never released** (an XRT job with
   ``submit: after_observation``: 'planned', no next time, while its TOO has stored
   observations, 'tracking' or 'done'). Before: SIGKILL between storing the observation and
   the release; the next poll found nothing new, so nothing released it. Repair: released
   with the observed target IDs, exactly as the tracker does.
2. **A follow-up waiting for a parent that was rejected and then resubmitted** (the policy's
   next attempt exists, the job still points at the rejected one). Before: SIGKILL between
   planning the new attempt and re-pointing the jobs. Repair: it waits for the newest attempt.
3. **A follow-up waiting for a parent that ended without an observation** (rejected for good,
   not approved, cancelled, a debug or dry-run TOO 'done', failed). Before: SIGKILL between
   ending the parent and withdrawing its jobs; a plain rejection at submission and a dry-run
   TOO never withdrew them at all. Repair: cancelled, the parent's end as the reason.
4. **A follow-up waiting for a parent parked for a human** (needs_human: budget, policy
   exhausted, credentials refused, listing unreachable). The daemon no longer follows that
   parent, so nothing will release the job; before, it stayed 'planned' for ever and
   unseen. Repair: needs_human, saying why. Also one whose parent row does not exist.
5. **An XRT job that found no data yet whose retry was never planned** ('failed' with the
   retry reason, no next attempt). Before: SIGKILL between failing the job and planning the
   next one. Repair: the retry is planned (due now; its own outcome applies the retry window).
6. **A TOO rejected while its rule's policy had another attempt, with no next attempt**.
   Before: SIGKILL between the rejection and planning the new attempt. Repair: needs_human,
   not a new TOO: the lost attempt may be days old, and a human should decide whether a late
   TOO is still worth Swift's time.

States a crash can leave that are not stranded, so not checked here: 'submitting' (the
submitter turns them to 'unknown' and reconciles them at start); an observation stored with
the TOO not yet 'done' and an XRT result stored with the job not yet 'done' (the row is
still due and the next poll finishes it; a result's notices are committed with the result);
a notice delivered but not yet deleted (delivered again: at least once). Not detectable: an
'observed' notice lost by an older version's crash between storing the observation and
writing the notice, for a TOO that had no follow-up (nothing records that it was due).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Sequence

from autotoo.logs import get_logger
from autotoo.pipeline.remotes import too_spec
from autotoo.pipeline.settings import Clock, PipelineSettings, system_clock
from autotoo.pipeline.tracker import NO_DATA_RETRY, xrt_retry
from autotoo.pipeline.worker import row_notices
from autotoo.store.errors import ConflictError
from autotoo.store.repository import Repository
from autotoo.store.rows import Api, Notice, Settled, SubmissionRow, SubmissionState

log = get_logger("autotoo.sweep")

S = SubmissionState


def log_settled(settled: Sequence[Settled]) -> None:
    """What a transition did to the rows waiting for it (the repository's ``on_settled``)."""
    for one in settled:
        log.info(
            "waiting follow-up settled",
            submission=one.child_id,
            submission_key=one.child_key,
            parent=one.parent_id,
            outcome=one.outcome,
            reason=one.reason,
        )


class Sweep:
    """A daemon component: one sweep at start, then one every ``sweep_every``."""

    name = "sweep"
    intake = False

    def __init__(
        self,
        repo: Repository,
        *,
        settings: Callable[[], PipelineSettings],
        clock: Clock = system_clock,
        on_release: Callable[[], None] | None = None,
        on_notices: Callable[[], None] | None = None,
    ) -> None:
        self.repo = repo
        self.settings = settings
        self.clock = clock
        self.on_release = on_release or (lambda: None)
        self.on_notices = on_notices or (lambda: None)
        self.repaired = 0  # since start, for tests and the curious

    async def run(self) -> None:
        while True:
            await self.step()
            await asyncio.sleep(self.settings().sweep_every.total_seconds())

    async def step(self) -> int:
        """Check every stranded state once and repair what is found; how many repairs."""
        # Lost resubmissions first: their TOO is parked for a human, and its waiting jobs
        # then say so (instead of "rejected for good").
        repairs = await self._lost_resubmissions() + await self._lost_retries()
        repairs += await self._waiting()
        if repairs:
            self.repaired += repairs
            self.on_release()
            self.on_notices()
        return repairs

    def _notices(self, row: SubmissionRow, state: str, reason: str) -> list[Notice]:
        return row_notices(self.settings(), row, state, reason)

    async def _waiting(self) -> int:
        """States 1-4: every waiting row whose parent's outcome is known."""
        settled = await self.repo.settle_waiting(now=self.clock(), notices_for=self._notices)
        for one in settled:
            log.warning(
                "stranded follow-up repaired",
                submission=one.child_id,
                submission_key=one.child_key,
                parent=one.parent_id,
                repair=one.outcome,
                reason=one.reason,
            )
        return len(settled)

    async def _lost_retries(self) -> int:
        """State 5: an XRT job without data whose planned retry does not exist."""
        repaired = 0
        rows = await self.repo.ended_without_successor(
            api=Api.XRT, state=S.FAILED, reason=NO_DATA_RETRY
        )
        for row in rows:
            plan = dataclasses.replace(xrt_retry(row, self.clock()), not_before=self.clock())
            why = "its retry after 'no data yet' was never planned (a crash); planned now"
            new = await self.repo.add_submission(
                row.event_id, plan, parent_id=row.parent_id, detail=f"consistency sweep: {why}"
            )
            if new is None:
                continue
            repaired += 1
            log.warning(
                "stranded follow-up repaired",
                submission=row.id,
                submission_key=row.key,
                new_submission=new.id,
                repair="retry planned",
                reason=why,
            )
        return repaired

    async def _lost_resubmissions(self) -> int:
        """State 6: a rejected TOO whose policy asked for an attempt that does not exist."""
        repaired = 0
        for row in await self.repo.ended_without_successor(api=Api.TOO, state=S.REJECTED):
            kind = (row.reason or "").split(":", 1)[0]
            urgencies = too_spec(row).on_reject.get(kind) or ()
            if row.attempt >= len(urgencies):
                continue  # rejected for good: nothing was lost
            why = (
                f"{row.reason}; the rule's policy asked for attempt {row.attempt + 1} at "
                f"urgency {urgencies[row.attempt]}, which a crash lost: resubmit by hand if "
                "it is still wanted"
            )
            try:
                await self.repo.transition(
                    row.id,
                    expect=[S.REJECTED],
                    to=S.NEEDS_HUMAN,
                    reason=why,
                    detail=f"consistency sweep: {why}",
                    notices=self._notices(row, "needs_human", why),
                    children=self._notices,
                )
            except ConflictError:
                continue
            repaired += 1
            log.warning(
                "stranded follow-up repaired",
                submission=row.id,
                submission_key=row.key,
                repair="needs_human",
                reason=why,
            )
        return repaired
