"""``autotoo demo``: emulators, daemon and real sample alerts; the whole loop in a minute."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from autotoo.cli import EXIT_FAILURE, EXIT_OK, EXIT_USAGE


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="show the whole loop locally: alert -> TOO -> observation -> XRT products",
        description=(
            "Start the Swift and UKSSDC emulators (fast simulated clock) and the daemon in live "
            "mode against them, feed real sample alerts, and print the TOO, target ID, obsids, "
            "XRT positions and light curve once the loop is complete. Nothing leaves this "
            "machine; no broker is needed."
        ),
    )
    parser.add_argument(
        "--dir", type=Path, help="work directory (default: a new temporary directory)"
    )
    parser.add_argument(
        "--keep-running",
        action="store_true",
        help="after the loop, keep the daemon and dashboard up until Ctrl-C",
    )
    parser.add_argument(
        "--speed", type=float, default=20_000.0, help="emulator clock speed (default 20000)"
    )
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="give up after this many seconds"
    )
    parser.add_argument(
        "--admin-port", type=int, default=8470, help="dashboard port if free (default 8470)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from autotoo.demo import DemoOptions  # noqa: PLC0415  aiohttp and astropy only when used
    from autotoo.demo import run as run_demo  # noqa: PLC0415

    if args.speed <= 0 or args.timeout <= 0:
        print("autotoo demo: --speed and --timeout must be positive")
        return EXIT_USAGE
    options = DemoOptions(
        workdir=args.dir,
        speed=args.speed,
        timeout=args.timeout,
        admin_port=args.admin_port,
        keep_running=args.keep_running,
    )

    def out(text: str) -> None:
        print(text, flush=True)

    code = asyncio.run(run_demo(options, out))
    return EXIT_OK if code == 0 else EXIT_FAILURE
