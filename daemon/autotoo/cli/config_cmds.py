"""``autotoo check-config`` and ``autotoo schema``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from autotoo.cli import EXIT_CONFIG, EXIT_OK
from autotoo.config.problems import ConfigError
from autotoo.formatting import count


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    check = sub.add_parser(
        "check-config",
        help="validate a config file and every rule file it names; exit 78 on any problem",
        description="Report every problem at once as file:line:col: path: message.",
    )
    check.add_argument("-c", "--config", type=Path, required=True, metavar="FILE")
    creds = check.add_mutually_exclusive_group()
    creds.add_argument(
        "--credentials-dir",
        type=Path,
        metavar="DIR",
        help="look up bare credential names in DIR, as the service does in "
        "$CREDENTIALS_DIRECTORY (e.g. /etc/autotoo/credentials); default: "
        "$CREDENTIALS_DIRECTORY if set, else bare names are reported as not checked",
    )
    creds.add_argument(
        "--no-credentials",
        action="store_true",
        help="check the config and rule files only, read no credential file",
    )
    check.set_defaults(func=check_config)

    schema = sub.add_parser(
        "schema",
        help="print the JSON Schema of config and rule files (for editor completion)",
    )
    schema.add_argument(
        "which", nargs="?", choices=["config", "rules"], default="config",
        help="which schema (default: config)",
    )  # fmt: skip
    schema.set_defaults(func=print_schema)


def check_config(args: argparse.Namespace) -> int:
    from autotoo.config.load import Credentials  # noqa: PLC0415  fast --help
    from autotoo.wiring import load_everything, report_problems  # noqa: PLC0415

    # Outside the service no $CREDENTIALS_DIRECTORY exists: a bare credential name is then a
    # warning ("not checked"), not a broken config; a file that is named and missing is one.
    credentials = Credentials.SKIP if args.no_credentials else Credentials.WHERE_AVAILABLE
    try:
        loaded, rules = load_everything(
            args.config, credentials=credentials, credentials_dir=args.credentials_dir
        )
    except ConfigError as exc:
        report_problems(exc)
        return EXIT_CONFIG
    for warning in loaded.warnings:
        print(warning, file=sys.stderr)
    checked = "not read" if args.no_credentials else "checked where found"
    print(
        f"{args.config}: ok (mode {loaded.config.mode.value}, "
        f"{count(len(loaded.config.sources), 'source')}, {count(len(rules), 'rule')}; "
        f"credentials {checked}; {count(len(loaded.warnings), 'warning')})"
    )
    return EXIT_OK


def print_schema(args: argparse.Namespace) -> int:
    if args.which == "rules":
        from autotoo.wiring import rules_schema  # noqa: PLC0415

        schema = rules_schema()
    else:
        from autotoo.config.load import config_json_schema  # noqa: PLC0415

        schema = config_json_schema()
    json.dump(schema, sys.stdout, indent=2, sort_keys=False)
    print()
    return EXIT_OK
