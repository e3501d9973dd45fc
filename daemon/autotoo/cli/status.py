"""``autotoo status``: what the daemon is doing, read from its state store.

Also home of the store access the other store commands (``jobs``, ``alerts list|export``)
share: ``--state PATH`` or ``-c CONFIG`` (its ``state:``), else the daemon's default location.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
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
        config = config_of(args) if args.db is None else None
        path = state_path(args)
    except ConfigError as exc:
        report_problems(exc)
        return EXIT_CONFIG
    if config is not None and config.state and config.state.startswith("postgresql://"):
        return asyncio.run(
            _with_server_store(
                config.state, config.store.password_file, args, command, write_check=write_check
            )
        )
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


async def _with_server_store(
    url: str,
    password_file: str | None,
    args: argparse.Namespace,
    command: StoreCommand,
    *,
    write_check: bool,
) -> int:
    """The config's PostgreSQL state (docs/postgresql.md)."""
    from autotoo.store.errors import StoreError  # noqa: PLC0415
    from autotoo.store.postgres import open_postgresql  # noqa: PLC0415
    from autotoo.store.repository import Repository  # noqa: PLC0415

    try:
        db = await open_postgresql(url, password_file, write_check=write_check)
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


def _process_alive(pid: int) -> bool:
    """Whether ``pid`` is a live autotoo process on this host: a process that exists, is not
    a zombie, and (when /proc says) runs autotoo, so a reused pid is not taken for ours."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by the service's user (DynamicUser=)
    proc = Path(f"/proc/{pid}")
    try:
        stat = (proc / "stat").read_text()
        cmdline = (proc / "cmdline").read_bytes()
    except OSError:
        return True  # no /proc to ask: existence is all we know
    state = stat.rsplit(")", 1)[-1].split()[0] if ")" in stat else ""
    return state != "Z" and b"autotoo" in cmdline


def daemon_state(meta: dict[str, str], beat: float | None) -> tuple[bool, str]:
    """(running, one line for a person). The recorded process decides when it ran on this
    host and boot: a pid that is gone means the daemon is gone, at once (kill -9, crash),
    not ``STALE_HEARTBEAT_S`` later. Elsewhere, or for an older store, the heartbeat's age."""
    from autotoo.supervisor import process_identity  # noqa: PLC0415

    if beat is None:
        return False, "no heartbeat recorded (never started, or an older store)"
    last = f"last heartbeat {beat:.0f} s ago"
    stopped = parse_ts(meta["stopped_at"]) if meta.get("stopped_at") else None
    beat_at = parse_ts(meta["heartbeat"])
    if stopped is not None and beat_at is not None and stopped >= beat_at:
        return False, f"stopped (cleanly, at {iso(stopped)}); {last}"
    try:
        process = json.loads(meta.get("process") or "null") or {}
    except ValueError:
        process = {}
    here = process_identity()
    if process.get("pid") and (process.get("host"), process.get("boot_id")) == (
        here["host"],
        here["boot_id"],
    ):
        pid = int(process["pid"])
        if not _process_alive(pid):
            return False, f"NOT RUNNING: process {pid} is gone (killed or crashed); {last}"
        if beat > STALE_HEARTBEAT_S:
            return False, f"NOT RESPONDING: process {pid} runs but its heartbeat is stale; {last}"
        return True, f"running (pid {pid}); {last}"
    if beat > STALE_HEARTBEAT_S:
        return False, f"NOT RUNNING (heartbeat is stale); {last}"
    return True, f"running; {last}"


def sources_of(meta: dict[str, str]) -> list[dict[str, Any]]:
    """Each source's health as the daemon recorded it at its last heartbeat."""
    try:
        sources = json.loads(meta.get("sources") or "[]")
    except ValueError:
        return []
    return [s for s in sources if isinstance(s, dict)] if isinstance(sources, list) else []


async def collect_status(
    repo: Repository, now: datetime, *, lease: timedelta | None = None
) -> dict[str, Any]:
    """Everything ``autotoo status`` says. ``lease``: the config's ``store.lease``, within
    which an instance's heartbeat shows it live (the default one without a config)."""
    from autotoo.config.models import StoreSettings  # noqa: PLC0415
    from autotoo.store.rows import SubmissionState as S  # noqa: PLC0415
    from autotoo.store.storage import free_bytes, storage_reserve  # noqa: PLC0415

    counts = await repo.counts()
    meta = await repo.cli_meta()
    beat = heartbeat_age(meta, now)
    running, daemon_line = daemon_state(meta, beat)
    human = await repo.cli_submissions(state=S.NEEDS_HUMAN.value, limit=1000)
    asking = await repo.cli_submissions(state=S.NEEDS_APPROVAL.value, limit=1000)
    pending = await repo.cli_oldest_submission([S.PLANNED, S.SUBMITTING, S.UNKNOWN])
    activity = await repo.cli_last_activity()
    folders = json.loads(meta.get("drop_folders") or "{}")
    directory = repo.db.storage.directory  # None: a server's store (PostgreSQL)
    free, size = free_bytes(directory) if directory else (0, 0)
    instances = (
        await repo.leases.instances(
            now, within=timedelta(hours=1), live_within=lease or StoreSettings().lease
        )
        if repo.db.shared
        else []
    )
    return {
        "state": repo.db.location(),
        # several instances on one database (store/leases.py): each with its heartbeat
        "instances": instances,
        "drop_folders": folders,
        "admin_url": meta.get("admin_url") or None,
        "storage": {
            "free_bytes": free,
            "size_bytes": size,
            # The daemon's own test (store/storage.py): below this it pauses intake.
            "full": bool(size) and free < storage_reserve(size),
        },
        "heartbeat_age_s": None if beat is None else round(beat, 1),
        "recorded_mode": meta.get("mode"),
        "daemon_running": running,
        "daemon": daemon_line,
        "sources": sources_of(meta),
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
        "needs_approval": [  # a rule's approve: human; lapses unsent at the deadline
            {
                "id": r.id,
                "key": r.key,
                "api": r.api,
                "rule": r.rule,
                "event": r.group_key,
                "deadline": iso(r.approval_deadline),
            }
            for r in asking
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


def _source_line(src: dict[str, Any], now: datetime) -> str:
    name = f"{src.get('name')} ({src.get('kind')})"
    last = parse_ts(src["last_message_at"]) if src.get("last_message_at") else None
    messages = f"{src.get('messages', 0)} message{'' if src.get('messages') == 1 else 's'}"
    received = f", last {age(last, now)} ago" if last else ""
    if src.get("connected"):
        return f"{name}: connected; {messages}{received}"
    error = f": {src['last_error']}" if src.get("last_error") else ""
    return f"{name}: DISCONNECTED{error}; {messages}{received}"


def _instance_line(inst: dict[str, Any], now: datetime) -> str:
    """One instance sharing the store: live, STALE (no heartbeat within the lease: killed,
    hung or cut off; its work is taken over) or stopped, with its heartbeat and leases."""
    beat = parse_ts(inst["heartbeat_at"])
    state = {"live": "live", "stale": "STALE"}.get(inst["state"], "stopped")
    if inst["state"] == "stopped":
        state = f"stopped at {iso(parse_ts(inst['stopped_at']))}"
    return (
        f"{inst['id']}: {state}, heartbeat {age(beat, now)} ago, "
        f"{inst['leases']} live lease(s), started {iso(parse_ts(inst['started_at']))}"
    )


def _pairs(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"


async def _status(args: argparse.Namespace, repo: Repository) -> int:
    now = datetime.now(UTC)
    config = config_of(args)
    report = await collect_status(repo, now, lease=config.store.lease if config else None)
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
    for item in report["needs_approval"]:
        print(
            f"NEEDS APPROVAL  #{item['id']} {item['api']} {item['rule']} {item['event']}: "
            f"autotoo jobs approve|deny {item['id']} before {item['deadline']}"
        )
    print(f"state        {report['state']}")
    for name, folder in report["drop_folders"].items():
        print(f"drop folder  {folder} (source {name})")
    if report["admin_url"]:
        print(f"admin        {report['admin_url']} (dashboard, /metrics, /healthz)")
    print(f"mode         {report['mode'] or 'unknown (give -c CONFIG to show it)'}")
    disk = report["storage"]
    if disk["full"]:
        print(
            f"STORAGE FULL {disk['free_bytes'] // 1024} KiB free of {disk['size_bytes'] // 1024} "
            "KiB: a running daemon has paused intake and waits for space (free some there)"
        )
    print(f"daemon       {report['daemon']}")
    for inst in report["instances"]:
        print(f"instance     {_instance_line(inst, now)}")
    when = "" if report["daemon_running"] else " (as of the last heartbeat)"
    for src in report["sources"]:
        print(f"source       {_source_line(src, now)}{when}")
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
