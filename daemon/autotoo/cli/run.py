"""``autotoo run``: the daemon."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = sub.add_parser(
        "run",
        help="run the daemon (without -c: embedded defaults, dry-run, local directory intake)",
        description=(
            "Validate the config first (exit 78 on any problem), open the state store, then "
            "listen, evaluate, submit and track until SIGTERM. SIGHUP reloads config and rules."
        ),
    )
    run.add_argument("-c", "--config", type=Path, metavar="FILE", help="config file (YAML)")
    run.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from autotoo.wiring import run_daemon  # noqa: PLC0415  heavy imports only when running

    return run_daemon(args.config)
