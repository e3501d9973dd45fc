"""What every benchmark shares: result rows, the machine, process counters, a private broker,
and the synthetic alerts and rules they feed through the daemon.

Benchmarks are scripts, not tests: each prints ratios measured in one run, because this
machine is shared and absolute figures drift with the load of the moment.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import math
import os
import platform
import resource
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EP_TOPIC_MQTT = "gcn/notices/einstein_probe/wxt/alert"


@dataclass(slots=True)
class Row:
    """One measured figure beside its baseline; ``ratio`` is value/baseline when both exist."""

    name: str
    value: float
    unit: str
    baseline: float | None
    target: str
    ok: bool | None  # None: informational, no target

    @property
    def ratio(self) -> float | None:
        if self.baseline in (None, 0):
            return None
        assert self.baseline is not None
        return self.value / self.baseline

    def cells(self) -> list[str]:
        ratio = self.ratio
        verdict = "-" if self.ok is None else ("PASS" if self.ok else "MISS")
        return [
            self.name,
            f"{self.value:.4g} {self.unit}",
            "-" if self.baseline is None else f"{self.baseline:.4g} {self.unit}",
            "-" if ratio is None else f"{ratio:.3g}",
            self.target,
            verdict,
        ]


HEADER = ["measure", "ours", "baseline", "ratio", "target", "verdict"]


def table(rows: Sequence[Row]) -> str:
    """A Markdown table (readable in a terminal too)."""
    lines = [HEADER, *(r.cells() for r in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADER))]

    def fmt(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    out = [fmt(HEADER), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [fmt(c) for c in lines[1:]]
    return "\n".join(out)


def emit(title: str, rows: Sequence[Row], notes: Sequence[str] = ()) -> None:
    """Print the table, and a JSON line ``run_all`` collects."""
    print(f"\n## {title}\n")
    print(table(rows))
    for note in notes:
        print(f"- {note}")
    payload = {
        "title": title,
        "rows": [r.cells() for r in rows],
        "notes": list(notes),
    }
    print("BENCH-JSON " + json.dumps(payload))


# ---- the machine and this process ---------------------------------------------------------
def machine() -> dict[str, str]:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "memory": mem,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "kernel": platform.release(),
        "load average (1/5/15 min) when this was written": load,
    }


def rss_mb(pid: int | str = "self") -> float:
    """Resident memory from /proc (psutil is not a dependency)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc status")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def commit_ms(directory: Path, synchronous: str = "FULL", samples: int = 200) -> float:
    """Median time of one small SQLite WAL transaction (BEGIN IMMEDIATE, INSERT, COMMIT)
    with the stdlib driver in ``directory``: the floor of one durable commit on this disk,
    without any of autotoo's code. ``synchronous=FULL`` fsyncs the WAL at each commit."""
    times = []
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        conn = sqlite3.connect(Path(tmp) / "probe.db", isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {synchronous}")
            conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, raw BLOB)")
            for _ in range(samples):
                started = time.perf_counter()
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("INSERT INTO t (raw) VALUES (?)", (b"x" * 570,))
                conn.execute("COMMIT")
                times.append((time.perf_counter() - started) * 1e3)
        finally:
            conn.close()
    return sorted(times)[len(times) // 2]


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100); exact for the max at p=100."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# ---- a private mosquitto ------------------------------------------------------------------
@contextlib.contextmanager
def mosquitto() -> Iterator[int]:
    """A throw-away broker on loopback, queueing without limit (QoS 1 backlogs are the point)."""
    binary = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/sbin")
    if binary is None:
        raise SystemExit("mosquitto is not installed (apt-get install mosquitto)")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-mosquitto-") as tmp:
        conf = Path(tmp) / "mosquitto.conf"
        conf.write_text(
            f"user {getpass.getuser()}\n"
            f"listener {port} 127.0.0.1\nallow_anonymous true\n"
            "persistence false\nmax_queued_messages 0\nmax_queued_bytes 0\n"
        )
        proc = subprocess.Popen([binary, "-c", str(conf)], stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while True:
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                    break
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("mosquitto did not start")
                time.sleep(0.02)
            yield port
        finally:
            proc.terminate()
            proc.wait(10)


# ---- synthetic alerts and rules -----------------------------------------------------------
POSITIONS = 12_000


def position(i: int) -> tuple[float, float]:
    """Distinct sky positions within 60 degrees of the equator: no two of the first 12,000
    are closer than 1.6 degrees (a Fibonacci lattice, equal areas; checked once pairwise).

    The Swift emulator refuses a repeated TOO within 1 arcmin of a recent one, and the daemon
    sends none within the XRT field of view (11.8 arcmin) of a recent request or pointing
    (``too.if_swift_on_target``), so every alert that becomes a TOO needs its own place.
    """
    z = -0.866 + 1.732 * ((i % POSITIONS) + 0.5) / POSITIONS  # sin(dec), equal-area steps
    ra = (i * 137.50776405) % 360.0  # golden angle: consecutive alerts land far apart
    return round(ra, 4), round(math.degrees(math.asin(z)), 4)


def ep_alert(i: int, *, run: str, when: datetime | None = None) -> bytes:
    """An Einstein Probe WXT alert (the real notice's shape, ~570 bytes), event ``run``+i."""
    ra, dec = position(i)
    trigger = (when or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    body = {
        "$schema": "https://gcn.nasa.gov/schema/v4.1.0/gcn/notices/einstein_probe/wxt/alert.schema.json",
        "instrument": "WXT",
        "trigger_time": trigger,
        "id": [f"{run}{i:07d}"],
        "ra": ra,
        "dec": dec,
        "ra_dec_error": 0.05096604,
        "image_energy_range": [0.5, 4.0],
        "net_count_rate": 0.08,
        "image_snr": 9.4,
        "additional_info": (
            "The net count rate is derived from an accumulated image (up to 20 min) in "
            "0.5-4 keV, assuming a constant flux. However, it can be significantly lower than "
            "the actual count rate of a burst with a duration much shorter than 20 min."
        ),
    }
    return json.dumps(body).encode()


MATCHING_RULE = """\
  - name: ep-follow-up
    match: {{topics: [gcn.notices.einstein_probe.wxt.alert], kinds: [initial, update]}}
    when: alert.error_deg < 0.2
    once_per: event
{settle}    too:
      source_name: "EP{{{{ alert.event_key }}}}"
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
      immediate_objective: "Localise EP transient {{{{ alert.event_key }}}}"
      science_just: "Einstein Probe WXT found a new X-ray transient; XRT localises it."
      exp_time_just: "2 ks reaches the flux needed to detect and localise it."
"""

TOO_FIELDS: dict[str, Any] = {
    "source_type": "X-ray transient",
    "exp_time_per_visit": 2000,
    "num_of_visits": 1,
    "monitoring_freq": "1 day",  # swifttools refuses num_of_visits without it
    "exp_time_just": "2 ks reaches the flux needed to detect and localise it.",
    "immediate_objective": "Localise the transient",
    "urgency": 3,  # the emulator refuses constrained targets at urgency <= 2 only
    "obs_type": "Light Curve",
    "instrument": "XRT",
    "xrt_countrate": 0.5,
    "xrt_mode": "PC",
    "uvot_mode": 0x9999,
    "science_just": "A new X-ray transient; XRT localises it for the follow-up community.",
}
"""The TOO of the peer and tracking benchmarks (v1 field names, which both clients accept)."""

_OTHER_TOPICS = (
    "gcn.classic.voevent.FERMI_GBM_GND_POS",
    "gcn.classic.voevent.SWIFT_BAT_GRB_POS_ACK",
    "gcn.notices.icecube.lvk_nu_track_search",
    "gcn.notices.svom.voevent.eclairs",
    "igwn.gwalert",
)


def rules_yaml(count: int = 100, *, matching: bool = True) -> str:
    """``count`` rules: at most one acts on the bench's EP alerts, ~10% see them and decline
    (a false ``when``), the rest are filtered out by topic (the usual case in a real set)."""
    out = ["rules:"]
    if matching:
        out.append(MATCHING_RULE.format(settle=""))
        count -= 1
    for n in range(count):
        if n % 10 == 0:
            out.append(
                f"  - name: ep-declined-{n}\n"
                "    match: {topics: [gcn.notices.einstein_probe.wxt.alert]}\n"
                f"    when: alert.error_deg < 0.001 && alert.raw.net_count_rate > {n}.5\n"
                "    notify: [mqtt]\n"
            )
        else:
            topic = _OTHER_TOPICS[n % len(_OTHER_TOPICS)]
            out.append(
                f"  - name: other-{n}\n"
                f"    match: {{topics: [{topic}]}}\n"
                f"    when: alert.error_deg < {1 + n % 7}.0\n"
                "    notify: [mqtt]\n"
            )
    return "\n".join(out)


@dataclass(slots=True)
class InProcess:
    """The daemon's intake and processor over a real SQLite file, as the throughput and soak
    benchmarks run them: 100 rules, dry-run, nothing sent anywhere."""

    db: Any
    inbox: Any
    processor: Any

    @classmethod
    async def open(cls, path: Path) -> InProcess:
        from autotoo.config.yamlfile import load_yaml_text  # noqa: PLC0415
        from autotoo.pipeline.intake import Inbox  # noqa: PLC0415
        from autotoo.pipeline.processor import Processor  # noqa: PLC0415
        from autotoo.pipeline.settings import PipelineSettings  # noqa: PLC0415
        from autotoo.rules import load_documents  # noqa: PLC0415
        from autotoo.store.db import Database  # noqa: PLC0415
        from autotoo.store.repository import Repository  # noqa: PLC0415

        db = await Database.open(path)
        repo = Repository(db)
        ruleset = load_documents([load_yaml_text(rules_yaml(100), "bench-rules.yaml")])
        settings = PipelineSettings(mode="dry-run")
        processor = Processor(repo, rules=lambda: ruleset, settings=lambda: settings)
        return cls(db, Inbox(repo, on_new=processor.notify_new), processor)

    async def put(self, raw: bytes, identity: str) -> None:
        """One message into the inbox, as a source hands it over (durable when it returns)."""
        from autotoo.sources.base import Received  # noqa: PLC0415

        await self.inbox(
            Received.create(
                raw=raw,
                identity=identity,
                topic=EP_TOPIC_MQTT,
                received_at=datetime.now(UTC),
                source="bench",
            )
        )


def quick_flag(argv: Sequence[str] | None) -> bool:
    import argparse  # noqa: PLC0415 - only the CLI entry needs it

    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="a short run (minutes, not tens)")
    return bool(parser.parse_args(argv).quick)


# ---- the emulators, in a thread of this process -------------------------------------------
class Stamps:
    """When each POST to one route arrived (``time.monotonic_ns``, this process's clock),
    keyed by the first match of ``marker`` in its body; an aiohttp middleware records them."""

    def __init__(self, path_suffix: str, marker: bytes) -> None:
        import re  # noqa: PLC0415 - keeps the module's import list to what every bench needs

        self.path_suffix = path_suffix
        self.marker = re.compile(marker)
        self.at: dict[str, int] = {}
        self.count = 0
        self.service_ms: list[float] = []  # the emulator's own time per POST

    def middleware(self) -> object:
        from aiohttp import web  # noqa: PLC0415

        @web.middleware
        async def stamp(request: web.Request, handler: object) -> web.StreamResponse:
            if request.method == "POST" and request.path.rstrip("/").endswith(self.path_suffix):
                body = await request.read()  # cached: the handler reads it again for free
                now = time.monotonic_ns()
                self.count += 1
                found = self.marker.search(body)
                if found is not None:
                    self.at.setdefault(found.group(0).decode(), now)
                response = await handler(request)  # type: ignore[operator] # aiohttp's Handler
                self.service_ms.append((time.monotonic_ns() - now) / 1e6)
                return response  # type: ignore[no-any-return]
            return await handler(request)  # type: ignore[operator,no-any-return]

        return stamp


class Requests:
    """Every request the emulator served: count and time spent per kind (method + route)."""

    ROUTES: dict[str, str] = {  # noqa: RUF012 - a constant table
        "/api/v2/swift/too": "too",
        "/api/v2/swift/calendar": "calendar",
    }

    def __init__(self) -> None:
        import collections  # noqa: PLC0415

        self.counts: collections.Counter[str] = collections.Counter()
        self.service_ms = 0.0

    def kind(self, method: str, path: str) -> str:
        path = path.rstrip("/")
        name = self.ROUTES.get(path) or ("xrt" if path.startswith("/user_objects") else path)
        return f"{method} {name}"

    def middleware(self) -> object:
        from aiohttp import web  # noqa: PLC0415

        @web.middleware
        async def count(request: web.Request, handler: Any) -> web.StreamResponse:
            started = time.perf_counter()
            try:
                return await handler(request)  # type: ignore[no-any-return]
            finally:
                self.counts[self.kind(request.method, request.path)] += 1
                self.service_ms += (time.perf_counter() - started) * 1e3

        return count

    def snapshot(self) -> tuple[int, float]:
        return sum(self.counts.values()), self.service_ms


@contextlib.contextmanager
def emulator(
    *, speed: float = 1.0, middlewares: Sequence[object] = (), users: object = None
) -> Iterator[Any]:
    """Both emulators on one loopback port, served from a background thread (so blocking
    clients such as swifttools and this process's own event loop can share it). Yields an
    object with ``root``, ``sky``, ``app``, ``swift`` (the Swift service) and ``ukssdc``."""
    from types import SimpleNamespace  # noqa: PLC0415

    from autotoo.emulators.app import create_app  # noqa: PLC0415
    from autotoo.emulators.clock import SimClock  # noqa: PLC0415
    from autotoo.emulators.sky import Sky  # noqa: PLC0415
    from autotoo.emulators.swift import SERVICE  # noqa: PLC0415
    from autotoo.emulators.ukssdc.routes import SERVICE_KEY  # noqa: PLC0415
    from tests.fixtures.ukssdc_emulator import _ServerThread  # noqa: PLC0415 - one server thread

    sky = Sky(SimClock(speed=speed))
    app = create_app(sky=sky, users=users)  # type: ignore[arg-type] # Users or None
    app.middlewares.extend(middlewares)  # type: ignore[arg-type] # aiohttp middlewares
    thread = _ServerThread(app)
    thread.start_and_wait()
    try:
        yield SimpleNamespace(
            root=f"http://127.0.0.1:{thread.port}",
            sky=sky,
            app=app,
            swift=app[SERVICE],
            ukssdc=app[SERVICE_KEY],
            loop=thread.loop,
        )
    finally:
        thread.stop()


def bytecode_env(cache: Path) -> dict[str, str]:
    """The environment with compiled bytecode allowed, cached in ``cache``.

    This machine sets PYTHONDONTWRITEBYTECODE=1, so every process compiles every module
    from source (~2 s for the daemon's ~600 modules); an installed wheel, or a venv built
    with ``uv sync --compile-bytecode``, has its ``.pyc`` files. Benchmarks of subprocesses
    use this so they measure the daemon, not the compiler.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(cache)
    return env


# ---- the daemon as a subprocess -----------------------------------------------------------
DAEMON_CONFIG = """\
mode: live
state: sqlite:///{workdir}/state.db
rules: ["{workdir}/rules.yaml"]
sources:
  - kind: mqtt
    name: bus
    url: mqtt://127.0.0.1:{broker_port}
    client_id: bench-{ident}
    topics: ["gcn/#"]
publish:
  mqtt: {{url: "mqtt://127.0.0.1:{broker_port}", topic_prefix: autotoo}}
swift:
  protocol: v2
  base_url: {emulator_root}/api/v2
  username: myuser
  shared_secret_file: {workdir}/swift-secret
  poll_interval: 1h
  timeout: 10s
admin: {{enabled: false}}
budgets: {{too_per_day: 1000000}}
log: {{format: json, level: info}}
shutdown_grace: 5s
"""


def write_daemon_config(workdir: Path, *, broker_port: int, emulator_root: str) -> Path:
    """The daemon as an operator runs it: MQTT in, live TOOs, status out, 100 rules."""
    import uuid  # noqa: PLC0415

    (workdir / "swift-secret").write_text("my_shared_secret\n")
    (workdir / "rules.yaml").write_text(rules_yaml(100))
    config = workdir / "autotoo.yaml"
    config.write_text(
        DAEMON_CONFIG.format(
            workdir=workdir,
            broker_port=broker_port,
            ident=uuid.uuid4().hex[:8],
            emulator_root=emulator_root,
        )
    )
    return config


@contextlib.contextmanager
def daemon(
    config: Path, *, timeout: float = 60.0, env: dict[str, str] | None = None
) -> Iterator[tuple[subprocess.Popen[bytes], float]]:
    """``python -m autotoo run -c config`` until READY=1; yields (process, seconds to READY).

    ``env`` replaces the environment (default: this process's, which is
    :func:`bytecode_env` when benchmarks run through ``run_all``)."""
    import signal  # noqa: PLC0415
    import sys  # noqa: PLC0415

    from tests.fixtures.notify import NotifySocket  # noqa: PLC0415 - the test suite's socket

    sock_path = config.parent / f"notify-{time.monotonic_ns()}.sock"
    notify = NotifySocket(sock_path)
    log = (config.parent / "daemon.log").open("ab")
    env = {**(os.environ if env is None else env), "NOTIFY_SOCKET": str(sock_path)}
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "autotoo", "run", "-c", str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=config.parent,
    )
    try:
        notify.wait_for("READY=1", timeout)
        ready = time.monotonic() - started
        yield proc, ready
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        notify.close()
        log.close()
