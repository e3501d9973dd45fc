"""The submitter: turns due 'planned' rows into remote requests, exactly once.

Per row, in order, each step committed before the next begins:

1. dry-run: mark done, send nothing. Budgets (the rule's and the global daily cap) are
   checked; beyond them the row is parked as needs_human and a notice is published.
2. ``planned -> submitting`` is committed *durably* (fsync) with ``sent_at`` before the POST.
3. The POST. Its outcome decides the next state:
   success -> submitted (remote id); provably not sent -> planned again (backoff);
   rejected -> rejected, or an explicit new attempt when the rule's policy says so (a new
   row with attempt+1, hence a new key); credentials refused -> needs_human;
   anything else (timeout after sending, 5xx, unreadable reply, even a bug) -> unknown.
4. 'unknown' rows are reconciled against the remote listing before anything is resent:
   found -> submitted; absent in ``reconcile_checks`` consecutive listings -> planned again;
   the listing itself failing ``reconcile_max_errors`` times -> needs_human.

A crash between steps 2 and 3 leaves 'submitting' rows: at start they become 'unknown',
because nobody can tell whether their POST left the machine.
"""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

from autotoo.durations import human_duration
from autotoo.logs import bind, get_logger, unbind
from autotoo.pipeline.keys import submission_key
from autotoo.pipeline.ports import (
    RemoteAmbiguousError,
    RemoteAuthError,
    RemoteError,
    RemoteNotSentError,
    RemoteRejectedError,
)
from autotoo.pipeline.worker import RemoteWorker
from autotoo.store.errors import ConflictError
from autotoo.store.rows import (
    Api,
    PlannedSubmission,
    SubmissionRow,
    SubmissionState,
    parse_ts,
    ts,
)

log = get_logger("autotoo.submitter")

S = SubmissionState
_Reply = tuple[str, dict[str, Any], str | None]  # remote id, detail, results URL


class Submitter(RemoteWorker):
    name = "submitter"

    async def start(self) -> None:
        await self.recover()

    async def recover(self) -> int:
        """'submitting' rows left by a crash: their POST may have left, so reconcile them."""
        rows = await self.repo.submissions(states=[S.SUBMITTING], limit=10_000)
        for row in rows:
            await self.repo.transition(
                row.id,
                expect=[S.SUBMITTING],
                to=S.UNKNOWN,
                next_at=self.clock(),
                detail="found 'submitting' at start: the POST may have been sent",
            )
        if rows:
            log.warning("reconciling submissions interrupted by a restart", count=len(rows))
        return len(rows)

    async def step(self) -> int:
        """Handle every due row once; return how many were handled."""
        now = self.clock()
        due = await self.repo.submissions(states=[S.PLANNED, S.UNKNOWN], due_before=now)
        handled = 0
        for row in due:
            if self.stopping:
                break
            bind(submission_key=row.key, rule=row.rule, event=row.group_key)
            try:
                if row.state is S.UNKNOWN:
                    await self._reconcile(row)
                else:
                    await self._submit(row)
                handled += 1
            except ConflictError:
                log.info("row changed under us; skipped")  # e.g. a retraction cancelled it
            finally:
                unbind("submission_key", "rule", "event")
            self.on_notices()
        if not due:
            self.on_notices()  # the processor's own notices (e.g. 'planned' with a settle)
        return handled

    # ---- helpers -------------------------------------------------------------------------
    async def _park(self, row: SubmissionRow, reason: str) -> None:
        log.warning("parked for a human", reason=reason)
        await self.repo.transition(
            row.id,
            expect=[row.state],
            to=S.NEEDS_HUMAN,
            reason=reason,
            next_at=None,
            detail=reason,
            notices=self._notices(row, "needs_human", reason),
            children=self._child_notices,
        )

    async def _over_budget(self, row: SubmissionRow) -> str | None:
        s = self.settings()
        now = self.clock()
        budget = row.request.get("budget")
        if budget:
            per = timedelta(seconds=float(budget["per_s"]))
            used = await self.repo.count_sent(api=Api.TOO, since=now - per, rule=row.rule)
            if used >= int(budget["max"]):
                window = human_duration(per)
                return f"rule budget exhausted: {used} of {budget['max']} TOOs in {window}"
        used = await self.repo.count_sent(api=Api.TOO, since=now - timedelta(days=1))
        if used >= s.too_per_day:
            return f"global budget exhausted: {used} of {s.too_per_day} TOOs in 24 h"
        return None

    # ---- submission ----------------------------------------------------------------------
    async def _preflight(self, row: SubmissionRow) -> bool:
        """Everything checked before a row may be sent; False: it was handled otherwise."""
        s = self.settings()
        if s.dry_run:
            await self.repo.transition(
                row.id,
                expect=[S.PLANNED],
                to=S.DONE,
                reason="dry-run: not sent",
                next_at=None,
                # the same state as the store's, and a notice that says nothing was sent
                notices=self._notices(row, "done", "dry-run: not sent"),
                children=self._child_notices,
            )
            return False
        if row.api == Api.TOO:
            reason = await self._over_budget(row)
            if reason is None and self.too is None:
                reason = "no Swift TOO client is configured"
            if reason is not None:
                await self._park(row, reason)
                return False
            return True
        if self.xrt is None:
            await self._park(row, "no UKSSDC client is configured")
            return False
        if await self._xrt_active() >= s.xrt_max_active:
            await self.repo.set_next(row.id, self.clock() + s.xrt_poll)  # the cap: wait a turn
            return False
        return True

    async def _checked_body(self, row: SubmissionRow) -> dict[str, Any] | None:
        """The TOO body after the rule's optional checks (None: the row was handled)."""
        request = row.request
        if not (request.get("check_uvot_mode") or request.get("server_validate")):
            return dict(request["body"])
        try:
            body, notes = await self._too_port().prepare(
                request["body"],
                check_uvot_mode=bool(request.get("check_uvot_mode")),
                uvot_fallback=request.get("uvot_fallback"),
                server_validate=bool(request.get("server_validate")),
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
        return body

    async def _submit(self, row: SubmissionRow) -> None:
        if not await self._preflight(row):
            return
        request = row.request
        if row.api == Api.TOO:
            body = await self._checked_body(row)
            if body is None:
                return
            request = {**row.request, "body": body}
        # The planning lock: the processor holds it from reading an event's rows to committing
        # its plan. Holding it here (only here, never during the POST) means a replan or a
        # retraction is either fully before this point (seen in the re-read below) or fully
        # after it (and then sees the row as 'submitting').
        async with self.planning_lock:
            fresh = await self.repo.submission(row.id)
            if fresh is None or fresh.state is not S.PLANNED or fresh.request != row.request:
                return  # replanned or withdrawn meanwhile: the next round takes it as it is now
            row = await self.repo.transition(
                row.id,
                expect=[S.PLANNED],
                to=S.SUBMITTING,
                durable=True,
                sent_at=self.clock(),
                request=request,
                detail="pre-submission check changed the request"
                if request != row.request
                else None,
                notices=self._notices(row, "submitting"),
            )
        try:
            reply: _Reply | Exception = await self._send(row)
        except Exception as exc:  # noqa: BLE001 every failure is classified when recorded
            reply = exc
        # The reply exists only here until it is stored: a disk that refuses the write
        # pauses this until it can be written, rather than losing what the service said.
        await self.until_stored(lambda: self._record_reply(row, reply))

    async def _record_reply(self, row: SubmissionRow, reply: _Reply | Exception) -> None:
        """The POST's outcome decides the row's next state (module docstring, step 3)."""
        s = self.settings()
        try:
            remote_id, detail, url = _unwrap(reply)
        except RemoteNotSentError as exc:
            log.warning("not sent; will retry", error=str(exc))
            await self.repo.transition(
                row.id,
                expect=[S.SUBMITTING],
                to=S.PLANNED,
                sent_at=None,
                next_at=self.clock() + s.retry_not_sent,
                reason=f"not sent: {exc}; will retry",
                detail=f"not sent: {exc}",
            )
        except RemoteRejectedError as exc:
            await self._rejected(row, exc)
        except RemoteAuthError as exc:
            await self._park(row, f"credentials refused: {exc}")
        except Exception as exc:  # after the durable 'submitting', anything is ambiguous
            if not isinstance(exc, RemoteAmbiguousError):
                log.exception("unexpected error while submitting; treating as ambiguous")
            await self.repo.transition(
                row.id,
                expect=[S.SUBMITTING],
                to=S.UNKNOWN,
                durable=True,
                next_at=self.clock() + s.reconcile_delay,
                detail=f"outcome unknown: {exc}",
                notices=self._notices(row, "submitting", "outcome unknown; reconciling"),
            )
        else:
            if detail.get("debug"):
                await self._debug_done(row, remote_id)
                return
            log.info("submitted", remote_id=remote_id, api=row.api)
            poll = s.swift_poll if row.api == Api.TOO else s.xrt_poll
            await self.repo.transition(
                row.id,
                expect=[S.SUBMITTING],
                to=S.SUBMITTED,
                durable=True,
                remote_id=remote_id,
                next_at=self.clock() + poll,
                reason=None,  # an earlier retry's reason no longer applies
                detail=f"accepted as {remote_id}",
                notices=self._notices(
                    row,
                    "accepted" if row.api == Api.TOO else "submitted",
                    too_id=remote_id if row.api == Api.TOO else None,
                    job_id=remote_id if row.api == Api.XRT else None,
                    url=url,
                    warnings=detail.get("warnings") or None,
                ),
            )

    async def _send(self, row: SubmissionRow) -> _Reply:
        """The one POST: (remote id, detail, results URL)."""
        if row.api == Api.TOO:
            debug = self.settings().mode == "debug" or bool(row.request.get("debug"))
            remote_id, detail = await self._too_port().submit(
                row.request["body"], marker=row.request["marker"], debug=debug
            )
            return remote_id, detail, None
        remote_id, url = await self._xrt_port().submit(
            row.request["request"], name=row.request["name"]
        )
        return remote_id, {}, url

    async def _debug_done(self, row: SubmissionRow, remote_id: str) -> None:
        """A debug submission was validated and acknowledged; no TOO exists to track."""
        reason = "debug: acknowledged by the service; no TOO was created"
        log.info("debug submission acknowledged", remote_id=remote_id)
        await self.repo.transition(
            row.id,
            expect=[S.SUBMITTING],
            to=S.DONE,
            durable=True,
            remote_id=remote_id,
            reason=reason,
            next_at=None,
            notices=self._notices(row, "accepted", reason),
            children=self._child_notices,  # nothing will be observed
        )

    async def _xrt_active(self) -> int:
        return await self.repo.count_in_states(
            api=Api.XRT, states=[S.SUBMITTING, S.SUBMITTED, S.TRACKING, S.UNKNOWN]
        )

    async def _rejected(self, row: SubmissionRow, exc: RemoteRejectedError) -> None:
        """A refusal, after the POST or by a pre-submission check (then the row is still
        'planned'); either way the same policy applies."""
        current = [row.state]
        reason = f"{exc.kind}: {exc}"
        log.info("rejected", kind=exc.kind, reason=str(exc))
        if row.api == Api.XRT and exc.kind == "no_data":
            first = row.request.get("first_try_at") or ts(row.sent_at or self.clock())
            retry_for = float(row.request.get("retry_for_s", 86400))
            started = parse_ts(first) or self.clock()
            if (self.clock() - started).total_seconds() < retry_for:
                request = {**row.request, "first_try_at": first}
                await self.repo.transition(
                    row.id,
                    expect=current,
                    to=S.PLANNED,
                    sent_at=None,
                    request=request,
                    next_at=self.clock()
                    + timedelta(seconds=float(row.request.get("retry_every_s", 600))),
                    reason=f"no data at the UKSSDC yet: {exc}".strip(),
                    detail=f"no data yet: {exc}",
                )
                return
        policy = (row.request.get("policy") or {}).get(exc.kind)
        if row.api == Api.TOO and policy:
            urgencies = list(policy.get("urgency", []))
            if row.attempt < len(urgencies):
                await self._resubmit(row, current, reason, urgency=int(urgencies[row.attempt]))
                return
            reason = f"{reason}; policy exhausted after {row.attempt + 1} attempts"
            await self._park(row, reason)
            return
        await self.repo.transition(
            row.id,
            expect=current,
            to=S.REJECTED,
            reason=reason,
            next_at=None,
            notices=self._notices(row, "rejected" if row.api == Api.TOO else "failed", reason),
            children=self._child_notices,
        )

    async def _resubmit(
        self, row: SubmissionRow, current: list[SubmissionState], reason: str, *, urgency: int
    ) -> None:
        """An explicit new attempt asked for by the rule's policy: a new row, a new key.

        The rejection, the new attempt and the XRT jobs waiting for the TOO (they now wait
        for the new attempt) are one transaction: apart, a crash after the rejection lost
        the attempt and left the jobs waiting for a TOO that had ended.
        """
        request = copy.deepcopy(row.request)
        request["body"]["urgency"] = urgency
        attempt = row.attempt + 1
        plan = PlannedSubmission(
            key=submission_key(row.rule, row.group_key, row.action, attempt),
            api=row.api,
            rule=row.rule,
            action=row.action,
            request=request,
            attempt=attempt,
            not_before=self.clock(),
        )
        new = await self.repo.transition_and_add(
            row.id,
            expect=current,
            to=S.REJECTED,
            reason=reason,
            next_at=None,
            notices=self._notices(row, "rejected", reason),
            children=self._child_notices,
            plan=plan,
            parent_id=row.id,
            added=f"attempt {attempt} at urgency {urgency} after {reason}",
        )
        if new is not None:
            log.info("resubmission planned", attempt=attempt, urgency=urgency)

    # ---- reconciliation ------------------------------------------------------------------
    async def _reconcile(self, row: SubmissionRow) -> None:
        s = self.settings()
        state = dict(row.request.get("_reconcile") or {"missing": 0, "errors": 0})
        try:
            if row.api == Api.TOO:
                found = await self._too_port().find(row.request["marker"], row.request["body"])
            else:
                found = await self._xrt_port().find(row.request["name"])
        except RemoteError as exc:  # NotConfiguredError included: the listing cannot be read
            state["errors"] = int(state["errors"]) + 1
            if state["errors"] >= s.reconcile_max_errors:
                await self._park(row, f"cannot reconcile: the remote listing failed: {exc}")
                return
            await self.repo.transition(
                row.id,
                expect=[S.UNKNOWN],
                to=S.UNKNOWN,
                request={**row.request, "_reconcile": state},
                next_at=self.clock() + s.reconcile_delay,
                detail=f"reconcile: listing failed ({exc})",
            )
            return
        if found is not None:
            log.info("reconciled: the request exists remotely", remote_id=found)
            await self.repo.transition(
                row.id,
                expect=[S.UNKNOWN],
                to=S.SUBMITTED,
                remote_id=found,
                next_at=self.clock(),
                detail=f"reconciled: found {found} in the listing",
                notices=self._notices(
                    row,
                    "accepted" if row.api == Api.TOO else "submitted",
                    "reconciled with the remote listing",
                ),
            )
            return
        state["missing"] = int(state["missing"]) + 1
        if state["missing"] >= s.reconcile_checks:
            log.warning("reconciled: not in the remote listing; sending again")
            await self.repo.transition(
                row.id,
                expect=[S.UNKNOWN],
                to=S.PLANNED,
                sent_at=None,
                next_at=self.clock(),
                request={**row.request, "_reconcile": {"missing": 0, "errors": 0}},
                detail=f"reconciled: absent from {state['missing']} listings; resending",
            )
            return
        await self.repo.transition(
            row.id,
            expect=[S.UNKNOWN],
            to=S.UNKNOWN,
            request={**row.request, "_reconcile": state},
            next_at=self.clock() + s.reconcile_delay,
            detail="reconcile: not (yet) listed",
        )


def _unwrap(reply: _Reply | Exception) -> _Reply:
    """The POST's result, or its exception raised again (for the ladder that records it)."""
    if isinstance(reply, Exception):
        raise reply
    return reply
