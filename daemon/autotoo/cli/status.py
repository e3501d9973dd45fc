"""``autotoo status``: what the daemon is doing, read from its state store.

Also home of the store access the other store commands (``jobs``, ``alerts list|export``)
share: ``--state PATH`` or ``-c CONFIG`` (its ``state:``), else the daemon's default location.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autotoo.cli import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK
from autotoo.store.rows import parse_ts

if TYPE_CHECKING:
    from autotoo.config.models import Config
    from autotoo.store.repository import Repository

StoreCommand = Callable[[argparse.Namespace, "Repository"], Awaitable[int]]

# The supervisor writes its heartbeat every 10 s (supervisor.HEARTBEAT_SECONDS); three missed
# beats mean the daemon is stopped or hung.
STALE_HEARTBEAT_S = 30.0


def add_store_arguments(parser: argparse.ArgumentParser, *, state_alias: bool = True) -> None:
    """``-c CONFIG`` or ``--db PATH`` (also ``--state PATH`` where that is not a filter)."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "-c", "--config", type=Path, metavar="FILE", help="config file whose state: to read"
    )
    flags = ("--db", "--state") if state_alias else ("--db",)
    where.add_argument(*flags, dest="db", type=Path, metavar="PATH", help="the SQLite state file")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def config_of(args: argparse.Namespace) -> Config | None:
    """The ``-c`` config, without reading its credential files (they may be readable only by
    the service); None without ``-c``."""
    from autotoo.config.models import Config  # noqa: PLC0415  fast --help
    from autotoo.config.validate import validate_document  # noqa: PLC0415
    from autotoo.config.yamlfile import load_yaml_file  # noqa: PLC0415

    if getattr(args, "config", None) is None:
        return None
    doc = load_yaml_file(args.config)
    if doc.data is None:
        doc.data = {}
    return validate_document(Config, doc)


def state_path(args: argparse.Namespace) -> Path:
    from autotoo.supervisor import resolve_state_path  # noqa: PLC0415

    if args.db is not None:
        return Path(args.db)
    config = config_of(args)
    return resolve_state_path(config.state if config else None)


def run_with_store(
    args: argparse.Namespace, command: StoreCommand, *, write_check: bool = True
) -> int:
    """Open the existing store (never create one), run ``command``, close it.
    ``write_check=False``: only read (``status`` must work on a full disk, to say so)."""
    from autotoo.config.problems import ConfigError  # noqa: PLC0415
    from autotoo.wiring import report_problems  # noqa: PLC0415

    try:
        path = state_path(args)
    except ConfigError as exc:
        report_problems(exc)
        return EXIT_CONFIG
    if not path.is_file():
        sys.stderr.write(f"autotoo: no state store at {path} (use --db PATH or -c CONFIG)\n")
        return EXIT_FAILURE
    return asyncio.run(_with_store(path, args, command, write_check=write_check))


async def _with_store(
    path: Path, args: argparse.Namespace, command: StoreCommand, *, write_check: bool
) -> int:
    from autotoo.store.db import Database  # noqa: PLC0415
    from autotoo.store.errors import StoreError  # noqa: PLC0415
    from autotoo.store.repository import Repository  # noqa: PLC0415

    try:
        db = await Database.open(path, write_check=write_check)
    except StoreError as exc:
        sys.stderr.write(f"autotoo: {exc}\n")
        return EXIT_FAILURE
    try:
        return await command(args, Repository(db))
    finally:
        await db.close()


def iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def age(value: datetime | None, now: datetime) -> str:
    if value is None:
        return "-"
    seconds = int((now - value).total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "status",
        help="what the daemon is doing, from its state store",
        description=(
            "Heartbeat, inbox, events, submissions by state, items that need a human (first), "
            "pending notices and the oldest pending submission, read from the state store "
            "(--state, or the config's state:, or the default location)."
        ),
    )
    add_store_arguments(parser)
    parser.set_defaults(func=lambda args: run_with_store(args, _status, write_check=False))


def heartbeat_age(meta: dict[str, str], now: datetime) -> float | None:
    """Seconds since the daemon's last heartbeat (wall-clock UTC, written every 10 s), or
    None when there is none or it cannot be read."""
    try:
        beat = parse_ts(meta["heartbeat"])
    except (KeyError, ValueError):
        return None
    if beat is None:
        return None
    return max(0.0, (now - beat).total_seconds())


async def collect_status(repo: Repository, now: datetime) -> dict[str, Any]:
    from autotoo.store.rows import SubmissionState as S  # noqa: PLC0415
    from autotoo.store.storage import free_bytes, storage_reserve  # noqa: PLC0415

    counts = await repo.counts()
    meta = await repo.cli_meta()
    beat = heartbeat_age(meta, now)
    human = await repo.cli_submissions(state=S.NEEDS_HUMAN.value, limit=1000)
    pending = await repo.cli_oldest_submission([S.PLANNED, S.SUBMITTING, S.UNKNOWN])
    activity = await repo.cli_last_activity()
    free, size = free_bytes(repo.db.path.parent)
    return {
        "state": str(repo.db.path),
        "storage": {
            "free_bytes": free,
            "size_bytes": size,
            # The daemon's own test (store/storage.py): below this it pauses intake.
            "full": bool(size) and free < storage_reserve(size),
        },
        "heartbeat_age_s": None if beat is None else round(beat, 1),
        "recorded_mode": meta.get("mode"),
        "daemon_running": beat is not None and beat <= STALE_HEARTBEAT_S,
        "last_activity": {k: iso(v) for k, v in activity.items()},
        "needs_human": [
            {
                "id": r.id,
                "key": r.key,
                "api": r.api,
                "rule": r.rule,
                "event": r.group_key,
                "reason": r.reason,
                "since": iso(r.updated_at),
            }
            for r in human
        ],
        "inbox": counts["inbox"],
        "events": counts["events"],
        "submissions": counts["submissions"],
        "notices_pending": sum(counts["notices"].values()),
        "oldest_pending": None
        if pending is None
        else {
            "id": pending.id,
            "key": pending.key,
            "api": pending.api,
            "state": pending.state.value,
            "created": iso(pending.created_at),
            "age_s": int((now - pending.created_at).total_seconds()),
        },
    }


def _pairs(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"


async def _status(args: argparse.Namespace, repo: Repository) -> int:
    now = datetime.now(UTC)
    report = await collect_status(repo, now)
    config = config_of(args)
    # The config given wins; otherwise the mode the daemon recorded when it last started.
    report["mode"] = config.mode.value if config else report.get("recorded_mode")
    if args.json:
        print(json.dumps(report, indent=2))
        return EXIT_OK
    for item in report["needs_human"]:
        print(
            f"NEEDS HUMAN  #{item['id']} {item['api']} {item['rule']} {item['event']}: "
            f"{item['reason']}"
        )
    print(f"state        {report['state']}")
    print(f"mode         {report['mode'] or 'unknown (give -c CONFIG to show it)'}")
    disk = report["storage"]
    if disk["full"]:
        print(
            f"STORAGE FULL {disk['free_bytes'] // 1024} KiB free of {disk['size_bytes'] // 1024} "
            "KiB: a running daemon has paused intake and waits for space (free some there)"
        )
    beat = report["heartbeat_age_s"]
    if beat is None:
        print("daemon       no heartbeat recorded (never started, or an older store)")
    else:
        running = "running" if report["daemon_running"] else "NOT RUNNING (heartbeat is stale)"
        if not report["daemon_running"] and disk["full"]:
            running = "heartbeat stale: the disk is full, so it cannot be written (see /readyz)"
        print(f"daemon       {running}: last heartbeat {beat:.0f} s ago")
    last = report["last_activity"]
    print(
        f"activity     last received {last['received'] or '-'}, last evaluated "
        f"{last['evaluated'] or '-'}, last outbox change {last['submission_changed'] or '-'}"
    )
    print(f"inbox        {_pairs(report['inbox'])}")
    print(f"events       {_pairs(report['events'])}")
    print(f"submissions  {_pairs(report['submissions'])}")
    print(f"notices      {report['notices_pending']} waiting to be published")
    oldest = report["oldest_pending"]
    if oldest is not None:
        created = datetime.fromisoformat(oldest["created"])
        print(
            f"oldest pending submission  #{oldest['id']} {oldest['api']} {oldest['state']}, "
            f"created {age(created, now)} ago ({oldest['created']})"
        )
    return EXIT_OK
