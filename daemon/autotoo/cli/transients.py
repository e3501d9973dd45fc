"""``autotoo transients list|show``: the transients in the state store, and one transient's
timeline (every notice, association, rule decision, request, observation and product, each
with its time since the trigger).

One burst is several missions' events; the question the person on duty asks of it -- *what
did we do about this burst, and why* -- has its answer spread over the events, the rules and
the requests. ``show`` lays it out in the order it happened. The rows and their sentences
come from :mod:`autotoo.store.transient_reads` (the dashboard shows the same ones); this
module only lays them out.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from autotoo.cli import EXIT_FAILURE, EXIT_OK
from autotoo.cli.status import add_store_arguments, run_with_store

if TYPE_CHECKING:
    from autotoo.store.repository import Repository
    from autotoo.store.transient_reads import TimelineEntry, TransientSummary


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "transients",
        help="transients (one source seen by several missions) and one transient's timeline",
        description=(
            "Transients in the state store: the events of several missions that are one "
            "source on the sky, and what the rules did about them."
        ),
    )
    group = parser.add_subparsers(dest="transients_command", metavar="SUBCOMMAND", required=True)

    listing = group.add_parser(
        "list", help="recent transients: trigger, missions, best position, requests"
    )
    add_store_arguments(listing)
    listing.add_argument("--limit", type=int, default=50, help="at most N rows (default 50)")
    listing.set_defaults(func=lambda args: run_with_store(args, _list, write_check=False))

    show = group.add_parser(
        "show",
        help="one transient's timeline, every row with its time since the trigger",
        description=(
            "Every notice of the transient's events, how each event joined it, every rule's "
            "decision (and whose request covers it), every request's state changes, Swift's "
            "observations and the products, in time order, with the time since the trigger "
            "(T0: the earliest trigger of its events)."
        ),
    )
    add_store_arguments(show)
    show.add_argument("transient", metavar="ID", help="its key (T:fermi:800400263) or number")
    show.set_defaults(func=lambda args: run_with_store(args, _show, write_check=False))


def _time(value: datetime | None) -> str:
    if value is None:
        return "-"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"


def _requests(summary: TransientSummary) -> str:
    return "; ".join(r.text for r in summary.requests) or "none"


async def _list(args: argparse.Namespace, repo: Repository) -> int:
    from autotoo.store.transient_reads import position_text  # noqa: PLC0415

    rows = await repo.recent_transients(limit=args.limit)
    if args.json:
        print(json.dumps([r.to_json() for r in rows], indent=2))
        return EXIT_OK
    header = ("ID", "KEY", "TRIGGER (UTC)", "MISSIONS", "BEST POSITION", "REQUESTS")
    lines = [header] + [
        (
            str(r.id),
            r.key,
            _time(r.trigger_time),
            ",".join(r.missions),
            position_text(r.ra, r.dec, r.error_deg),
            _requests(r),
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
    for line in lines:
        print("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=False)) + "  " + line[-1])
    if not rows:
        print("(no transients)")
    return EXIT_OK


async def _show(args: argparse.Namespace, repo: Repository) -> int:
    from autotoo.store.transient_reads import position_text  # noqa: PLC0415

    timeline = await repo.transient_timeline(args.transient)
    if timeline is None:
        sys.stderr.write(
            f"autotoo: no transient {args.transient!r} (give its key, e.g. T:fermi:800400263, "
            "or its number from 'autotoo transients list')\n"
        )
        return EXIT_FAILURE
    if args.json:
        print(json.dumps(timeline.to_json(), indent=2))
        return EXIT_OK
    t = timeline.transient
    print(f"transient  {t.key} (#{t.id})")
    print(f"trigger    {_time(t.trigger_time)} = T0, the earliest trigger of its events")
    print(f"missions   {', '.join(t.missions) or '-'}")
    print(f"position   {position_text(t.ra, t.dec, t.error_deg)} (the best so far)")
    print(f"requests   {_requests(t)}")
    print()
    _print_timeline(timeline.entries)
    return EXIT_OK


def _print_timeline(entries: list[TimelineEntry]) -> None:
    """``T+  AT  KIND  TEXT``; a decision or association under its notice is indented."""
    since = max((len(e.since_trigger) for e in entries), default=2)
    kind = max(len(e.kind) for e in entries) if entries else 4
    print(f"{'T+'.ljust(since)}  {'AT (UTC)'.ljust(24)}  {'WHAT'.ljust(kind)}  DETAIL")
    for e in entries:
        when = _time(e.at).ljust(24)
        print(f"{e.since_trigger.ljust(since)}  {when}  {e.kind.ljust(kind)}  {e.text}")
    if not entries:
        print("(nothing recorded)")
