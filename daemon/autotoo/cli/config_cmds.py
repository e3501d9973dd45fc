"""``autotoo check-config`` and ``autotoo schema``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from autotoo.cli import EXIT_CONFIG, EXIT_OK
from autotoo.config.problems import ConfigError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    check = sub.add_parser(
        "check-config",
        help="validate a config file and every rule file it names; exit 78 on any problem",
        description="Report every problem at once as file:line:col: path: message.",
    )
    check.add_argument("-c", "--config", type=Path, required=True, metavar="FILE")
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
    from autotoo.wiring import load_everything, report_problems  # noqa: PLC0415  fast --help

    try:
        loaded, rules = load_everything(args.config)
    except ConfigError as exc:
        report_problems(exc)
        return EXIT_CONFIG
    print(
        f"{args.config}: ok (mode {loaded.config.mode.value}, {len(loaded.config.sources)} "
        f"sources, {len(rules)} rules)"
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
