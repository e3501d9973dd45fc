"""The tracker: follows submitted requests to a terminal state, from stored next-poll times.

* A TOO is polled until the service decides it and Swift observes it. Each new observation is
  recorded; the first one with a target ID *releases* the XRT jobs waiting for it (rules with
  ``submit: after_observation``), which get that ``targ``, in the same transaction as the
  observation and its notice (a crash keeps all or none). A TOO that ends unobserved takes
  its waiting jobs with it, also in one transaction (see ``Repository.transition``).
* An XRT job is polled (at most once per ``xrt_poll`` per job and ``xrt_polls_per_minute``
  overall, as the UKSSDC asks) until every product is terminal; then the results are fetched
  and stored once each, with their notices in the same transaction. A job of a retracted
  event is cancelled instead.
* Poll times live in the store, so a restart resumes exactly the polls that were due.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from autotoo.logs import bind, get_logger, unbind
from autotoo.pipeline.keys import submission_key
from autotoo.pipeline.ports import (
    AccountPorts,
    RemoteError,
    TooPort,
    TooProgress,
    XrtPort,
    XrtProgress,
)
from autotoo.pipeline.remotes import xrt_spec
from autotoo.pipeline.settings import Clock, PipelineSettings, system_clock
from autotoo.pipeline.worker import RemoteWorker
from autotoo.store.errors import ConflictError
from autotoo.store.repository import Repository
from autotoo.store.rows import (
    Api,
    Notice,
    PlannedSubmission,
    SubmissionRow,
    SubmissionState,
)

log = get_logger("autotoo.tracker")

S = SubmissionState
# The reason of an XRT job that found no data yet and was followed by a new one.
NO_DATA_RETRY = "no data yet; a new job will be requested"
_POSITION_SOURCES = {
    "position_standard": "xrt_standard",
    "position_enhanced": "xrt_enhanced",
    "position_astrometric": "xrt_astrometric",
}


class Tracker(RemoteWorker):
    name = "tracker"

    def __init__(
        self,
        repo: Repository,
        *,
        settings: Callable[[], PipelineSettings],
        too: TooPort | None,
        xrt: XrtPort | None,
        accounts: Mapping[str, AccountPorts] | None = None,
        clock: Clock = system_clock,
        wake: asyncio.Event | None = None,
        on_release: Callable[[], None] | None = None,
        planning_lock: asyncio.Lock | None = None,
    ) -> None:
        super().__init__(
            repo,
            settings=settings,
            too=too,
            xrt=xrt,
            accounts=accounts,
            clock=clock,
            wake=wake,
            planning_lock=planning_lock,
        )
        self.on_release = on_release or (lambda: None)
        self._xrt_polls: collections.deque[float] = collections.deque()
        self.polls = {Api.TOO: 0, Api.XRT: 0}
        # What a poll is, per API: a TOO is followed to its observations, a job to its products.
        self._track: dict[Api, Callable[[SubmissionRow], Awaitable[None]]] = {
            Api.TOO: self._track_too,
            Api.XRT: self._track_xrt,
        }

    async def step(self) -> int:
        """Poll every due TOO, and as many due XRT jobs as the global rate limit allows.

        The two are fetched apart on purpose: XRT rows held back by the rate limit stay due
        (oldest first), and with one shared LIMIT they filled the whole window once more than
        500 were waiting, so no TOO was polled again (bench/tracking.py, 10,000 jobs).
        """
        now = self.clock()
        shared = self.repo.db.shared  # several instances: each due poll is claimed first
        active = [S.SUBMITTED, S.TRACKING]
        rows = await self.repo.submissions(states=active, due_before=now, api=Api.TOO, limit=500)
        xrt_room = self._xrt_room()
        if xrt_room:
            rows += await self.repo.submissions(
                states=active, due_before=now, api=Api.XRT, limit=min(xrt_room, 500)
            )
        handled = 0
        for row in rows:
            if self.stopping:
                break
            if row.api is Api.XRT and not self._xrt_poll_allowed():
                continue  # the global rate limit: the row stays due for the next step
            if shared and not await self.repo.leases.claim_poll(
                row.id, states=active, now=self.clock(), lease=self.settings().lease
            ):
                continue  # another instance took this poll (store/leases.py)
            bind(submission_key=row.key, rule=row.rule, event=row.group_key)
            try:
                await self._track[row.api](row)
                handled += 1
            except ConflictError:
                log.info("row changed under us; skipped")
            finally:
                unbind("submission_key", "rule", "event")
        return handled

    def _xrt_room(self) -> int:
        """XRT polls still allowed in the sliding minute."""
        now = asyncio.get_running_loop().time()
        while self._xrt_polls and now - self._xrt_polls[0] >= 60.0:
            self._xrt_polls.popleft()
        return max(0, self.settings().xrt_polls_per_minute - len(self._xrt_polls))

    def _xrt_poll_allowed(self) -> bool:
        if not self._xrt_room():
            return False
        self._xrt_polls.append(asyncio.get_running_loop().time())
        return True

    async def _record(
        self, row: SubmissionRow, status: str, detail: dict[str, Any], **extra: Any
    ) -> None:
        """What the service said at this poll (for ``autotoo jobs show`` and the dashboard)."""
        assert row.remote_id is not None
        await self.repo.record_remote(
            row.id, api=row.api, remote_id=row.remote_id, status=status, detail=detail, **extra
        )

    async def _poll_failed(self, row: SubmissionRow, exc: RemoteError) -> None:
        log.warning("poll failed; will retry", error=str(exc))
        await self._record(row, "poll failed", {"error": str(exc)}, failed_poll=True)
        await self._next_poll(row)

    async def _complete(self, row: SubmissionRow, what: str, notices: list[Notice]) -> None:
        """Nothing more will come of it: 'done'."""
        await self.repo.transition(
            row.id,
            expect=[S.TRACKING],
            to=S.DONE,
            next_at=None,
            detail=f"complete: {what}",
            notices=notices,
        )

    async def _next_poll(self, row: SubmissionRow) -> None:
        await self.repo.set_next(
            row.id, self.clock() + self.remotes[row.api].poll_every(self.settings())
        )

    # ---- Swift TOOs ----------------------------------------------------------------------
    async def _track_too(self, row: SubmissionRow) -> None:
        assert row.remote_id is not None
        self.polls[Api.TOO] += 1
        try:
            progress = await self._too_port(row).progress(row.remote_id)
        except RemoteError as exc:
            await self._poll_failed(row, exc)
            return
        observations = len(progress.observations)
        detail = {"target_id": progress.target_id, "urgency": progress.urgency}
        await self._record(row, progress.status, {**detail, "observations": observations})
        if row.state is S.SUBMITTED:
            row = await self.repo.transition(row.id, expect=[S.SUBMITTED], to=S.TRACKING)
        if progress.decided and not progress.approved:
            await self._too_rejected(row, progress)
            return
        targets = sorted({o.target_id for o in progress.observations})
        obsids = sorted(o.obsid for o in progress.observations)
        # One transaction: the observations, their notice and the release of the XRT jobs
        # waiting for them. Apart, a SIGKILL after the first left the jobs waiting for ever
        # (the next poll found nothing new to release them for).
        added, released = await self.repo.record_observations(
            row.id,
            [
                {
                    "target_id": o.target_id,
                    "obsid": o.obsid,
                    "start": o.start,
                    "end": o.end,
                    "exposure_s": o.exposure_s,
                }
                for o in progress.observations
            ],
            notices=self._notices(row, "observed", target_id=",".join(targets), obsids=obsids),
            now=self.clock(),
        )
        if added:
            log.info("observed", target_ids=targets, obsids=obsids)
        for child in released:
            log.info("XRT products released", child=child.child_key, targ=targets)
        if released:
            self.on_release()
        if progress.complete:
            notices = self._notices(row, "complete", progress.status)
            await self._complete(row, progress.status, notices)
        else:
            await self._next_poll(row)

    async def _too_rejected(self, row: SubmissionRow, progress: TooProgress) -> None:
        # its XRT jobs are withdrawn with it
        await self._end(row, S.REJECTED, f"not approved: {progress.status}", word="rejected")

    # ---- UKSSDC XRT jobs -----------------------------------------------------------------
    async def _track_xrt(self, row: SubmissionRow) -> None:
        assert row.remote_id is not None
        job_id = row.remote_id
        event = await self.repo.event_by_id(row.event_id)
        if event is not None and event.retracted:
            await self._cancel_xrt(row)
            return
        self.polls[Api.XRT] += 1
        try:
            progress = await self._xrt_port(row).progress(job_id, _products(row))
        except RemoteError as exc:
            await self._poll_failed(row, exc)
            return
        status = "complete" if progress.terminal else "running"
        await self._record(row, status, {"codes": progress.codes}, url=progress.url)
        if row.state is S.SUBMITTED:
            row = await self.repo.transition(
                row.id,
                expect=[S.SUBMITTED],
                to=S.TRACKING,
                notices=self._notices(row, "running", url=progress.url),
            )
        if not progress.terminal:
            await self._next_poll(row)
            return
        if not progress.succeeded:
            await self._xrt_without_products(row, progress)
            return
        try:
            results = await self._xrt_port(row).retrieve(job_id, progress.succeeded)
        except RemoteError as exc:
            await self._poll_failed(row, exc)
            return
        for kind, data in results.items():
            await self.repo.put_result(
                row.id, kind, data, notices=self._result_notices(row, kind, data)
            )
        products = sorted(results)
        notices = self._notices(row, "complete", url=progress.url, products=products)
        await self._complete(row, str(products), notices)

    def _result_notices(self, row: SubmissionRow, kind: str, data: Any) -> list[Notice]:
        source = _POSITION_SOURCES.get(kind)
        if source is None or not isinstance(data, dict) or "ra" not in data:
            return []
        position = {
            "ra": data["ra"],
            "dec": data["dec"],
            "err90_arcsec": data.get("err90_arcsec"),
            "source": source,
        }
        return self._notices(row, "complete", f"{kind} retrieved", position=position)

    async def _xrt_without_products(self, row: SubmissionRow, progress: XrtProgress) -> None:
        retry = xrt_spec(row).retry
        first = row.first_try_at or row.sent_at or self.clock()
        if progress.no_data and retry is not None and self.clock() - first < retry.for_:
            # One transaction: this job failed and its successor is planned (apart, a crash
            # between them lost the retry).
            await self.repo.transition_and_add(
                row.id,
                expect=[S.TRACKING],
                to=S.FAILED,
                reason=NO_DATA_RETRY,
                next_at=None,
                notices=self._notices(row, "failed", NO_DATA_RETRY),
                plan=xrt_retry(row, self.clock()),
                parent_id=row.parent_id,
                added="retry: the UKSSDC had no data yet",
            )
            return
        reason = f"no product could be built: {progress.codes}"
        await self.repo.transition(
            row.id,
            expect=[S.TRACKING],
            to=S.FAILED,
            reason=reason,
            next_at=None,
            notices=self._notices(row, "failed", reason, url=progress.url),
        )

    async def _cancel_xrt(self, row: SubmissionRow) -> None:
        assert row.remote_id is not None
        try:
            await self._xrt_port(row).cancel(row.remote_id, _products(row))
        except RemoteError as exc:
            await self._poll_failed(row, exc)
            return
        await self._end(row, S.CANCELLED, "event retracted", word="cancelled")


def xrt_retry(row: SubmissionRow, now: datetime) -> PlannedSubmission:
    """The new job that follows an XRT job which found no data yet: the same request under
    the next attempt's key, due after the rule's retry interval, keeping the first try's
    time (the retry window counts from it). Also what the consistency sweep plans for a lost
    one."""
    spec = xrt_spec(row)
    attempt = row.attempt + 1
    key = submission_key(row.rule, row.group_key, row.action, attempt)
    return PlannedSubmission(
        key=key,
        rule=row.rule,
        action=row.action,
        spec=spec.named(_with_attempt(spec.name, row.key, key)),
        attempt=attempt,
        not_before=now + (spec.retry.every if spec.retry else timedelta(0)),
        first_try_at=row.first_try_at or row.sent_at or now,
    )


def _products(row: SubmissionRow) -> tuple[str, ...]:
    return xrt_spec(row).product_names


def _with_attempt(name: str, old_key: str, new_key: str) -> str:
    """Job names carry the key (reconciliation searches for it); a new attempt, a new key."""
    return name.replace(old_key, new_key) if old_key in name else f"{name} {new_key}"
