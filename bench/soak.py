"""Soak: a long stream of distinct alerts through Inbox + Processor; resident memory must not grow.

Every alert is a new event (an honest soak: the store grows on disk, memory should not). They
go through the daemon's own path in this process: ``Inbox`` (durable insert, 16 messages
handed over at once as the MQTT source does) then the ``Processor`` (parse, 100 rules, plan,
commit), in rounds of 200, JSON logs rendered and discarded. RSS (/proc/self/status
VmRSS) is read at 10%, 50% and 100%; the target is that it grows by at most 10% from the
10% mark (which is past every cache's warm-up: the processor keeps at most 4,096 parsed
alerts).

    uv run python -m bench.soak [--quick | --count N]     (default 1,000,000; --quick 100,000)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from autotoo.logs import configure
from bench._common import InProcess, Row, emit, ep_alert, rss_mb

ROUND = 200
IN_FLIGHT = 16  # the MQTT source's default max_inflight


async def soak(count: int, workdir: Path) -> tuple[dict[int, float], float]:
    """RSS in MB at each checkpoint (percent -> MB), and alerts/s."""
    pipe = await InProcess.open(workdir / "soak.db")
    processor = pipe.processor
    run = uuid.uuid4().hex[:4].upper()
    checkpoints = {count * p // 100: p for p in (10, 50, 100)}
    rss = {0: rss_mb()}
    started = time.perf_counter()
    try:
        for first in range(0, count, ROUND):
            for start in range(first, min(first + ROUND, count), IN_FLIGHT):
                # As the MQTT source hands them over: up to its receive maximum at once.
                stop = min(start + IN_FLIGHT, first + ROUND, count)
                await asyncio.gather(
                    *(pipe.put(ep_alert(i, run=run), f"soak:{run}:{i}") for i in range(start, stop))
                )
            while await processor.step():
                pass
            done = min(first + ROUND, count)
            for mark, percent in checkpoints.items():
                if first < mark <= done:
                    rss[percent] = rss_mb()
                    print(f"{percent}%: {done} alerts, RSS {rss[percent]:.1f} MB", flush=True)
        rate = count / (time.perf_counter() - started)
        assert processor.counters.parsed == count, processor.counters
    finally:
        await pipe.db.close()
    return rss, rate


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="100,000 alerts")
    parser.add_argument("--count", type=int, default=None, help="alerts to send")
    args = parser.parse_args(argv)
    count = args.count or (100_000 if args.quick else 1_000_000)
    with (
        Path(os.devnull).open("w") as sink,
        tempfile.TemporaryDirectory(prefix="bench-soak-") as tmp,
    ):
        configure("info", "json", stream=sink)
        rss, rate = asyncio.run(soak(count, Path(tmp)))
        size = sum(f.stat().st_size for f in Path(tmp).glob("soak.db*"))
    growth = rss[100] / rss[10] - 1
    rows = [
        Row(f"RSS after {count:,} alerts vs at 10%", rss[100], "MB", rss[10], "growth <= 10%",
            growth <= 0.10),
        Row("RSS at 50%", rss[50], "MB", rss[10], "-", None),
        Row("RSS before the first alert", rss[0], "MB", None, "-", None),
        Row("alerts/s over the soak", rate, "/s", None, "-", None),
        Row("state file size at the end", size / 1e6, "MB", None, "-", None),
    ]  # fmt: skip
    emit(
        f"Soak: {count:,} distinct alerts through Inbox + Processor",
        rows,
        [f"RSS growth from 10% to 100%: {growth * 100:+.1f}%"],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
