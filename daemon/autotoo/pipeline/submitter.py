"""The submitter: turns due 'planned' rows into remote requests, exactly once.

Per row, in order, each step committed before the next begins:

1. dry-run: mark done, send nothing. Budgets (the rule's and the global daily cap) are
   checked; beyond them the row is parked as needs_human and a notice is published.
2. ``planned -> submitting`` is committed *durably* (fsync) with ``sent_at`` before the POST.
3. The POST. Its outcome decides the next state:
   success -> submitted (remote id; committed without an fsync: a power cut that loses it
   leaves the row 'submitting', see below); provably not sent -> planned again (backoff);
   rejected -> rejected, or an explicit new attempt when the rule's policy says so (a new
   row with attempt+1, hence a new key); credentials refused -> needs_human;
   anything else (timeout after sending, 5xx, unreadable reply, even a bug) -> unknown.
4. 'unknown' rows are reconciled against the remote listing before anything is resent:
   found -> submitted; absent in ``reconcile_checks`` consecutive listings -> planned again;
   the listing itself failing ``reconcile_max_errors`` times -> needs_human.

A crash between steps 2 and 3 (or a power cut that lost a 'submitted' commit) leaves
'submitting' rows: at start they become 'unknown', because nobody can tell whether their
POST left the machine.

Several instances on one database (PostgreSQL; store/leases.py, docs/postgresql.md): each
due row is claimed with a lease before it is handled, step 2 is fenced by that lease (and
the request as read), and a 'submitting' row whose lease expired (its instance died or is
paused) becomes 'unknown' in another instance, as at a restart: reconciled, never resent
blindly. On SQLite (one instance) no lease is taken.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from autotoo import sendwindow
from autotoo.durations import human_duration
from autotoo.logs import bind, get_logger, unbind
from autotoo.pipeline import approval, presend, takeover
from autotoo.pipeline.lookahead import EarlyAsks, Lookahead
from autotoo.pipeline.outcomes import SubmissionOutcomes
from autotoo.pipeline.ports import (
    RemoteNotSentError,
    RemoteRejectedError,
)
from autotoo.pipeline.remotes import Reply
from autotoo.store.budgets import BudgetCap, BudgetExhaustedError
from autotoo.store.errors import ConflictError, LeaseLostError, StorageUnavailableError
from autotoo.store.leases import Fence
from autotoo.store.rows import (
    AlertOutcome,
    Api,
    PlannedSubmission,
    SubmissionRow,
    SubmissionState,
)
from autotoo.store.specs import Spec, TooSpec, XrtSpec

log = get_logger("autotoo.submitter")

S = SubmissionState


class Submitter(SubmissionOutcomes):
    name = "submitter"

    def __init__(self, *args: Any, instance: str = "local", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.instance = instance  # this daemon's id in `instances` (the leases' owner)
        self.early = EarlyAsks()

    def foresee(self, outcomes: Sequence[AlertOutcome]) -> bool:
        """The processor is about to commit these plans: ask the pre-send questions of
        those due now (pipeline/lookahead.py, :class:`EarlyAsks`), so that they are in by
        this TOO's turn. True: some were asked (the caller lets them leave before it goes
        on). Not in dry-run, and not on a shared store (another instance's TOO, sent
        meanwhile, is not seen here)."""
        if self.settings().dry_run or self.repo.db.shared:
            return False
        now, started = self.clock(), False
        for outcome in outcomes:
            for plan in outcome.plans:
                if plan.waiting or (plan.not_before is not None and plan.not_before > now):
                    continue
                ask = functools.partial(self._ask_planned, plan, outcome.group_key)
                started = self.early.start(plan, ask) or started
        return started

    async def _ask_planned(
        self, plan: PlannedSubmission, event: str, spec: TooSpec
    ) -> presend.Answers:
        """The pre-send questions of a plan not yet stored (in a task of its own)."""
        bind(submission_key=plan.key, rule=plan.rule, event=event)
        return await presend.ask(self.too_remote.port(spec.account), spec, now=self.clock())

    async def start(self) -> None:
        await self.recover()

    async def run(self) -> None:
        """The rounds, and on a shared store a watch for expired 'submitting' leases of its
        own: a round may be in a POST for seconds, and a dead instance's rows must be taken
        over within the lease plus a second, not after this instance's queue."""
        try:
            if not self.repo.db.shared:
                await super().run()
                return
            watch = asyncio.create_task(self._watch_leases(), name="lease-watch")
            try:
                await super().run()
            finally:
                watch.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watch
        finally:
            await self.early.close()  # questions no turn will take

    async def _watch_leases(self) -> None:
        every = min(0.5, self._lease_for().total_seconds() / 4)
        while not self.stopping:
            await asyncio.sleep(every)
            try:
                if await self.take_over():
                    self.wake.set()  # reconcile them in the next round
            except StorageUnavailableError:
                await self.repo.db.storage.wait()
            except Exception:  # the watch must outlive a bad round
                log.exception("lease watch failed; retrying")

    async def recover(self) -> int:
        """'submitting' rows left by a crash: their POST may have left (pipeline/takeover.py)."""
        return await takeover.recover(
            self.repo, instance=self.instance, clock=self.clock, lease=self._lease_for()
        )

    async def take_over(self) -> int:
        """'submitting' rows whose lease expired become 'unknown' (pipeline/takeover.py)."""
        return await takeover.take_over(
            self.repo, instance=self.instance, now=self.clock(), lease=self._lease_for()
        )

    def _lease_for(self) -> timedelta:
        return self.settings().lease

    async def step(self) -> int:
        """Handle every due row once; return how many were handled."""
        handled = await self.take_over() if self.repo.db.shared else 0
        now = self.clock()
        due = await self.repo.submissions(states=[S.PLANNED, S.UNKNOWN], due_before=now)
        ahead = Lookahead(due, self._ask, enabled=not self.settings().dry_run, early=self.early)
        try:
            handled += await self._handle(due, ahead)
        finally:
            await ahead.close()
            self.early.prune()
        # approve: human -- after the sends, so that its read is never in an alert's path
        handled += await approval.lapse_due(self.repo, self.settings(), now)
        if not due:
            self.on_notices()  # the processor's own notices (e.g. 'planned' with a settle)
        return handled

    async def _handle(self, due: list[SubmissionRow], ahead: Lookahead) -> int:
        """Each due row in turn (claimed first on a shared store); how many were handled."""
        shared, handled = self.repo.db.shared, 0
        for index, row in enumerate(due):
            if self.stopping:
                break
            ahead.at(index)
            if shared:
                self._lease = await self.repo.leases.claim(
                    row.id,
                    state=row.state,
                    owner=self.instance,
                    now=self.clock(),
                    lease=self._lease_for(),
                )
                if self._lease is None:
                    continue  # another instance holds it (or it moved on)
            bind(submission_key=row.key, rule=row.rule, event=row.group_key)
            try:
                if row.state is S.UNKNOWN:
                    await self._reconcile(row)
                else:
                    await self._submit(row, ahead)
                handled += 1
            except LeaseLostError as exc:
                log.warning("lease lost; the row is left to its new holder", reason=str(exc))
            except ConflictError:
                log.info("row changed under us; skipped")  # e.g. a retraction cancelled it
            finally:
                self._lease = None
                unbind("submission_key", "rule", "event")
            self.on_notices()
        return handled

    # ---- budgets -------------------------------------------------------------------------
    def _caps(self, spec: TooSpec, row: SubmissionRow) -> list[BudgetCap]:
        """The caps a TOO must stay under: the rule's budget, its account's daily cap and
        the global one (over every account)."""
        s = self.settings()
        now = self.clock()
        day = now - timedelta(days=1)
        caps = []
        if spec.budget:
            per = spec.budget.per
            caps.append(
                BudgetCap(
                    Api.TOO, spec.budget.max, now - per, "rule", human_duration(per), rule=row.rule
                )
            )
        cap = s.account_too_per_day.get(spec.account)
        if cap is not None:
            caps.append(
                BudgetCap(
                    Api.TOO, cap, day, f"account {spec.account}", "24 h", account=spec.account
                )
            )
        caps.append(BudgetCap(Api.TOO, s.too_per_day, day, "global", "24 h"))
        return caps

    async def _over_budget(self, spec: TooSpec, row: SubmissionRow) -> str | None:
        """Why a TOO may not be sent now (read before it is prepared; the move to
        'submitting' counts again, atomically: store/budgets.py)."""
        for cap in self._caps(spec, row):
            used = await self.repo.count_sent(
                api=Api.TOO, since=cap.since, rule=cap.rule, account=cap.account
            )
            if used >= cap.limit:
                return cap.exhausted(used)
        return None

    # ---- submission ----------------------------------------------------------------------
    async def _preflight(self, row: SubmissionRow) -> bool:
        """Everything checked before a row may be sent; False: it was handled otherwise.
        The policies are the API's own: a TOO has budgets, XRT jobs a cap on those active."""
        s = self.settings()
        if await approval.ask(self.repo, s, row, self.clock()):
            return False  # a rule's `approve: human`: waits for a person (also in dry-run)
        if s.dry_run:
            # the same state as the store's, and a notice that says nothing was sent
            await self._end(row, S.DONE, "dry-run: not sent", word="done")
            return False
        reason = None
        if isinstance(row.spec, TooSpec):
            reason = await self._over_budget(row.spec, row)
        if reason is None and not self.remotes[row.api].configured(row.account):
            reason = self.remotes[row.api].why_missing(row.account)
        if reason is not None:
            await self._park(row, reason)
            return False
        if isinstance(row.spec, XrtSpec) and await self._xrt_active() >= s.xrt_max_active:
            await self.repo.set_next(row.id, self.clock() + s.xrt_poll)  # the cap: wait a turn
            return False
        return True

    async def _checked(self, row: SubmissionRow, spec: TooSpec) -> Spec | None:
        """The TOO after the rule's optional checks (None: the row was handled)."""
        try:
            body, notes = await self._too_port(row).prepare(
                spec.body,
                check_uvot_mode=spec.check_uvot_mode,
                uvot_fallback=spec.uvot_fallback,
                server_validate=spec.server_validate,
            )
        except RemoteNotSentError as exc:
            log.warning("pre-submission check failed; will retry", error=str(exc))
            await self.repo.set_next(row.id, self.clock() + self.settings().retry_not_sent)
            return None
        except RemoteRejectedError as exc:
            await self._rejected(row, exc)
            return None
        for note in notes:
            log.info("pre-submission check", note=note)
        return dataclasses.replace(spec, body=body)

    async def _ask(self, row: SubmissionRow, spec: TooSpec) -> presend.Answers:
        """The pre-send questions of ``row`` (asked at its turn, or ahead of it: then in a
        task of its own, whose log lines must name this row, not the one being sent)."""
        bind(submission_key=row.key, rule=row.rule, event=row.group_key)
        return await presend.ask(self._too_port(row), spec, now=self.clock())

    async def _answers(
        self, row: SubmissionRow, spec: TooSpec, ahead: Lookahead | None
    ) -> presend.Answers:
        """The row's pre-send answers: asked when it was planned, ahead of its turn, or now."""
        answers = await self.early.answers(row.key, spec)
        if answers is None and ahead is not None:
            answers = await ahead.answers(row, spec)
        return answers if answers is not None else await self._ask(row, spec)

    async def _submit(self, row: SubmissionRow, ahead: Lookahead | None = None) -> None:
        if not await self._preflight(row):
            return
        spec: Spec | None = row.spec
        if isinstance(row.spec, TooSpec) and row.spec.checked:
            spec = await self._checked(row, row.spec)
            if spec is None:
                return
        skip = None
        if isinstance(spec, TooSpec) and presend.wanted(spec):  # Swift already on it? visible?
            answers = await self._answers(row, spec, ahead)
            own = await presend.earlier_targets(self.repo, row)
            verdict = presend.decide(spec, answers, own)
            spec, skip = verdict.spec, verdict.skip
        # The planning lock: the processor holds it from reading an event's rows to committing
        # its plan. Holding it here (only here, never during the POST) means a replan or a
        # retraction is either fully before this point (seen in the re-read below) or fully
        # after it (and then sees the row as 'submitting').
        async with self.planning_lock:
            fresh = await self.repo.submission(row.id)
            if fresh is None or fresh.state is not S.PLANNED or fresh.spec != row.spec:
                return  # replanned or withdrawn meanwhile: the next round takes it as it is now
            if skip is not None:
                log.info("not sent: Swift is already on the target", reason=skip)
                await self._end(row, S.DONE, skip, word="skipped")
                return
            # Across instances the same guard is the fence: this lease, still live, and
            # the request as read (another instance's replan changes it).
            fence = self._fence(row, request=True)
            renew: dict[str, Any] = {}
            if fence is not None:  # the lease renewed for the POST
                renew["lease_until"] = self.clock() + self._lease_for()
            began = time.monotonic()
            try:
                row = await self.repo.transition(
                    row.id,
                    expect=[S.PLANNED],
                    to=S.SUBMITTING,
                    durable=True,
                    sent_at=self.clock(),
                    spec=spec,
                    detail="pre-submission check changed the request" if spec != row.spec else None,
                    notices=self._notices(row, "submitting"),
                    fence=fence,
                    budget=self._caps(row.spec, row) if isinstance(row.spec, TooSpec) else (),
                    **renew,
                )
            except BudgetExhaustedError as exc:  # another instance spent it meanwhile
                await self._park(row, exc.reason)
                return
        if fence is not None and time.monotonic() - began > self._lease_for().total_seconds() / 2:
            # Paused (or starved) past half the lease since the fence was checked: another
            # instance may take the row over at any moment, so this one does not POST.
            await self.repo.transition(
                row.id,
                expect=[S.SUBMITTING],
                to=S.PLANNED,
                sent_at=None,
                next_at=self.clock(),
                fence=Fence(fence.lease, self.clock()),
                detail="not sent: the lease ran short before the POST",
            )
            return
        # Across instances the request may leave only while this lease is surely ours:
        # the clients check the same half-lease right before they write it (sendwindow).
        closes = began + self._lease_for().total_seconds() / 2 if fence is not None else None
        if isinstance(row.spec, TooSpec):
            self.early.sending(row.spec)  # answers asked early from now may not list it
        try:
            with sendwindow.open_until(closes):
                reply: Reply | Exception = await self.remotes[row.api].send(row, self.settings())
        except Exception as exc:  # noqa: BLE001 every failure is classified when recorded
            reply = exc
        finally:
            self.early.sent()
        # The reply exists only here until it is stored: a disk that refuses the write
        # pauses this until it can be written, rather than losing what the service said.
        await self.until_stored(lambda: self._record_reply(row, reply))

    async def _xrt_active(self) -> int:
        return await self.repo.count_in_states(
            api=Api.XRT, states=[S.SUBMITTING, S.SUBMITTED, S.TRACKING, S.UNKNOWN]
        )
