"""Command line: ``autotoo <command>``. One module per command group; ``main(argv) -> int``.

Exit codes (sysexits where one fits): 0 ok, 1 failure, 2 usage, 78 configuration error.
Each command module exposes ``register(subparsers)``, which adds its parser and sets
``func`` to a callable taking the parsed namespace and returning the exit code.
"""

from __future__ import annotations

import argparse
import os
import pkgutil
import sys
from collections.abc import Sequence
from importlib import import_module
from typing import Any

import autotoo

# The command modules (and callers of ``main``) take the exit codes from here.
from autotoo.exits import EXIT_BROKEN_PIPE as EXIT_BROKEN_PIPE
from autotoo.exits import EXIT_CONFIG as EXIT_CONFIG
from autotoo.exits import EXIT_FAILURE as EXIT_FAILURE
from autotoo.exits import EXIT_OK as EXIT_OK
from autotoo.exits import EXIT_USAGE as EXIT_USAGE
from autotoo.memory import collector_paused

# Command modules import their heavy dependencies (astropy, aiohttp) inside their functions,
# so that ``autotoo --version`` and ``--help`` stay fast.
_PREFERRED_ORDER = (
    "run",
    "config_cmds",
    "alerts",
    "replay",
    "status",
    "jobs",
    "transients",
    "store",
    "emulate",
    "demo",
)


def command_modules() -> list[str]:
    """Every module in this package is a command group; ``--help`` lists them in this order."""
    found = [m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")]
    return sorted(found, key=lambda n: (*_PREFERRED_ORDER, n).index(n))


class _VersionAction(argparse.Action):
    """``--version``, looked up only when asked for (importlib.metadata is slow to import)."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS) -> None:
        super().__init__(
            option_strings,
            dest=dest,
            default=argparse.SUPPRESS,
            nargs=0,
            help="show program's version number and exit",
        )

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        print(f"autotoo {autotoo.__version__}")  # what argparse's own version action prints
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autotoo",
        description=(
            "Listen to transient alert streams, evaluate your rules, and submit Swift TOO "
            "requests and UKSSDC XRT product jobs exactly once."
        ),
        epilog="Nothing is sent to Swift until the config says 'mode: live'.",
    )
    parser.add_argument("--version", action=_VersionAction)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in command_modules():
        import_module(f"autotoo.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    code: int
    # Building the parser imports every command module; the daemon's start-up goes on to
    # READY=1, where the supervisor freezes what it built and resumes the collector.
    with collector_paused():
        parser = build_parser()
        args = parser.parse_args(argv)
        if getattr(args, "start_up_to_ready", False):
            code = args.func(args)
            return code
    code = args.func(args)
    return code


def run_main() -> None:
    """The console-script entry point (and ``python -m autotoo``).

    A reader that stops early (``autotoo schema | head``, ``jobs list | less`` quit before the
    end) closes the pipe: the rest of the output is not wanted, so the command ends quietly
    with the status a SIGPIPE would give, instead of a BrokenPipeError traceback. SIGPIPE
    itself stays ignored (Python's default): the daemon writes to sockets, and a peer that
    went away must be an error it handles, not a signal that kills it.
    """
    code: int | str | None
    try:
        try:
            code = main()
        except SystemExit as exc:  # argparse's --help, --version and usage errors print too
            code = exc.code
        sys.stdout.flush()  # inside the try: the last buffered write is where a pipe breaks
    except BrokenPipeError:
        # stdout is unusable; point it at /dev/null so the interpreter's own flush at exit
        # does not raise (and print) the same error again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(EXIT_BROKEN_PIPE)
    sys.exit(code)
