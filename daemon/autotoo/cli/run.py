"""``autotoo run``: the daemon."""

from __future__ import annotations

import argparse
import sys
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
    run.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        help="log at this level instead of the config's log.level (kept across SIGHUP)",
    )
    # Runs inside the start-up's collector pause (autotoo.cli.main, autotoo.memory).
    run.set_defaults(func=_run, start_up_to_ready=True)


def _run(args: argparse.Namespace) -> int:
    _import_structlog_without_rich()
    from autotoo.wiring import run_daemon  # noqa: PLC0415  heavy imports only when running

    return run_daemon(args.config, log_level=args.log_level)


def _import_structlog_without_rich() -> None:
    """Import structlog with Rich hidden: ~60 ms less at every daemon start.

    ``structlog/__init__.py`` imports ``structlog.dev``, which imports Rich (and Pygments)
    whenever it is installed (the ``cel`` package brings it), only to offer Rich tracebacks as
    ``ConsoleRenderer``'s default exception formatter. The daemon never uses that: its chain
    (:func:`autotoo.logs.configure`) turns ``exc_info`` into text with ``format_exc_info``
    before any renderer, and nothing logs an exception before that chain is configured.
    Rich stays importable afterwards; only structlog's ``dev`` module runs without it.
    """
    if "structlog" in sys.modules or "rich" in sys.modules:
        return
    sys.modules["rich"] = None  # type: ignore[assignment]  # makes `import rich` fail
    try:
        import structlog  # noqa: F401, PLC0415
    finally:
        del sys.modules["rich"]
