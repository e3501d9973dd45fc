"""``autotoo emulate``: serve the Swift and UKSSDC emulators on one port until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path
from typing import Any

from autotoo.cli import EXIT_CONFIG, EXIT_OK


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "emulate",
        help="run local emulators of the Swift TOO API and the UKSSDC XRT product service",
        description=(
            "Serve the Swift TOO API (v2 under /api/v2, v1 at /toop/submit_json.php) and the "
            "UKSSDC emulator (/user_objects) on one port, over one simulated sky."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (%(default)s)")
    parser.add_argument("--port", type=int, default=8471, help="port (%(default)s)")
    parser.add_argument(
        "--users",
        type=Path,
        metavar="FILE",
        help="YAML file of Swift users and UKSSDC e-mails (default: the example accounts)",
    )
    parser.add_argument(
        "--clock-speed",
        type=float,
        metavar="X",
        default=60.0,
        help="simulated seconds per real second (default 60: an hour a minute)",
    )
    parser.add_argument(
        "--names",
        type=Path,
        metavar="FILE",
        action="append",
        default=[],
        help=(
            "CSV of extra names for the resolvers (name,ra,dec[,kind][,aliases]; J2000); "
            "may be repeated"
        ),
    )
    parser.add_argument(
        "--faults",
        type=Path,
        metavar="FILE",
        help="JSON fault plan to inject failures (see autotoo.emulators.faults)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from autotoo.emulators.users import Users  # noqa: PLC0415 -- keep `autotoo --help` fast

    try:
        users = Users.load(args.users) if args.users else Users()
    except (OSError, TypeError, ValueError) as exc:
        print(f"autotoo emulate: cannot read users file: {exc}")
        return EXIT_CONFIG
    faults = None
    if args.faults:
        from autotoo.emulators.faults import FaultPlan  # noqa: PLC0415 -- as above

        try:
            faults = FaultPlan.from_json(args.faults)
        except (OSError, TypeError, ValueError, KeyError) as exc:
            print(f"autotoo emulate: cannot read fault plan: {exc!r}")
            return EXIT_CONFIG
    if args.clock_speed <= 0:
        print("autotoo emulate: --clock-speed must be positive")
        return EXIT_CONFIG
    from autotoo.emulators.names import NameResolver  # noqa: PLC0415 -- as above

    try:
        names = NameResolver.packaged(*args.names)
    except (OSError, ValueError) as exc:
        print(f"autotoo emulate: cannot read names file: {exc}")
        return EXIT_CONFIG
    asyncio.run(_serve(args.host, args.port, users, args.clock_speed, faults, names))
    return EXIT_OK


async def _serve(
    host: str, port: int, users: Any, clock_speed: float, faults: Any = None, names: Any = None
) -> None:
    from aiohttp import web  # noqa: PLC0415 -- as above

    from autotoo.emulators.app import base_urls, create_app  # noqa: PLC0415 -- as above

    # Ctrl-C is handled from the start: a person (or a script) who stops it as soon as the
    # URLs appear gets a clean exit, not a KeyboardInterrupt traceback
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    app = create_app(users=users, clock_speed=clock_speed, faults=faults, names=names)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    sockets = getattr(site._server, "sockets", None) or []  # noqa: SLF001 the bound port
    root = f"http://{host}:{sockets[0].getsockname()[1] if sockets else port}"  # --port 0
    for what, url in base_urls(root).items():
        print(f"{what}: {url}", flush=True)
    try:
        await stop.wait()  # no timeout: serving until told to stop is the command's job
    finally:
        await runner.cleanup()
