"""Command line: ``autotoo <command>``. One module per command group; ``main(argv) -> int``.

Exit codes (sysexits where one fits): 0 ok, 1 failure, 2 usage, 78 configuration error.
Each command module exposes ``register(subparsers)``, which adds its parser and sets
``func`` to a callable taking the parsed namespace and returning the exit code.
"""

from __future__ import annotations

import argparse
import pkgutil
import sys
from collections.abc import Sequence
from importlib import import_module

from autotoo import __version__

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_CONFIG = 78  # EX_CONFIG: systemd's RestartPreventExitStatus=78 stops a restart loop

# Command modules import their heavy dependencies (astropy, aiohttp) inside their functions,
# so that ``autotoo --version`` and ``--help`` stay fast.
_PREFERRED_ORDER = ("run", "config_cmds", "alerts", "replay", "status", "jobs", "emulate", "demo")


def command_modules() -> list[str]:
    """Every module in this package is a command group; ``--help`` lists them in this order."""
    found = [m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")]
    return sorted(found, key=lambda n: (*_PREFERRED_ORDER, n).index(n))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autotoo",
        description=(
            "Listen to transient alert streams, evaluate your rules, and submit Swift TOO "
            "requests and UKSSDC XRT product jobs exactly once."
        ),
        epilog="Nothing is sent to Swift until the config says 'mode: live'.",
    )
    parser.add_argument("--version", action="version", version=f"autotoo {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in command_modules():
        import_module(f"autotoo.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


def run_main() -> None:  # console-script entry point
    sys.exit(main())
