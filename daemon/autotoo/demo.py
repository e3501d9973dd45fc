"""``autotoo demo``: the whole loop on one machine, with nothing but this package.

What it does, in order:

1. writes a work directory: config (``mode: live`` against the emulators), the example rules
   plus one demo rule, the emulator's Swift credential (swifttools' example account ``myuser`` /
   ``my_shared_secret``) as a credential file, and a drop folder;
2. serves both emulators in this process on a free loopback port, with a simulated clock
   running ``speed`` times faster than the wall clock (20000: a day in 4.3 s), started at the
   demo alert's trigger time so the sky (Sun and Moon constraints) is the same on every run;
3. starts the real daemon (``autotoo run``) as a child process and waits for its READY=1 on
   a notify socket of its own, exactly as systemd would;
4. drops real alerts from :mod:`autotoo.samples` into the folder: the Einstein Probe alert
   first, then (once its TOO is sent) a handful of others and the same EP alert again;
5. follows the daemon's ``/api/status`` until the TOO was accepted and observed and the XRT
   products are complete (judging the latest attempt of each request: a retried one is not
   the outcome), then prints a summary (TOO id, target ID, obsids, positions, the light curve
   as a table).

By default it then stops the daemon (SIGTERM, as systemd does) and exits 0, so it can be
tested; ``--keep-running`` leaves everything up, for the dashboard (its address is printed
only then), until Ctrl-C. A temporary work directory is removed at exit; ``--dir`` keeps one.

The daemon runs in a child process, not in this event loop, so the emulators here keep
answering however busy the daemon is, and the daemon is the very program systemd runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from autotoo import lightcurve
from autotoo.emulators.app import create_app
from autotoo.emulators.clock import SimClock
from autotoo.emulators.sky import Sky
from autotoo.formatting import count
from autotoo.samples import SAMPLES, Sample
from autotoo.store.rows import Api
from autotoo.store.rows import SubmissionState as S
from autotoo.wiring import example_rules_dir

SWIFT_USER, SWIFT_SECRET = "myuser", "my_shared_secret"  # the emulator's built-in account
UKSSDC_USER = "astronomer@example.org"
DEMO_RULE_NAME = "demo-ep-wxt"
LEAD = "ep_wxt_alert.json"
FOLLOWERS = (
    "svom_sb26050402_1_grm_trigger.xml",
    "svom_sb26050402_2_eclairs_wakeup.xml",
    "svom_sb26050402_3_mxt_initial.xml",
    "svom_sb26043009_1_grm_trigger.xml",
    "svom_sb26043009_2_retraction.xml",
    "fermi_800400263_1_alert.xml",
    "fermi_800400263_4_fin_pos.xml",
    "swift_bat_grb_pos_ack.xml",
)

# The example rule for EP waits 5 minutes for a refined position (settle) and asks for
# urgency 2; the demo rule is the same request without the wait, at urgency 3, with a
# counts-binned light curve (several points from one visit), so the loop is seen in a minute.
DEMO_RULE = """\
# The demo's own rule (autotoo demo): the example ep-wxt-bright rule without its 5-minute
# settle window, so the whole loop is seen in seconds against the emulators.
rules:
  - name: demo-ep-wxt
    description: Swift follow-up of every well-localised Einstein Probe WXT transient (demo).
    match: {topics: [gcn.notices.einstein_probe.wxt.alert], kinds: [initial, update]}
    when: alert.error_deg < 0.2
    once_per: event
    too:
      source_name: "EP{{ alert.event_key }}"
      source_type: X-ray transient
      position: best
      instrument: XRT
      urgency: 3
      obs_type: Light Curve
      exp_time_per_visit: 2000
      num_of_visits: 1
      xrt_countrate: 0.5
      xrt_mode: PC
      uvot_mode: 0x9999
      immediate_objective: "Localise EP transient {{ alert.event_key }}"
      science_just: "Einstein Probe WXT found a new X-ray transient; XRT localises it."
      exp_time_just: "2 ks reaches the flux needed to detect and localise it."
    xrt_products:
      submit: after_observation
      globals: {name: "EP{{ alert.event_key }}", centroid: true, posErr: 1, useSXPS: false}
      products:
        StandardPos: {}
        EnhancedPos: {}
        LightCurve: {binMeth: counts, pcCounts: 20, wtCounts: 30, dynamic: true}
"""

CONFIG = """\
# Written by `autotoo demo`: the daemon in live mode against the local emulators.
mode: live
state: sqlite:///{state}
rules: ["{examples}/*.yaml", "{rules}"]
sources:
  - {{kind: directory, name: demo-drop, path: "{spool}", poll_interval: 0.2s}}
swift:
  protocol: v2
  base_url: {root}/api/v2
  username: {user}
  shared_secret_file: swift-shared-secret
  poll_interval: 0.5s
  timeout: 10s
ukssdc:
  base_url: {root}/user_objects
  user_id: {ukssdc_user}
  poll_interval: 0.5s
  polls_per_minute: 600
admin: {{listen: "127.0.0.1:{admin_port}"}}
budgets: {{too_per_day: {too_per_day}}}
log: {{format: auto, level: info}}
shutdown_grace: 5s
max_alert_age: 3650d   # the demo replays real alerts of 2026: past the default 24 h gate
"""


class DemoError(Exception):
    """The demo could not show the loop (the message says which step)."""


@dataclass(slots=True)
class DemoOptions:
    workdir: Path | None = None
    speed: float = 20_000.0
    timeout: float = 120.0
    admin_port: int = 8470
    keep_running: bool = False
    too_per_day: int = 1  # the demo's second TOO is parked for a human: the budget at work


def free_port(preferred: int = 0) -> int:
    """``preferred`` if it is free on loopback, else one the kernel picks."""
    for port in (preferred, 0) if preferred else (0,):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            # as aiohttp binds: a port whose old connections linger in TIME_WAIT is free
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise DemoError("no free loopback port")


def _sample(name: str) -> Sample:
    return next(s for s in SAMPLES if s.name == name)


def _trigger_time(sample: Sample) -> datetime:
    value = json.loads(sample.read_bytes())["trigger_time"]
    return datetime.fromisoformat(str(value))


def write_workdir(workdir: Path, *, root: str, admin_port: int, too_per_day: int) -> Path:
    """Config, rules, credential and drop folder; returns the config file."""
    (workdir / "spool").mkdir(parents=True, exist_ok=True)
    credentials = workdir / "credentials"
    credentials.mkdir(exist_ok=True)
    secret = credentials / "swift-shared-secret"
    secret.write_text(SWIFT_SECRET + "\n")
    secret.chmod(0o600)
    rules = workdir / "demo-rules.yaml"
    rules.write_text(DEMO_RULE)
    for stale in ("state.db", "state.db-wal", "state.db-shm"):  # a fresh loop every run
        (workdir / stale).unlink(missing_ok=True)
    config = workdir / "autotoo.yaml"
    config.write_text(
        CONFIG.format(
            state=workdir / "state.db",
            examples=example_rules_dir(),
            rules=rules,
            spool=workdir / "spool",
            root=root,
            user=SWIFT_USER,
            ukssdc_user=UKSSDC_USER,
            admin_port=admin_port,
            too_per_day=too_per_day,
        )
    )
    return config


def drop(spool: Path, sample: Sample, *, copy: int = 0) -> None:
    """Write a sample into the drop folder the way the directory source asks: a ``.tmp``
    name first, then an atomic rename; the sub-folder's name is the Kafka topic."""
    folder = spool / sample.topic
    folder.mkdir(exist_ok=True)
    name = sample.name if not copy else f"again-{copy}-{sample.name}"
    tmp = folder / f"{name}.tmp"
    tmp.write_bytes(sample.read_bytes())
    tmp.rename(folder / name)


class NotifyListener:
    """A NOTIFY_SOCKET of our own: the demo waits for READY=1 as systemd would."""

    def __init__(self, path: Path) -> None:
        path.unlink(missing_ok=True)
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_NONBLOCK)
        self.sock.bind(str(path))

    async def wait_for(self, line: str, seconds: float, alive: Callable[[], bool]) -> None:
        try:
            async with asyncio.timeout(seconds):
                while True:
                    with contextlib.suppress(BlockingIOError):
                        if line in self.sock.recv(65536).decode(errors="replace").splitlines():
                            return
                        continue
                    if not alive():
                        raise DemoError("the daemon exited before it was ready (see its log)")
                    await asyncio.sleep(0.05)
        except TimeoutError:
            raise DemoError(f"no {line} from the daemon within {seconds:.0f} s") from None

    def close(self) -> None:
        self.sock.close()
        self.path.unlink(missing_ok=True)


def _latest(status: dict[str, Any]) -> list[dict[str, Any]]:
    """The demo rule's requests, only the latest attempt of each action: a rejected or failed
    attempt that the daemon already retried (a row with a higher attempt) is history, not the
    outcome."""
    latest: dict[tuple[str, str, str], dict[str, Any]] = {}
    for s in status.get("submissions", []):
        if s["rule"] != DEMO_RULE_NAME:
            continue
        key = (s["api"], s["action"], s["event"])
        if key not in latest or s["attempt"] > latest[key]["attempt"]:
            latest[key] = s
    return list(latest.values())


def _done(status: dict[str, Any]) -> dict[str, Any] | None:
    """The demo rule's TOO and XRT job once the whole loop is complete, else None."""
    subs = _latest(status)
    for s in subs:
        if s["state"] in {S.REJECTED, S.NEEDS_HUMAN, S.CANCELLED}:
            raise DemoError(f"the demo rule's {s['api']} request is {s['state']}: {s['reason']}")
    too = next((s for s in subs if s["api"] == Api.TOO and s["observations"]), None)
    xrt = next(
        (
            s
            for s in subs
            if s["api"] == Api.XRT and s["state"] == S.DONE and "lightcurve" in s["results"]
        ),
        None,
    )
    if too is None or xrt is None:
        return None
    return {"too": too, "xrt": xrt}


def _progress(status: dict[str, Any]) -> str:
    subs = _latest(status)
    return ", ".join(f"{s['api']} {s['state']}" for s in subs) or "no submission yet"


def summary(
    loop: dict[str, Any], *, elapsed: float, dashboard: str | None, workdir: Path | None
) -> str:
    """What the loop produced, for a person. ``dashboard`` only while it is still served;
    ``workdir`` only when it is kept (a temporary one is removed at exit)."""
    too, xrt = loop["too"], loop["xrt"]
    targets = sorted({o["target_id"] for o in too["observations"]})
    obsids = [o["obsid"] for o in too["observations"]]
    lines = [
        f"autotoo demo: the whole loop ran in {elapsed:.1f} s, from the alert to the products",
        f"  rule          {too['rule']} matched {too['target']} (event {too['event']})",
        (
            f"  Swift TOO     id {too['remote_id']}: {too['state']}"
            f" ({(too.get('remote') or {}).get('status', '')})"
        ),
        f"  target ID     {', '.join(targets)}; obsids {', '.join(obsids)}",
        f"  XRT job       {xrt['remote_id']}: {xrt['state']}",
    ]
    for kind, pos in sorted(xrt["results"].items()):
        if isinstance(pos, dict) and isinstance(pos.get("ra"), float | int):
            lines.append(
                f"  XRT position  {kind.removeprefix('position_')}: RA {pos['ra']:.5f} "
                f"Dec {pos['dec']:.5f} error {pos['err90_arcsec']:.1f} arcsec (90%)"
            )
    curve = lightcurve.points(xrt["results"]["lightcurve"])
    datasets = sorted({p.dataset for p in curve})
    lines.append(
        f"  light curve   {count(len(curve), 'point')}"
        f" ({', '.join(datasets) or 'no rate dataset'}):"
    )
    lines += [f"    {line}" for line in lightcurve.table(curve)]
    if dashboard:
        lines.append(f"  dashboard     {dashboard}")
    if workdir:
        lines.append(f"  work dir      {workdir} (config, rules, state.db)")
    return "\n".join(lines)


async def _get_status(session: aiohttp.ClientSession, url: str) -> dict[str, Any] | None:
    try:
        async with asyncio.timeout(5), session.get(url) as reply:
            if reply.status != 200:
                return None
            data: dict[str, Any] = await reply.json()
            return data
    except (aiohttp.ClientError, TimeoutError):
        return None  # not listening yet, or busy: the next poll asks again


async def _wait_for(
    session: aiohttp.ClientSession,
    url: str,
    check: Callable[[dict[str, Any]], Any],
    *,
    until: float,
    alive: Callable[[], bool],
) -> Any:
    """Poll the daemon's status until ``check`` returns something truthy (returned)."""
    last: dict[str, Any] = {}
    while time.monotonic() < until:
        if not alive():
            raise DemoError("the daemon exited (its log is above)")
        status = await _get_status(session, url)
        if status is not None:
            last = status
            if found := check(status):
                return found
        await asyncio.sleep(0.25)
    raise DemoError(f"timed out; the demo rule's requests: {_progress(last)}")


async def _serve_emulators(stack: contextlib.AsyncExitStack, speed: float) -> str:
    """Both emulators on a free loopback port, on a clock started at the lead alert's
    trigger time; returns their root URL."""
    sky = Sky(SimClock(speed=speed, start=_trigger_time(_sample(LEAD))))
    runner = web.AppRunner(create_app(sky=sky))
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    # Bound here, port 0, and handed over open: no other process can take the port between
    # choosing it and listening on it (as free_port's check then bind would allow).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(runner, sock).start()
    except BaseException:
        sock.close()
        raise
    return f"http://127.0.0.1:{sock.getsockname()[1]}"


async def _feed_and_follow(
    spool: Path, url: str, *, until: float, alive: Callable[[], bool]
) -> dict[str, Any]:
    """The lead alert; once its TOO is sent, the others and a redelivery; then the loop."""
    drop(spool, _sample(LEAD))
    async with aiohttp.ClientSession() as session:
        await _wait_for(
            session,
            url,
            lambda st: any(s["rule"] == DEMO_RULE_NAME and s["sent_at"] for s in st["submissions"]),
            until=until,
            alive=alive,
        )
        for name in FOLLOWERS:  # the day's budget is spent: a further TOO is parked
            drop(spool, _sample(name))
        drop(spool, _sample(LEAD), copy=1)  # a redelivery: stored once, ignored
        loop: dict[str, Any] = await _wait_for(session, url, _done, until=until, alive=alive)
        return loop


async def run(options: DemoOptions, out: Callable[[str], None]) -> int:
    temporary = options.workdir is None
    workdir = (options.workdir or Path(tempfile.mkdtemp(prefix="autotoo-demo-"))).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    async with contextlib.AsyncExitStack() as stack:  # undone in reverse: daemon first
        if temporary:  # ours, so removed at exit, after the daemon stopped; --dir keeps one
            stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        root = await _serve_emulators(stack, options.speed)
        admin_port = free_port(options.admin_port)
        config = write_workdir(
            workdir, root=root, admin_port=admin_port, too_per_day=options.too_per_day
        )
        dashboard = f"http://127.0.0.1:{admin_port}/"
        kept = "" if temporary else f"; work dir {workdir}"
        out(f"autotoo demo: emulators at {root} (clock x{options.speed:g}){kept}")
        notify = NotifyListener(workdir / "notify.sock")
        stack.callback(notify.close)
        env = {
            **os.environ,
            "NOTIFY_SOCKET": str(notify.path),
            "CREDENTIALS_DIRECTORY": str(workdir / "credentials"),
        }
        env.pop("WATCHDOG_USEC", None)  # a watchdog of our own parent is not the daemon's
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "autotoo", "run", "-c", str(config), env=env, cwd=workdir
        )
        stack.push_async_callback(_stop, proc)

        def alive() -> bool:
            return proc.returncode is None

        try:
            await notify.wait_for("READY=1", 90.0, alive)
            out(f"autotoo demo: daemon ready (pid {proc.pid}); dashboard {dashboard}")
            started = time.monotonic()
            loop = await _feed_and_follow(
                workdir / "spool",
                f"{dashboard}api/status",
                until=started + options.timeout,
                alive=alive,
            )
        except DemoError as exc:
            out(f"autotoo demo: failed: {exc}")
            return 1
        elapsed = time.monotonic() - started
        out(
            summary(
                loop,
                elapsed=elapsed,
                dashboard=dashboard if options.keep_running else None,
                workdir=None if temporary else workdir,
            )
        )
        if options.keep_running:
            out("autotoo demo: still running for the dashboard; Ctrl-C stops it")
            await _until_signal()
        else:
            out(
                "autotoo demo: stopped; `autotoo demo --keep-running` keeps the daemon and "
                "its dashboard up, `--dir DIR` keeps the work directory"
            )
        return 0


async def _until_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()  # no timeout: waiting for the person is the point


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        async with asyncio.timeout(30):
            await proc.wait()
    except TimeoutError:
        proc.kill()
        await proc.wait()
