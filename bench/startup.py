"""Start-up: ``python -m autotoo run -c <config>`` to READY=1 on a NOTIFY_SOCKET.

The config is the latency benchmark's (MQTT source on a private mosquitto, live mode against
the emulator, status publishing, 100 rules), so READY=1 includes subscribing. The baseline is
a bare ``python -c pass`` started the same way, and the import of ``autotoo.cli`` alone is
reported to show where the time goes (``python -X importtime`` gives the detail).

    uv run python -m bench.startup [--quick]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench._common import (
    Row,
    bytecode_env,
    daemon,
    emit,
    emulator,
    mosquitto,
    quick_flag,
    write_daemon_config,
)

# As `autotoo run` imports them: structlog first, with Rich hidden (see autotoo.cli.run).
IMPORTS = (
    "import autotoo.cli.run; autotoo.cli.run._import_structlog_without_rich(); "
    "import autotoo.wiring, autotoo.rules, autotoo.pipeline.processor, "
    "autotoo.sources.mqtt, autotoo.adapters.swift, autotoo.swift, autotoo.adapters.publish"
)


def _wall(args: list[str], env: dict[str, str]) -> float:
    started = time.monotonic()
    subprocess.run(args, check=True, env=env)
    return time.monotonic() - started


def heaviest_imports(env: dict[str, str], limit: int = 8) -> list[str]:
    """The slowest top-level packages of ``python -X importtime -m autotoo run`` imports."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", IMPORTS],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    totals: dict[str, int] = {}
    for line in proc.stderr.splitlines():
        parts = line.split("|")
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue
        name = parts[2].rstrip()
        if name.startswith("  ") or not name.strip():
            continue  # only top-level imports: their cumulative time includes the rest
        totals[name.strip()] = int(parts[1])
    top = sorted(totals.items(), key=lambda kv: -kv[1])[:limit]
    return [f"{name} {us / 1000:.0f} ms" for name, us in top]


def measure(runs: int) -> tuple[list[Row], list[str]]:
    ready: list[float] = []
    cold: list[float] = []
    with (
        mosquitto() as port,
        emulator() as emu,
        tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp,
    ):
        config = write_daemon_config(Path(tmp), broker_port=port, emulator_root=emu.root)
        warm_env = bytecode_env(Path(tmp) / "pycache")
        no_cache = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        no_cache.pop("PYTHONPYCACHEPREFIX", None)
        with daemon(config, env=warm_env):
            pass  # fills the bytecode cache; not measured
        for _ in range(runs):
            with daemon(config, env=warm_env) as (_proc, seconds):
                ready.append(seconds)
        with daemon(config, env=no_cache) as (_proc, seconds):
            cold.append(seconds)
        bare = [_wall([sys.executable, "-c", "pass"], warm_env) for _ in range(runs)]
        imports = [_wall([sys.executable, "-c", IMPORTS], warm_env) for _ in range(runs)]
        top = heaviest_imports(warm_env)
    median = statistics.median(ready)
    rows = [
        Row(f"start -> READY=1, median of {runs}", median, "s", statistics.median(bare),
            "<= 1.0 s", median <= 1.0),
        Row("start -> READY=1, worst", max(ready), "s", None, "-", None),
        Row("start -> READY=1 without bytecode (compiling)", cold[0], "s", None, "-", None),
        Row("python -c 'import <what run needs>'", statistics.median(imports), "s", None, "-",
            None),
    ]  # fmt: skip
    notes = [
        "baseline: `python -c pass` (the interpreter alone)",
        (
            "measured with compiled bytecode (PYTHONPYCACHEPREFIX, filled by one unmeasured "
            "start): this machine sets PYTHONDONTWRITEBYTECODE=1, which makes every start "
            "compile ~600 modules; the row 'without bytecode' shows that cost"
        ),
        (
            "READY=1 is sent after config + 100 rules are validated, the store is opened and "
            "migrated, and the MQTT source is subscribed"
        ),
        "heaviest top-level imports (python -X importtime, cumulative): " + ", ".join(top),
    ]
    return rows, notes


def main(argv: Sequence[str] | None = None) -> int:
    runs = 3 if quick_flag(argv) else 7
    rows, notes = measure(runs)
    emit("Start-up: process start -> READY=1", rows, notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
