"""``autotoo alerts``: look at alerts. ``parse`` now; ``list`` and ``export`` join later.

Each subcommand is one ``_register_<name>`` function adding itself to the group's
subparsers, so the store owner adds ``list``/``export`` without touching ``parse``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from autotoo.cli import EXIT_FAILURE, EXIT_OK
from autotoo.cli._alerts_store import add_store_subcommands


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
            "line with its normalized fields. A file that cannot be parsed gets a one-line "
            "reason on stderr and makes the exit status 1."
        ),
    )
    parser.add_argument(
        "--topic",
        help="topic the payloads arrived on (Kafka or MQTT spelling); inferred if omitted",
    )
    parser.add_argument("files", metavar="FILE", nargs="+", type=Path)
    parser.set_defaults(func=run_parse)


def run_parse(args: argparse.Namespace) -> int:
    # Imported here: every ``autotoo`` invocation registers this group, and the parsers pull in
    # pydantic; only ``alerts parse`` should pay for that.
    from autotoo.alerts import AlertParseError, parse_alert  # noqa: PLC0415
    from autotoo.alerts.streams import topic_of_payload  # noqa: PLC0415

    status = EXIT_OK
    for path in args.files:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            sys.stderr.write(f"{path}: cannot read: {exc.strerror or exc}\n")
            status = EXIT_FAILURE
            continue
        try:
            # Without --topic, the topic the payload names, as the drop folder gives it.
            alert = parse_alert(raw, args.topic or topic_of_payload(raw))
        except AlertParseError as exc:
            sys.stderr.write(f"{path}: {exc.reason}\n")
            status = EXIT_FAILURE
            continue
        sys.stdout.write(json.dumps({"file": str(path), **alert.to_json_dict()}) + "\n")
    return status
