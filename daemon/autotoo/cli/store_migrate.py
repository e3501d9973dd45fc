"""``autotoo store migrate --to postgresql://...``: move a SQLite state to PostgreSQL.

The copy itself is :mod:`autotoo.store.transfer` (it says why a copy keeps ids and keys and
why a target with rows is refused); this is its command line. docs/postgresql.md has the
whole procedure (stop the daemon, migrate, change ``state:``, start).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from urllib.parse import urlsplit

from autotoo.cli import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK


def register(group: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    migrate = group.add_parser(
        "migrate",
        help="copy a SQLite state into an empty PostgreSQL database",
        description=(
            "Copy every row of a SQLite state file (migrated to this version's schema first, "
            "as the daemon's start would) into an empty PostgreSQL database, ids and "
            "idempotency keys as they are, in one transaction. A database with any row is "
            "refused. Stop the daemon first; afterwards set state: to the URL (and "
            "store.password_file) in its config."
        ),
    )
    where = migrate.add_mutually_exclusive_group()
    where.add_argument(
        "-c", "--config", type=Path, metavar="FILE", help="config whose SQLite state: to copy"
    )
    where.add_argument("--db", type=Path, metavar="PATH", help="the SQLite state file to copy")
    migrate.add_argument(
        "--to", required=True, metavar="URL", help="postgresql://user@host:port/database"
    )
    migrate.add_argument(
        "--password-file",
        metavar="FILE",
        help="the database password: a credential name or an absolute path (default: the "
        "config's store.password_file)",
    )
    migrate.set_defaults(func=_migrate)


def _migrate(args: argparse.Namespace) -> int:
    from autotoo.cli.status import config_of, state_path  # noqa: PLC0415
    from autotoo.config.problems import ConfigError  # noqa: PLC0415
    from autotoo.store.postgres import is_postgresql  # noqa: PLC0415
    from autotoo.wiring import report_problems  # noqa: PLC0415

    try:
        password = urlsplit(args.to).password
    except ValueError:
        password = ""
    if not is_postgresql(args.to) or password is not None:
        sys.stderr.write(
            "autotoo: --to must be postgresql://user@host:port/database, without a password "
            "(--password-file names the file that holds it)\n"
        )
        return EXIT_CONFIG
    try:
        config = config_of(args)
        path = state_path(args)
    except ConfigError as exc:
        report_problems(exc)
        return EXIT_CONFIG
    if args.db is None and config is not None and is_postgresql(config.state):
        sys.stderr.write("autotoo: the config's state is not a SQLite file (--db PATH)\n")
        return EXIT_FAILURE
    if not path.is_file():
        sys.stderr.write(f"autotoo: no state store at {path} (use --db PATH or -c CONFIG)\n")
        return EXIT_FAILURE
    password_file = args.password_file or (config.store.password_file if config else None)
    return asyncio.run(_copy(path, args.to, password_file))


async def _copy(path: Path, url: str, password_file: str | None) -> int:
    from autotoo.store.db import SCHEMA_VERSION, Database  # noqa: PLC0415
    from autotoo.store.errors import StoreError  # noqa: PLC0415
    from autotoo.store.postgres import open_postgresql  # noqa: PLC0415
    from autotoo.store.transfer import copy_sqlite_to_postgresql  # noqa: PLC0415

    try:
        source = await Database.open(path, write_check=False)
    except StoreError as exc:
        sys.stderr.write(f"autotoo: {exc}\n")
        return EXIT_FAILURE
    try:
        target = await open_postgresql(url, password_file, write_check=False)
    except StoreError as exc:
        await source.close()
        sys.stderr.write(f"autotoo: {exc}\n")
        return EXIT_FAILURE
    try:
        report = await copy_sqlite_to_postgresql(source, target)
    except StoreError as exc:
        sys.stderr.write(f"autotoo: {exc}\n")
        return EXIT_FAILURE
    finally:
        await target.close()
        await source.close()
    rows = sum(report.copied.values())
    print(f"copied {rows} row(s) of {path} into {target.url} (schema {SCHEMA_VERSION}):")
    print("  " + ", ".join(f"{table} {n}" for table, n in report.copied.items()))
    print(f"now set state: {target.url} (and store.password_file) in the config and start it")
    return EXIT_OK
