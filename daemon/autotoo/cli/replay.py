"""``autotoo replay``: what the daemon would do with saved alerts; nothing is sent."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autotoo.cli import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK

if TYPE_CHECKING:
    from collections.abc import Callable

    from autotoo.replay import AlertReport, Replay, WireBody

ALERT_SUFFIXES = {".xml", ".json"}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "replay",
        help="dry run over saved alerts: every rule's decision and the exact request bodies",
        description=(
            "Evaluate saved alerts in order with the config's rules, as the daemon would: "
            "updates of one event see the earlier alerts, once_per: event plans once. For each "
            "alert, every rule's decision with the clause that decided it, and the exact request "
            "bodies that would be sent (Swift TOO form or JSON, UKSSDC XRT JSON). Nothing remote "
            "is called. Exit 1 if any alert could not be parsed."
        ),
    )
    parser.add_argument("-c", "--config", type=Path, required=True, metavar="FILE")
    parser.add_argument(
        "--topic",
        help="topic for files whose name does not tell it (else the payload decides)",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per alert")
    parser.add_argument(
        "paths",
        metavar="PATH",
        nargs="+",
        type=Path,
        help="alert files, or directories (their *.xml and *.json files, in issue order)",
    )
    parser.set_defaults(func=run_replay)


def alert_files(paths: list[Path], topic: str | None = None) -> list[Path]:
    """Files as given; a directory contributes its alert files in the order the alerts were
    issued (ties, and files without a time or that do not parse, by name, after the others).

    The daemon evaluates alerts as they arrive, which is the order they were issued; file
    names need not follow it (a retraction saved as ``a.xml`` must still come after the
    notice it retracts, or it retracts nothing)."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            files = [p for p in path.iterdir() if p.is_file() and p.suffix in ALERT_SUFFIXES]
            out += sorted(files, key=lambda p: _issue_order(p, topic))
        else:
            out.append(path)
    return out


def _issue_order(path: Path, topic: str | None) -> tuple[bool, datetime, str]:
    from autotoo.alerts import AlertParseError, parse_alert  # noqa: PLC0415
    from autotoo.replay import topic_from_filename  # noqa: PLC0415

    when = None
    try:
        alert = parse_alert(path.read_bytes(), topic_from_filename(path.name) or topic)
        when = alert.issued_time or alert.trigger_time
    except (OSError, AlertParseError):
        pass  # reported when its turn comes
    if when is None:
        return (True, datetime.min.replace(tzinfo=UTC), path.name)
    return (False, when.astimezone(UTC), path.name)


def run_replay(args: argparse.Namespace) -> int:
    from autotoo.config.load import Credentials  # noqa: PLC0415
    from autotoo.config.problems import ConfigError  # noqa: PLC0415  fast --help
    from autotoo.logs import configure  # noqa: PLC0415
    from autotoo.wiring import load_everything, report_problems  # noqa: PLC0415

    try:
        # Nothing is sent: no secret is needed, and none is read.
        loaded, rules = load_everything(args.config, credentials=Credentials.SKIP)
    except ConfigError as exc:
        report_problems(exc)
        return EXIT_CONFIG
    # stdout is the report (JSON lines with --json). What the log would warn about (condition
    # and rendering failures) is in the report itself; only errors go to stderr. The process's
    # own stderr, not whatever object sys.stderr is now: the logger keeps the stream it is given.
    configure("error", "console", stream=sys.__stderr__ or sys.stderr)
    return asyncio.run(_replay(args, loaded, rules))


async def _replay(args: argparse.Namespace, loaded: Any, rules: Any) -> int:
    import aiohttp  # noqa: PLC0415

    from autotoo.adapters.ukssdc import UkssdcXrtAdapter  # noqa: PLC0415
    from autotoo.formatting import count  # noqa: PLC0415
    from autotoo.replay import Replay, WireRenderer  # noqa: PLC0415
    from autotoo.swift import make_client  # noqa: PLC0415
    from autotoo.ukssdc.client import UkssdcClient  # noqa: PLC0415
    from autotoo.wiring import pipeline_settings, use_skymap_cache  # noqa: PLC0415

    cfg = loaded.config
    use_skymap_cache(cfg)  # maps the daemon fetched by URL; replay itself fetches nothing
    # The clients are the daemon's own, built to encode and check requests; their session is
    # never used (nothing here awaits a request), it exists because the UKSSDC client needs one.
    async with aiohttp.ClientSession() as session:
        swift = make_client(cfg.swift.protocol, cfg.swift.base_url, username=cfg.swift.username)
        user_id = cfg.ukssdc.user_id or "<ukssdc.user_id>"
        xrt = UkssdcXrtAdapter(UkssdcClient(session, user_id, base_url=cfg.ukssdc.base_url))
        wire = WireRenderer(
            swift,
            lambda request, name: xrt.build(request, name=name),
            debug_mode=cfg.mode.value == "debug",
            xrt_problem=None
            if cfg.ukssdc.user_id
            else "ukssdc.user_id is not set: the daemon would park this job as needs_human",
        )
        replay = Replay(rules, pipeline_settings(loaded), wire)
        if not args.json:
            print(
                f"replay of {args.config} (mode {cfg.mode.value}, {count(len(rules), 'rule')}, "
                f"Swift API {cfg.swift.protocol}); nothing is sent"
            )
        status = EXIT_OK
        for path in alert_files(args.paths, args.topic):
            report = _feed(replay, path, args.topic)
            if not report.parsed:
                status = EXIT_FAILURE
            if args.json:
                print(json.dumps(report.to_json(), default=str))
            else:
                print_report(report)
        await swift.close()
    return status


def _feed(replay: Replay, path: Path, topic: str | None) -> AlertReport:
    from autotoo.replay import AlertReport, topic_from_filename  # noqa: PLC0415

    inferred = topic_from_filename(path.name)
    source = "file name" if inferred else ("--topic" if topic else "payload")
    chosen = inferred or topic
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return AlertReport(str(path), chosen, source, error=f"cannot read: {exc.strerror or exc}")
    return replay.feed(str(path), raw, chosen, source)


def print_report(report: AlertReport, out: Any = None) -> None:
    """One block per alert: file, topic, alert identity, then one line per rule."""
    w = (out or sys.stdout).write
    w(f"\n== {report.file}\n")
    origin = {
        "file name": "from the file name",
        "--topic": "from --topic",
        "payload": "named by the payload",
    }
    if report.topic is None:
        w("   topic unknown: the payload names no stream (rules that match topics need --topic)\n")
    else:
        w(f"   topic {report.topic} ({origin.get(report.topic_source, report.topic_source)})\n")
    for note in report.notes if report.alert is None else ():
        w(f"   {note}\n")
    if report.error is not None:
        w(f"   NOT PARSED: {report.error}\n")
        return
    a = report.alert
    if a is None:
        return
    when = f"{report.evaluated_at:%Y-%m-%d %H:%M:%S}Z" if report.evaluated_at else "?"
    test = "  TEST" if a.is_test else ""
    w(
        f"   {a.mission} {a.notice_type}  event {a.group_key}  kind {a.kind}{test}  "
        f"evaluated at {when}\n"
    )
    if report.association_line is not None:
        w(f"   {report.association_line}\n")
    for note in report.notes:
        w(f"   {note}\n")
    for rule in report.rules:
        clause = f" [{rule.clause}]" if rule.clause else ""
        w(f"   {'MATCH' if rule.matched else 'no   '} {rule.rule}: {rule.reason}{clause}\n")
        for action in rule.actions:
            w(f"         {action.action}: {action.status}")
            w(f" (key {action.key})\n" if action.key else "\n")
            if action.asked:
                w(f"           {action.asked}\n")
            if action.wire is not None:
                _print_wire(action.wire, w)


def _print_wire(wire: WireBody, w: Callable[[str], Any]) -> None:
    w(f"           {wire.form}:\n")
    for line in _body_lines(wire.body):
        w(f"             {line}\n")
    for warning in wire.warnings:
        w(f"           warning: {warning}\n")
    for problem in wire.problems:
        for i, line in enumerate(problem.splitlines()):
            w(f"           {'problem: ' if i == 0 else '         '}{line}\n")


def _body_lines(body: Any) -> list[str]:
    if body is None:
        return ["(no body: see the problems)"]
    if isinstance(body, list):  # v2 form fields, in order
        return [f"{k}={json.dumps(v)[1:-1] if isinstance(v, str) else v}" for k, v in body]
    return json.dumps(body, indent=2, default=str).splitlines()
