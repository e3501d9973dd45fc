"""Profiles of the throughput path under pyinstrument, kept under ``bench/profiles/``.

    uv run --group profile python -m bench.profile [--count N] [--tag NAME]

Three parts of ``bench.throughput``, each on its own backlog of distinct EP alerts: the whole
path (``MqttSource`` -> ``Inbox`` -> ``Processor``, 100 rules, JSON logs to a file),
``MqttSource`` alone with a sink that stores nothing, and the processor alone on a filled
inbox. For each, an HTML flame view (``<tag>-<part>.html``, open it in a browser; 10-25 MB,
so the repository keeps only the whole path's, gzipped) and the text call tree
(``<tag>-<part>.txt``). The profiler samples every 1 ms, which slows the path
by ~10-20%: the shares are what matter, not the rates it prints.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from autotoo.logs import configure
from bench._common import ROOT, ep_alert, mosquitto
from bench.throughput import ours, processor_alone, source_alone

OUT = ROOT / "bench" / "profiles"


async def _profiled(name: str, tag: str, work: Callable[[], Awaitable[object]]) -> None:
    from pyinstrument import Profiler  # noqa: PLC0415 - the 'profile' group only, when run

    profiler = Profiler(interval=0.001, async_mode="disabled")
    profiler.start()
    result = await work()
    profiler.stop()
    OUT.mkdir(exist_ok=True)
    (OUT / f"{tag}-{name}.html").write_text(profiler.output_html())
    (OUT / f"{tag}-{name}.txt").write_text(
        profiler.output_text(unicode=False, color=False, show_all=False)
    )
    print(f"{name}: {result}")


async def main_async(count: int, tag: str, parts: Sequence[str]) -> None:
    with (
        mosquitto() as port,
        tempfile.TemporaryDirectory(prefix="bench-prof-") as tmp,
        (Path(tmp) / "daemon.log").open("w") as log_stream,
    ):
        configure("info", "json", stream=log_stream)
        for part in parts:
            run = uuid.uuid4().hex[:4].upper()
            payloads = [ep_alert(i, run=run) for i in range(count)]
            work: Callable[[], Awaitable[object]]
            if part == "whole":
                work = functools.partial(ours, port, payloads, Path(tmp))
            elif part == "source":
                work = functools.partial(source_alone, port, payloads)
            else:
                work = functools.partial(processor_alone, payloads, Path(tmp))
            await _profiled(part, tag, work)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--tag", default="profile")
    parser.add_argument("--parts", default="whole,source,processor")
    args = parser.parse_args(argv)
    asyncio.run(main_async(args.count, args.tag, args.parts.split(",")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
