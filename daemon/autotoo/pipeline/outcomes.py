"""What the submitter does with a POST's outcome, and with a row whose outcome is unknown
(steps 3 and 4 of :mod:`autotoo.pipeline.submitter`'s docstring).

:class:`SubmissionOutcomes` is the submitter's base: the moves a row makes after its POST
(accepted, not sent, rejected and the rule's new attempt, parked, unknown) and the
reconciliation of 'unknown' rows against the remote listing, each fenced by the lease of the
row in hand on a shared store. The submitter adds the rounds and everything before the POST.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from autotoo.logs import get_logger
from autotoo.pipeline.keys import submission_key
from autotoo.pipeline.ports import (
    RejectionKind,
    RemoteAmbiguousError,
    RemoteAuthError,
    RemoteError,
    RemoteNotSentError,
    RemoteRejectedError,
)
from autotoo.pipeline.remotes import Reply, too_spec
from autotoo.pipeline.worker import RemoteWorker
from autotoo.store.leases import Fence, Lease
from autotoo.store.rows import PlannedSubmission, SubmissionRow, SubmissionState
from autotoo.store.specs import TooSpec, XrtSpec
from autotoo.store.specs import dumps as specs_dumps

log = get_logger("autotoo.submitter")  # the submitter's lines, wherever they are written

S = SubmissionState


class SubmissionOutcomes(RemoteWorker):
    """A row's moves after its POST, and the reconciliation of those nobody can tell."""

    _lease: Lease | None = None  # the claim on the row in hand (shared store only)

    def _fence(self, row: SubmissionRow, *, request: bool = False) -> Fence | None:
        """The fence of the row in hand (None on a store with one instance)."""
        lease = self._lease
        if lease is None or lease.sub_id != row.id:
            return None
        return Fence(lease, self.clock(), specs_dumps(row.spec) if request else None)

    async def _park(self, row: SubmissionRow, reason: str) -> None:
        log.warning("parked for a human", reason=reason)
        await self._end(row, S.NEEDS_HUMAN, reason, word="needs_human", detail=reason)

    async def _again(
        self,
        row: SubmissionRow,
        after: timedelta,
        detail: str,
        fence: Fence | None = None,
        **fields: Any,
    ) -> None:
        """Back to 'planned' (nothing of it is at the service), due ``after`` from now."""
        await self.repo.transition(
            row.id,
            expect=[row.state],
            to=S.PLANNED,
            fence=fence,
            sent_at=None,
            next_at=self.clock() + after,
            detail=detail,
            **fields,
        )

    # ---- the POST's outcome -------------------------------------------------------------
    async def _record_reply(self, row: SubmissionRow, reply: Reply | Exception) -> None:
        """The POST's outcome decides the row's next state (module docstring, step 3)."""
        s = self.settings()
        remote = self.remotes[row.api]
        try:
            done = _unwrap(reply)
        except RemoteNotSentError as exc:
            log.warning("not sent; will retry", error=str(exc))
            await self._again(
                row, s.retry_not_sent, f"not sent: {exc}", reason=f"not sent: {exc}; will retry"
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
            if done.debug:
                # A debug submission was validated and acknowledged; no TOO exists to track.
                log.info("debug submission acknowledged", remote_id=done.remote_id)
                reason = "debug: acknowledged by the service; no TOO was created"
                await self._end(
                    row, S.DONE, reason, word="accepted", durable=True, remote_id=done.remote_id
                )
                return
            log.info("submitted", remote_id=done.remote_id, api=row.api)
            # Not fsynced (issue 23): on the loop's thread a second fsync per request
            # blocked every alert behind it. A power cut that loses this commit leaves the
            # row 'submitting', which the next start makes 'unknown' and reconciles against
            # the remote listing before anything is resent; the next durable commit (the
            # next inbox insert or claim) makes it durable anyway.
            await self._accepted(
                row,
                done.remote_id,
                detail=f"accepted as {done.remote_id}",
                reason=None,  # an earlier retry's reason no longer applies
                next_at=self.clock() + remote.poll_every(s),
                notices=self._notices(
                    row,
                    remote.accepted,
                    url=done.url,
                    warnings=list(done.warnings) or None,
                    **{remote.id_field: done.remote_id},
                ),
            )

    async def _accepted(self, row: SubmissionRow, remote_id: str, **fields: Any) -> None:
        """The service has the request (its reply, or the listing): 'submitted'."""
        await self.repo.transition(
            row.id, expect=[row.state], to=S.SUBMITTED, remote_id=remote_id, **fields
        )

    async def _rejected(self, row: SubmissionRow, exc: RemoteRejectedError) -> None:
        """A refusal, after the POST or by a pre-submission check (then the row is still
        'planned'); either way the same policy applies."""
        reason = f"{exc.kind}: {exc}"
        log.info("rejected", kind=exc.kind, reason=str(exc))
        spec = row.spec
        if (
            isinstance(spec, XrtSpec)
            and exc.kind is RejectionKind.NO_DATA
            and spec.retry is not None
        ):
            first = row.first_try_at or row.sent_at or self.clock()
            if self.clock() - first < spec.retry.for_:
                await self._again(
                    row,
                    spec.retry.every,
                    f"no data yet: {exc}",
                    first_try_at=first,
                    reason=f"no data at the UKSSDC yet: {exc}".strip(),
                )
                return
        urgencies = spec.on_reject.get(exc.kind) if isinstance(spec, TooSpec) else None
        if urgencies is not None:
            if row.attempt < len(urgencies):
                await self._resubmit(row, reason, urgency=urgencies[row.attempt])
                return
            await self._park(row, f"{reason}; policy exhausted after {row.attempt + 1} attempts")
            return
        await self._end(row, S.REJECTED, reason, word=self.remotes[row.api].refused)

    async def _resubmit(self, row: SubmissionRow, reason: str, *, urgency: int) -> None:
        """An explicit new attempt asked for by the rule's policy: a new row, a new key.

        The rejection, the new attempt and the XRT jobs waiting for the TOO (they now wait
        for the new attempt) are one transaction: apart, a crash after the rejection lost
        the attempt and left the jobs waiting for a TOO that had ended.
        """
        attempt = row.attempt + 1
        plan = PlannedSubmission(
            key=submission_key(row.rule, row.group_key, row.action, attempt),
            rule=row.rule,
            action=row.action,
            spec=too_spec(row).with_body(urgency=urgency),
            attempt=attempt,
            not_before=self.clock(),
        )
        new = await self.repo.transition_and_add(
            row.id,
            expect=[row.state],
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
        remote = self.remotes[row.api]
        try:
            found = await remote.find(row)
        except RemoteError as exc:  # NotConfiguredError included: the listing cannot be read
            errors = row.reconcile_errors + 1
            if errors >= s.reconcile_max_errors:
                await self._park(row, f"cannot reconcile: the remote listing failed: {exc}")
                return
            await self._unknown(row, f"reconcile: listing failed ({exc})", reconcile_errors=errors)
            return
        if found is not None:
            log.info("reconciled: the request exists remotely", remote_id=found)
            await self._accepted(
                row,
                found,
                next_at=self.clock(),
                detail=f"reconciled: found {found} in the listing",
                notices=self._notices(row, remote.accepted, "reconciled with the remote listing"),
            )
            return
        missing = row.reconcile_missing + 1
        if missing >= s.reconcile_checks:
            log.warning("reconciled: not in the remote listing; sending again")
            await self._again(
                row,
                timedelta(0),
                f"reconciled: absent from {missing} listings; resending",
                self._fence(row),
                reconcile_missing=0,
                reconcile_errors=0,
            )
            return
        await self._unknown(row, "reconcile: not (yet) listed", reconcile_missing=missing)

    async def _unknown(self, row: SubmissionRow, detail: str, **counts: Any) -> None:
        """Still 'unknown': the listing is asked again after ``reconcile_delay``."""
        await self.repo.transition(
            row.id,
            expect=[S.UNKNOWN],
            to=S.UNKNOWN,
            next_at=self.clock() + self.settings().reconcile_delay,
            detail=detail,
            fence=self._fence(row),
            **counts,
        )


def _unwrap(reply: Reply | Exception) -> Reply:
    """The POST's result, or its exception raised again (for the ladder that records it)."""
    if isinstance(reply, Exception):
        raise reply
    return reply
