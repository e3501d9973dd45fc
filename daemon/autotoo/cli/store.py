"""``autotoo store prune``: drop old raw payloads by the config's retention policy (issue 20).

The daemon does the same by itself every ``store.retention.prune_every``; this is for a first
clean-up after configuring a policy, or to see with ``--dry-run`` what the policy would free.
The policy is the config's, so ``-c CONFIG`` is required; ``--db`` names another state file.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autotoo.cli import EXIT_OK, store_migrate
from autotoo.cli.status import iso, run_with_store

if TYPE_CHECKING:
    from autotoo.store.repository import Repository
    from autotoo.store.retention import PruneReport, StorageStats


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "store",
        help="maintain the state store (prune old raw payloads, move it to PostgreSQL)",
        description="Maintain the daemon's state store.",
    )
    group = parser.add_subparsers(dest="store_command", metavar="SUBCOMMAND", required=True)
    prune = group.add_parser(
        "prune",
        help="drop raw payloads older than the retention policy (store.retention) allows",
        description=(
            "Drop the raw payloads the config's store.retention lets go (rows, normalized "
            "alerts and decisions stay; 'alerts export' says 'pruned on DATE'). Never the "
            "payloads of an event with a request, of an alert not yet evaluated, or of an "
            "event that had an alert within the period. Safe while the daemon runs."
        ),
    )
    prune.add_argument(
        "-c", "--config", type=Path, metavar="FILE", required=True, help="the daemon's config"
    )
    prune.add_argument("--db", type=Path, metavar="PATH", help="another state file")
    prune.add_argument("--dry-run", action="store_true", help="only print what it would free")
    prune.add_argument("--json", action="store_true", help="machine-readable output")
    prune.set_defaults(func=lambda args: run_with_store(args, _prune, write_check=not args.dry_run))
    store_migrate.register(group)


async def _prune(args: argparse.Namespace, repo: Repository) -> int:
    from autotoo.cli.status import config_of  # noqa: PLC0415
    from autotoo.store.retention import prune, storage_stats  # noqa: PLC0415
    from autotoo.wiring import pruner_settings  # noqa: PLC0415

    config = config_of(args)
    assert config is not None  # -c is required
    policy = pruner_settings(config).policy
    report = await prune(repo, policy, now=datetime.now(UTC), dry_run=args.dry_run)
    stats = await storage_stats(repo)
    if args.json:
        print(json.dumps(_as_json(report, stats, dry_run=args.dry_run)))
        return EXIT_OK
    if policy.shortest is None:
        print(
            f"the retention policy of {args.config} keeps every raw payload for ever "
            "(set store.retention): nothing to prune"
        )
    else:
        verb = "would prune" if args.dry_run else "pruned"
        print(
            f"{verb} {report.payloads} raw payload(s): {_mib(report.stored_bytes)} as stored, "
            f"{_mib(report.original_bytes)} as received"
        )
        for topic, (n, stored, original) in sorted(report.by_topic.items()):
            print(f"  {topic:<48} {n:>6}  {_mib(stored):>10} stored  {_mib(original):>10} received")
        print(
            f"kept on purpose: {report.kept_for_requests} of events with a request, "
            f"{report.kept_active} of events with a recent alert, "
            f"{report.kept_unprocessed} not evaluated yet"
        )
    print(
        f"store: {repo.db.location()} {_mib(stats.file_bytes)}, WAL {_mib(stats.wal_bytes)}; "
        f"{stats.payloads} raw payload(s) held ({_mib(stats.stored_bytes)} stored, "
        f"{_mib(stats.original_bytes)} received); {stats.pruned} pruned so far"
    )
    if report.payloads and not args.dry_run:
        print(
            "SQLite reuses the freed pages for new data; the file does not shrink by itself "
            "(docs/operations.md: VACUUM with the daemon stopped)"
        )
    return EXIT_OK


def _mib(n: int) -> str:
    """A size an operator reads at a glance (the name is the common case: MiB)."""
    if n < 1024:
        return f"{n} B"
    if n < 1048576:
        return f"{n / 1024:.1f} KiB"
    return f"{n / 1048576:.1f} MiB"


def _as_json(report: PruneReport, stats: StorageStats, *, dry_run: bool) -> dict[str, Any]:
    return {
        "dry_run": dry_run,
        "payloads": report.payloads,
        "stored_bytes": report.stored_bytes,
        "original_bytes": report.original_bytes,
        "by_topic": {
            t: {"payloads": n, "stored_bytes": s, "original_bytes": o}
            for t, (n, s, o) in report.by_topic.items()
        },
        "kept_for_requests": report.kept_for_requests,
        "kept_active": report.kept_active,
        "kept_unprocessed": report.kept_unprocessed,
        "store": {
            "file_bytes": stats.file_bytes,
            "wal_bytes": stats.wal_bytes,
            "payloads": stats.payloads,
            "stored_bytes": stats.stored_bytes,
            "original_bytes": stats.original_bytes,
            "pruned": stats.pruned,
            "pruned_bytes": stats.pruned_bytes,
            "pruned_since": iso(stats.pruned_since),
        },
    }
