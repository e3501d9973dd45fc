"""``autotoo alerts list|export|reprocess``: the raw payloads the daemon stored (issue 3).

Every received message stays in the store with its raw bytes, parsed or not, until the
retention policy prunes them (store/retention.py): the row stays, with ``pruned_at``. ``export``
writes them as files named ``<id>_<topic with dots as underscores>.<xml|json>`` (the shared
corpus's convention, so ``autotoo replay`` infers the topic again) plus ``index.jsonl`` with
one line of metadata per file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autotoo.cli import EXIT_FAILURE, EXIT_OK
from autotoo.cli.status import add_store_arguments, iso, run_with_store

if TYPE_CHECKING:
    from autotoo.store.repository import Repository
    from autotoo.store.rows import InboxRow

INBOX_STATUSES = ("new", "parsed", "unparsed", "processed")


def add_store_subcommands(group: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    listing = group.add_parser(
        "list",
        help="list the stored alerts, newest first",
        description="Stored messages: id, received, source, topic, status, event or reason.",
    )
    add_store_arguments(listing)
    listing.add_argument("--status", choices=INBOX_STATUSES, help="only this inbox status")
    listing.add_argument("--limit", type=int, default=50, help="at most N rows (default 50)")
    listing.set_defaults(func=lambda args: run_with_store(args, _list))

    export = group.add_parser(
        "export",
        help="write stored raw payloads to a directory (for autotoo replay)",
        description=(
            "Write each stored payload, oldest first, as DIR/<id>_<topic>.<xml|json> plus "
            "DIR/index.jsonl; 'autotoo replay -c CONFIG DIR' replays them."
        ),
    )
    add_store_arguments(export)
    export.add_argument("--out", type=Path, required=True, metavar="DIR")
    export.add_argument("--status", choices=INBOX_STATUSES, help="only this inbox status")
    export.add_argument(
        "--since",
        type=iso_time,
        metavar="ISO",
        help="only alerts received at or after this time (UTC if no zone is given)",
    )
    export.set_defaults(func=lambda args: run_with_store(args, _export))

    again = group.add_parser(
        "reprocess",
        help="evaluate a stored alert again (after a parser or rule fix, or a wrong topic)",
        description=(
            "Put stored alert ID (see 'alerts list') before the processor again. An unparsed "
            "one becomes new again; a processed one is stored again as a new alert of its "
            "event. Requests its event already has are never planned or sent twice: their "
            "idempotency keys are the same. A running daemon evaluates it within seconds; a "
            "stopped one at its next start."
        ),
    )
    add_store_arguments(again)
    again.add_argument("id", type=int, metavar="ID", help="the stored alert's id")
    again.add_argument(
        "--topic",
        help="the topic to evaluate it under (default: the stored one, or, for a file the "
        "drop folder stored as 'directory', the topic its payload names)",
    )
    again.set_defaults(func=lambda args: run_with_store(args, _reprocess))


def iso_time(text: str) -> datetime:
    value = datetime.fromisoformat(text)  # ValueError: argparse reports a usage error
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _entry(row: InboxRow, group_key: str | None) -> dict[str, Any]:
    return {
        "id": row.id,
        "received": iso(row.received_at),
        "source": row.source,
        "topic": row.topic,
        "status": row.status,
        "reason": row.reason,
        "event": group_key,
        "seen": row.seen_count,
        "duplicate_of": row.duplicate_of,
        "bytes": row.size,  # as received, also once pruned
        "pruned_at": iso(row.pruned_at),
    }


def _pruned(row: InboxRow) -> str:
    return f"payload pruned on {iso(row.pruned_at)}"


async def _list(args: argparse.Namespace, repo: Repository) -> int:
    rows = await repo.cli_inbox(status=args.status, limit=args.limit)
    entries = [_entry(row, key) for row, key in rows]
    if args.json:
        print(json.dumps(entries, indent=2))
        return EXIT_OK
    for e, (row, _key) in zip(entries, rows, strict=True):
        reason = e["reason"] or ""
        tail = e["event"] or (f"unparsed: {reason}" if e["status"] == "unparsed" else reason)
        if e["pruned_at"]:
            tail = f"{tail} ({_pruned(row)})" if tail else _pruned(row)
        print(
            f"{e['id']:>6}  {e['received']}  {e['source']:<10}  {e['topic'] or '-':<40}  "
            f"{e['status']:<9}  {tail}"
        )
    if not entries:
        print("(no alerts stored)")
    return EXIT_OK


async def _export(args: argparse.Namespace, repo: Repository) -> int:
    rows = await repo.cli_inbox(status=args.status, since=args.since, newest_first=False)
    count = await asyncio.to_thread(write_export, args.out, rows)  # file writes off the loop
    pruned = [row for row, _key in rows if row.pruned_at is not None]
    if args.json:
        print(json.dumps({"out": str(args.out), "files": count, "pruned": len(pruned)}))
        return EXIT_OK
    print(f"wrote {count} alert(s) and index.jsonl to {args.out}")
    if pruned:
        # Their rows stay in index.jsonl (with pruned_at); their payloads no longer exist.
        days = sorted({row.pruned_at.strftime("%Y-%m-%d") for row in pruned if row.pruned_at})
        print(
            f"{len(pruned)} more not written: payload pruned on {', '.join(days)} by the "
            "retention policy (listed in index.jsonl with pruned_at)"
        )
        for row in pruned[:20]:
            print(f"  #{row.id} {row.topic or '-'}: {_pruned(row)}")
        if len(pruned) > 20:
            print(f"  ... and {len(pruned) - 20} more")
    return EXIT_OK


async def _reprocess(args: argparse.Namespace, repo: Repository) -> int:
    from autotoo.store.reprocess import ReprocessError, reprocess  # noqa: PLC0415

    try:
        done = await reprocess(repo, args.id, topic=args.topic, now=datetime.now(UTC))
    except ReprocessError as exc:
        sys.stderr.write(f"autotoo: {exc}\n")
        return EXIT_FAILURE
    if args.json:
        print(json.dumps({"id": done.original_id, "queued": done.inbox_id, "topic": done.topic}))
        return EXIT_OK
    where = f"stored again as #{done.inbox_id}" if done.copied else "is new again (same id)"
    print(
        f"alert #{done.original_id} ({done.was}) {where}, topic {done.topic or '-'}: a running "
        "daemon evaluates it within seconds, a stopped one at its next start. Requests its "
        "event already has keep their keys and are not sent again."
    )
    return EXIT_OK


def write_export(out: Path, rows: list[tuple[InboxRow, str | None]]) -> int:
    from autotoo.replay import export_filename  # noqa: PLC0415

    out.mkdir(parents=True, exist_ok=True)
    lines = []
    written = 0
    for row, key in rows:
        if row.pruned_at is not None:  # listed, with no file: its payload no longer exists
            lines.append(json.dumps({"file": None, **_entry(row, key)}))
            continue
        name = export_filename(row.id, row.topic, row.raw)
        (out / name).write_bytes(row.raw)
        lines.append(json.dumps({"file": name, **_entry(row, key)}))
        written += 1
    (out / "index.jsonl").write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return written
