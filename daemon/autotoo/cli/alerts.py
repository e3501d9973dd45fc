"""``autotoo alerts``: look at alerts. ``parse`` now; ``list`` and ``export`` join later.

Each subcommand is one ``_register_<name>`` function adding itself to the group's
subparsers, so the store owner adds ``list``/``export`` without touching ``parse``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autotoo.cli import EXIT_FAILURE, EXIT_OK
from autotoo.cli._alerts_store import add_store_subcommands

if TYPE_CHECKING:
    from autotoo.alerts.model import NormalizedAlert


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "alerts",
        help="parse, list and export alerts",
        description="Work with alert payloads and the alerts the daemon has stored.",
    )
    group = parser.add_subparsers(dest="alerts_command", metavar="SUBCOMMAND", required=True)
    _register_parse(group)
    add_store_subcommands(group)


def _register_parse(group: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = group.add_parser(
        "parse",
        help="print the normalized fields of alert files",
        description=(
            "Parse each FILE (GCN JSON, IGWN JSON or VOEvent XML) and print one JSON object per "
            "line with its normalized fields. An alert with a sky map (embedded, or fetched "
            "earlier into the sky-map cache) also gets 'region': areas of the 50% and 90% "
            "regions, distance, most probable position, or why the map could not be read. "
            "A file that cannot be parsed gets a one-line reason on stderr and makes the exit "
            "status 1."
        ),
    )
    parser.add_argument(
        "--topic",
        help="topic the payloads arrived on (Kafka or MQTT spelling); inferred if omitted",
    )
    parser.add_argument(
        "--fetch",
        action="store_true",
        help=(
            "first fetch the sky maps alerts publish by URL (GBM, IceCube) into the sky-map "
            "cache ($AUTOTOO_SKYMAP_CACHE, else ~/.cache/autotoo/skymaps)"
        ),
    )
    parser.add_argument("files", metavar="FILE", nargs="+", type=Path)
    parser.set_defaults(func=run_parse)


def run_parse(args: argparse.Namespace) -> int:
    # Imported here: every ``autotoo`` invocation registers this group, and the parsers pull in
    # pydantic; only ``alerts parse`` should pay for that.
    from autotoo.alerts import AlertParseError, parse_alert  # noqa: PLC0415
    from autotoo.alerts.streams import topic_of_payload  # noqa: PLC0415

    status = EXIT_OK
    parsed: list[tuple[Path, NormalizedAlert]] = []
    for path in args.files:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            sys.stderr.write(f"{path}: cannot read: {exc.strerror or exc}\n")
            status = EXIT_FAILURE
            continue
        try:
            # Without --topic, the topic the payload names, as the drop folder gives it.
            parsed.append((path, parse_alert(raw, args.topic or topic_of_payload(raw))))
        except AlertParseError as exc:
            sys.stderr.write(f"{path}: {exc.reason}\n")
            status = EXIT_FAILURE
    if args.fetch:
        asyncio.run(_fetch_maps([alert for _, alert in parsed]))
    for path, alert in parsed:
        out = {"file": str(path), **alert.to_json_dict()}
        summary = region_summary(alert)
        if summary is not None:
            out["region"] = summary
        sys.stdout.write(json.dumps(out) + "\n")
    return status


async def _fetch_maps(alerts: list[NormalizedAlert]) -> None:
    """Fetch every URL map the alerts name, a few at a time (the failures are kept, with
    their reasons, in the cache: the summaries then say why)."""
    import aiohttp  # noqa: PLC0415 only for --fetch

    from autotoo.adapters.skymaps import fetch_for_alert  # noqa: PLC0415 see run_parse

    limit = asyncio.Semaphore(4)

    async def one(session: aiohttp.ClientSession, alert: NormalizedAlert) -> None:
        async with limit:
            await fetch_for_alert(session, alert)

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(one(session, alert) for alert in alerts))


def region_summary(alert: NormalizedAlert) -> dict[str, Any] | None:
    """What rules see of a sky-map alert's region, or ``None`` for an alert without a map.

    Only sky-map alerts pay for numpy (imported when the first map is decoded).
    """
    from autotoo.alerts.skymaps import SKYMAPS, region_of  # noqa: PLC0415 see run_parse

    if SKYMAPS.load(alert) is None:
        return None
    from autotoo.alerts import regions  # noqa: PLC0415 numpy: only for sky-map alerts

    region, error = region_of(alert)
    out: dict[str, Any] = {"kind": None, "skymap_error": error}
    if region is None:
        return out
    ra, dec = regions.max_prob_position(region)
    found = regions.distance(region)
    out |= {
        "kind": type(region).__name__.removesuffix("Region").lower(),
        "area50_deg2": round(regions.area(region, 0.5), 4),
        "area90_deg2": round(regions.area(region, 0.9), 4),
        "distance_mpc": None if found is None else {"mean": found[0], "std": found[1]},
        "max_prob": {"ra": ra, "dec": dec},
    }
    return out
