"""``autotoo jobs list|show|cancel|approve|deny``: the submissions in the state store.

``approve`` and ``deny`` decide on a request of a rule with ``approve: human`` that waits
in ``needs_approval`` (pipeline/approval.py); the daemon sends an approved one within a
second, and the person's name and the time are recorded with the row and in its history.

Cancelling is only for rows that have not been (provably) sent: planned, unknown,
needs_human and needs_approval (there ``deny`` says the same, in the approval's words). A
submitted TOO cannot be withdrawn through the Swift API, and a running XRT job is the
UKSSDC's to cancel; for those the command says what to do instead and changes nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from autotoo import lightcurve
from autotoo.cli import EXIT_FAILURE, EXIT_OK
from autotoo.cli.status import add_store_arguments, age, iso, run_with_store
from autotoo.formatting import count, number
from autotoo.store.rows import Api, SubmissionState

if TYPE_CHECKING:
    from autotoo.pipeline.settings import PipelineSettings
    from autotoo.store.repository import Repository
    from autotoo.store.rows import SubmissionRow

# The store's own words (rows.py is a stdlib-only leaf: cheap for a fast --help).
S = SubmissionState
STATES = tuple(state.value for state in S)
CANCELLABLE = (S.PLANNED.value, S.UNKNOWN.value, S.NEEDS_HUMAN.value, S.NEEDS_APPROVAL.value)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "jobs",
        help="list, show and cancel submissions (Swift TOOs, UKSSDC XRT jobs)",
        description="The submissions in the state store, newest first.",
    )
    group = parser.add_subparsers(dest="jobs_command", metavar="SUBCOMMAND", required=True)

    listing = group.add_parser("list", help="list submissions")
    add_store_arguments(listing, state_alias=False)  # --state filters here
    listing.add_argument(
        "--state", dest="job_state", choices=STATES, metavar="STATE", help="only this state"
    )
    listing.add_argument("--api", choices=[api.value for api in Api])
    listing.add_argument("--rule", help="only this rule's submissions")
    listing.add_argument("--limit", type=int, default=50, help="at most N rows (default 50)")
    listing.set_defaults(func=lambda args: run_with_store(args, _list))

    show = group.add_parser(
        "show", help="one submission: request, state history, remote status, results"
    )
    add_store_arguments(show)
    show.add_argument("job", metavar="ID_OR_KEY")
    show.set_defaults(func=lambda args: run_with_store(args, _show))

    cancel = group.add_parser(
        "cancel",
        help="cancel a submission that has not been sent (planned, unknown, needs_human, "
        "needs_approval)",
        description=(
            "Move a planned, unknown, needs_human or needs_approval submission to cancelled, "
            "with your reason, "
            "and withhold the XRT jobs waiting for it. An 'unknown' row's request may have "
            "reached the service: check the remote listing. Sent requests are not cancelled "
            "here; the command says what to do instead."
        ),
    )
    add_store_arguments(cancel)
    cancel.add_argument("job", metavar="ID_OR_KEY")
    cancel.add_argument("--reason", required=True, help="why (recorded with the row)")
    cancel.set_defaults(func=lambda args: run_with_store(args, _cancel))

    for verb, does in (
        ("approve", "send it: the daemon submits it within a second (budgets still apply)"),
        ("deny", "do not send it: it is cancelled, with the XRT jobs waiting for it"),
    ):
        decide = group.add_parser(
            verb,
            help=f"{verb} a request waiting for approval (a rule's approve: human)",
            description=f"A submission in needs_approval: {does}. Your name (--by, default "
            "your login name) and the time are recorded. With -c the status notice goes out "
            "on the config's channels; with --db only, none is written.",
        )
        add_store_arguments(decide)
        decide.add_argument("job", metavar="ID_OR_KEY")
        decide.add_argument("--by", help="who decides (default: your login name)")
        decide.add_argument("--note", help="a short note recorded with the decision")
        decide.set_defaults(
            func=lambda args, verb=verb: run_with_store(
                args, lambda a, repo: _decide(a, repo, approve=verb == "approve")
            )
        )


def summary(row: SubmissionRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "key": row.key,
        "api": row.api,
        "rule": row.rule,
        "account": row.account,  # whose credentials send, list and poll it
        "event": row.group_key,
        "action": row.action,
        "attempt": row.attempt,
        "state": row.state.value,
        "remote_id": row.remote_id,
        "created": iso(row.created_at),
        "updated": iso(row.updated_at),
        "sent": iso(row.sent_at),
        "not_before": iso(row.not_before),
        "next_at": iso(row.next_at),
        "parent_id": row.parent_id,
        "reason": row.reason,
        "approval_deadline": iso(row.approval_deadline),
        "approved_by": row.approved_by,
        "approved_at": iso(row.approved_at),
    }


async def _find(repo: Repository, ident: str) -> SubmissionRow | None:
    if ident.isdigit():
        return await repo.submission(int(ident))
    return await repo.submission_by_key(ident)


def _missing(ident: str) -> int:
    sys.stderr.write(f"autotoo: no submission {ident!r} (give its id or key)\n")
    return EXIT_FAILURE


async def _list(args: argparse.Namespace, repo: Repository) -> int:
    rows = await repo.cli_submissions(
        state=args.job_state, api=args.api, rule=args.rule, limit=args.limit
    )
    if args.json:
        print(json.dumps([summary(r) for r in rows], indent=2))
        return EXIT_OK
    now = datetime.now(UTC)
    header = ("ID", "KEY", "API", "RULE", "EVENT", "STATE", "REMOTE", "UPDATED", "REASON")
    lines = [header] + [
        (
            str(r.id),
            r.key,
            r.api,
            r.rule,
            r.group_key,
            r.state.value,
            r.remote_id or "-",
            f"{age(r.updated_at, now)} ago",
            r.reason or "",
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
    for line in lines:
        print("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=False)) + "  " + line[-1])
    if not rows:
        print("(no submissions)")
    return EXIT_OK


async def _show(args: argparse.Namespace, repo: Repository) -> int:
    row = await _find(repo, args.job)
    if row is None:
        return _missing(args.job)
    detail = {
        **summary(row),
        "request": row.request,
        "history": await repo.submission_log(row.id),
        "remote_job": await repo.remote_job(row.id),
        "observations": await repo.observations(row.id),
        "results": await repo.results(row.id),
    }
    if args.json:
        print(json.dumps(detail, indent=2, default=str))
        return EXIT_OK
    for name in (
        *("id", "key", "api", "rule", "account", "event", "action", "attempt", "state"),
        "remote_id",
    ):
        print(f"{name:<12} {detail[name] if detail[name] is not None else '-'}")
    for name in (
        *("created", "updated", "sent", "not_before", "next_at", "parent_id", "reason"),
        *("approval_deadline", "approved_by", "approved_at"),
    ):
        if detail[name] is not None:
            print(f"{name:<12} {detail[name]}")
    print("request")
    for line in json.dumps(row.request, indent=2, default=str).splitlines():
        print(f"  {line}")
    print("history")
    for step in detail["history"]:
        moved = f"{step['from_state'] or '-'} -> {step['to_state']}"
        print(f"  {step['at']}  {moved}  {step['detail'] or ''}")
    remote = detail["remote_job"]
    if remote is not None:
        print(
            f"remote       {remote['remote_id']}: {remote['status']} (polled {remote['polls']} "
            f"times, {remote['poll_failures']} failed, last {remote['last_polled_at']})"
        )
        if remote.get("url"):
            print(f"url          {remote['url']}")
    for obs in detail["observations"]:
        print(
            f"observed     target {obs['target_id']} obsid {obs['obsid']} "
            f"{obs['start_time'] or '?'} .. {obs['end_time'] or '?'} ({obs['exposure_s']} s)"
        )
    for result in detail["results"]:
        _print_result(result)
    return EXIT_OK


def _print_result(result: dict[str, Any]) -> None:
    """A position in a line, a light curve as a table; anything else by kind and size."""
    data, kind = result["data"], result["kind"]
    where = f" at {result['path']}" if result["path"] else ""
    if isinstance(data, dict) and isinstance(data.get("ra"), int | float):
        err = data.get("err90_arcsec")
        error = f" error {number(float(err), 2)} arcsec (90%)" if err is not None else ""
        print(f"result       {kind}: RA {data['ra']:.5f} Dec {data['dec']:.5f}{error}{where}")
        return
    if kind == "lightcurve":
        curve = lightcurve.points(data)
        print(f"result       light curve{where}: {count(len(curve), 'point')}")
        for line in lightcurve.table(curve, limit=40):
            print(f"  {line}")
        return
    size = len(json.dumps(data, default=str))
    print(f"result       {kind}{where} ({size} bytes of JSON; --json shows it)")


def _not_cancellable(row: SubmissionRow, remote: dict[str, Any] | None) -> str:
    state = row.state
    if state is S.SUBMITTING:
        return "its request is being sent right now; wait for the outcome and look again"
    if state in (S.SUBMITTED, S.TRACKING) and row.api is Api.TOO:
        return (
            f"TOO {row.remote_id} was accepted by Swift; a TOO cannot be withdrawn through the "
            "API: contact the Swift observatory team with the TOO id"
        )
    if state in (S.SUBMITTED, S.TRACKING):
        url = f" ({remote['url']})" if remote and remote.get("url") else ""
        return (
            f"XRT job {row.remote_id}{url} is running at the UKSSDC; autotoo cancels running "
            "jobs only when their event is retracted. Cancel it with swifttools "
            "(XRTProductRequest.cancelProducts) or ignore its results"
        )
    return f"it is already {state}"


async def _cancel(args: argparse.Namespace, repo: Repository) -> int:
    from autotoo.store.errors import ConflictError  # noqa: PLC0415

    row = await _find(repo, args.job)
    if row is None:
        return _missing(args.job)
    if row.state.value not in CANCELLABLE:
        why = _not_cancellable(row, await repo.remote_job(row.id))
        sys.stderr.write(f"autotoo: submission {row.id} not cancelled: {why}\n")
        return EXIT_OK if row.state is S.CANCELLED else EXIT_FAILURE
    reason = f"cancelled by operator: {args.reason}"
    # The rows waiting for this one's observation are withdrawn in the same transaction.
    waiting = [
        child.id
        for child in await repo.submissions(parent_id=row.id, states=[S.PLANNED])
        if child.next_at is None
    ]
    try:
        done = await repo.transition(
            row.id, expect=[row.state], to=S.CANCELLED, reason=reason, next_at=None, detail=reason
        )
    except ConflictError:
        sys.stderr.write(
            f"autotoo: submission {row.id} changed while cancelling (the daemon moved it); "
            "look at it again with 'autotoo jobs show'\n"
        )
        return EXIT_FAILURE
    children = [
        child
        for child_id in waiting
        if (child := await repo.submission(child_id)) is not None and child.state is S.CANCELLED
    ]
    if args.json:
        print(json.dumps({"cancelled": [summary(done), *map(summary, children)]}, indent=2))
    else:
        print(f"cancelled submission {done.id} ({done.api}, rule {done.rule}, {done.group_key})")
        for child in children:
            print(f"cancelled submission {child.id} ({child.api}), which was waiting for it")
    if row.state is S.UNKNOWN:
        sys.stderr.write(
            "autotoo: warning: this request's outcome was unknown: it may have reached the "
            f"service. Look for the marker [autotoo:{row.key}] in your TOO listing (or the "
            "job name in the UKSSDC job list)\n"
        )
    return EXIT_OK


def _settings_of(args: argparse.Namespace) -> PipelineSettings | None:
    """The notices' channels and mode from ``-c`` (no credential is read: only whether a
    webhook is configured matters here); None with ``--db`` only."""
    from autotoo.cli.status import config_of  # noqa: PLC0415
    from autotoo.pipeline.settings import PipelineSettings  # noqa: PLC0415

    config = config_of(args)
    if config is None:
        return None
    mqtt = config.publish.mqtt
    return PipelineSettings(
        mode=config.mode.value,
        topic_prefix=mqtt.topic_prefix if mqtt else None,
        webhook=config.publish.webhook_url_file is not None,
    )


async def _decide(args: argparse.Namespace, repo: Repository, *, approve: bool) -> int:
    import getpass  # noqa: PLC0415

    from autotoo.pipeline import approval  # noqa: PLC0415
    from autotoo.store.errors import ConflictError  # noqa: PLC0415

    row = await _find(repo, args.job)
    if row is None:
        return _missing(args.job)
    try:
        by = args.by if args.by is not None else getpass.getuser()
        done = await approval.decide(
            repo,
            row,
            approve=approve,
            by=by,
            now=datetime.now(UTC),
            settings=_settings_of(args),
            note=args.note,
        )
    except (approval.NotWaitingError, ValueError) as exc:
        sys.stderr.write(f"autotoo: not {'approved' if approve else 'denied'}: {exc}\n")
        return EXIT_FAILURE
    except ConflictError:
        sys.stderr.write(
            f"autotoo: submission {row.id} changed meanwhile (the daemon moved it); look at "
            "it again with 'autotoo jobs show'\n"
        )
        return EXIT_FAILURE
    if args.json:
        print(
            json.dumps(
                {
                    "outcome": done.outcome,
                    "submission": summary(done.row),
                    "withdrawn": [summary(c) for c in done.withdrawn],
                },
                indent=2,
            )
        )
    else:
        print(
            f"{done.outcome} submission {done.row.id} ({done.row.api}, rule {done.row.rule}, "
            f"{done.row.group_key}): {done.row.reason}"
        )
        for child in done.withdrawn:
            print(f"cancelled submission {child.id} ({child.api}), which was waiting for it")
    if done.outcome == "lapsed":
        sys.stderr.write(f"autotoo: too late: {done.row.reason}\n")
        return EXIT_FAILURE
    return EXIT_OK
