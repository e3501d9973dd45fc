"""Tracking at scale: 10,000 XRT jobs and 1,000 TOOs tracked at once against the emulators.

The emulators run in a thread of this process with their clock (nearly) stopped, so no TOO is
ever decided and no job ever finishes: the tracker only polls. 1,000 TOOs are submitted to
the Swift emulator over HTTP (distinct positions) and 10,000 jobs are created in the UKSSDC
emulator's job store; a real SQLite store is seeded with one 'submitted' row for each, their
first polls spread over one poll interval (a daemon that has been running a while). The
:class:`~autotoo.pipeline.tracker.Tracker` then runs in a *child process* (``--worker``) with
the default settings (TOO poll every 2 min; XRT every 1 min per job and 30 per minute
overall), so its resident memory and CPU are the daemon side's alone. Polls are counted at
the emulator (by route) over the window.

    uv run python -m bench.tracking [--quick]
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from autotoo.pipeline.settings import PipelineSettings
from autotoo.store.db import Database
from autotoo.store.rows import ts
from bench._common import (
    TOO_FIELDS,
    Requests,
    Row,
    cpu_seconds,
    emit,
    emulator,
    position,
    quick_flag,
    rss_mb,
)

USER = "astronomer@example.org"
SETTINGS = PipelineSettings(mode="live")  # the defaults an operator gets


async def _submit_toos(root: str, n: int) -> list[int]:
    from autotoo.swift import SwiftV2Client, TooRequest  # noqa: PLC0415

    ids = []
    async with aiohttp.ClientSession() as session:
        client = SwiftV2Client(
            f"{root}/api/v2", username="myuser", shared_secret="my_shared_secret", session=session
        )
        for i in range(n):
            ra, dec = position(i)
            request = TooRequest.model_validate(
                {**TOO_FIELDS, "source_name": f"TRACK {i}", "ra": ra, "dec": dec}
            )
            result = await client.submit(request)
            assert result.too_id is not None, result
            ids.append(result.too_id)
    return ids


async def seed(path: Path, toos: list[int], jobs: list[int]) -> None:
    """One event, and a 'submitted' row per TOO and job, first polls spread over an interval."""
    db = await Database.open(path)
    now = datetime.now(UTC)
    xrt_request = json.dumps(
        {"request": {"products": {"LightCurve": {}, "StandardPos": {}}, "globals": {}},
         "name": "bench"}
    )  # fmt: skip
    rows = []
    for kind, ids, every, request in (
        ("swift_too", toos, SETTINGS.swift_poll, "{}"),
        ("ukssdc_xrt", jobs, SETTINGS.xrt_poll, xrt_request),
    ):
        for k, remote in enumerate(ids):
            due = ts(now + every * (k / len(ids)))
            stamp = ts(now)
            rows.append(
                (f"{kind}-{k}", kind, "bench", 1, kind, "submitted", request, str(remote), stamp,
                 due, stamp, stamp)
            )  # fmt: skip
    try:
        async with db.transaction() as tx:
            await tx.execute(
                "INSERT INTO events (id, group_key, mission, event_key, first_seen, last_seen) "
                "VALUES (1, 'bench:1', 'bench', '1', ?, ?)",
                (ts(now), ts(now)),
            )
            await tx.executemany(
                "INSERT INTO submissions (key, api, rule, event_id, action, state, request, "
                "remote_id, sent_at, next_at, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
    finally:
        await db.close()


# ---- the child process: the tracker alone ---------------------------------------------------
async def worker(db_path: str, root: str, window: float, warmup: float) -> dict[str, Any]:
    from autotoo.adapters.swift import SwiftTooAdapter  # noqa: PLC0415
    from autotoo.adapters.ukssdc import UkssdcXrtAdapter  # noqa: PLC0415
    from autotoo.pipeline.tracker import Tracker  # noqa: PLC0415
    from autotoo.store.repository import Repository  # noqa: PLC0415
    from autotoo.swift import SwiftV2Client  # noqa: PLC0415
    from autotoo.ukssdc.client import UkssdcClient  # noqa: PLC0415

    db = await Database.open(Path(db_path))
    try:
        async with aiohttp.ClientSession() as session:
            too = SwiftTooAdapter(
                SwiftV2Client(
                    f"{root}/api/v2",
                    username="myuser",
                    shared_secret="my_shared_secret",
                    session=session,
                )
            )
            xrt = UkssdcXrtAdapter(UkssdcClient(session, USER, base_url=f"{root}/user_objects"))
            tracker = Tracker(Repository(db), settings=lambda: SETTINGS, too=too, xrt=xrt)
            async with asyncio.TaskGroup() as group:
                task = group.create_task(tracker.run())
                await asyncio.sleep(warmup)
                print("WINDOW", flush=True)  # the parent counts the emulator's requests from here
                rss = [rss_mb()]
                cpu0, polls0 = cpu_seconds(), dict(tracker.polls)
                loop = asyncio.get_running_loop()
                start = loop.time()
                while loop.time() - start < window:
                    await asyncio.sleep(1.0)
                    rss.append(rss_mb())
                cpu = cpu_seconds() - cpu0
                elapsed = loop.time() - start
                print("END", flush=True)
                task.cancel()
    finally:
        await db.close()
    return {
        "cpu_fraction": cpu / elapsed,
        "rss_max_mb": max(rss),
        "rss_start_mb": rss[0],
        "polls": {k: v - polls0[k] for k, v in tracker.polls.items()},
        "elapsed": elapsed,
    }


async def measure(window: float, warmup: float) -> tuple[list[Row], list[str]]:
    counter = Requests()
    with (
        emulator(speed=1e-9, middlewares=[counter.middleware()]) as emu,
        tempfile.TemporaryDirectory(prefix="bench-tracking-") as tmp,
    ):
        toos = await _submit_toos(emu.root, 1000)
        base = f"{emu.root}/user_objects"
        jobs = [
            emu.ukssdc.jobs.create(
                user=USER, name=f"bench {k}", products=["lc", "psf"], pars={}, targets=[945521],
                base_url=base,
            ).job_id
            for k in range(10_000)
        ]  # fmt: skip
        db_path = Path(tmp) / "state.db"
        await seed(db_path, toos, jobs)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.tracking", "--worker", str(db_path), emu.root,
            str(window), str(warmup), stdout=subprocess.PIPE,
        )  # fmt: skip
        assert proc.stdout is not None
        marks: dict[str, dict[str, int]] = {}
        async with asyncio.timeout(window + warmup + 120):
            while line := (await proc.stdout.readline()).decode().strip():
                if line in {"WINDOW", "END"}:
                    marks[line] = dict(counter.counts)  # the emulator's view at that moment
                else:
                    result = json.loads(line)
            await proc.wait()
        seen = {k: v - marks["WINDOW"].get(k, 0) for k, v in marks["END"].items()}
    minutes = result["elapsed"] / 60
    too_per_min = seen.get("GET too", 0) / minutes
    xrt_per_min = seen.get("POST xrt", 0) / minutes
    too_limit = 1000 / (SETTINGS.swift_poll.total_seconds() / 60)
    xrt_limit = SETTINGS.xrt_polls_per_minute
    rows = [
        Row("XRT polls per minute at the emulator", xrt_per_min, "/min", float(xrt_limit),
            f"<= {xrt_limit}", xrt_per_min <= xrt_limit),
        Row("TOO polls per minute at the emulator", too_per_min, "/min", too_limit,
            f"<= {too_limit:g}, > 0", 0 < too_per_min <= too_limit * 1.05),
        Row("resident memory of the tracker process", result["rss_max_mb"], "MB", None,
            "<= 250 MB", result["rss_max_mb"] <= 250),
        Row("CPU while only polling (of one core)", result["cpu_fraction"] * 100, "%", None,
            "<= 5 %", result["cpu_fraction"] <= 0.05),
    ]  # fmt: skip
    notes = [
        (
            f"window {window:g} s after {warmup:g} s of warm-up; emulator requests in the "
            f"window: {dict(sorted(seen.items()))}"
        ),
        f"tracker's own poll counts in the window: {result['polls']}",
        (
            "a TOO poll is two GETs (the TOO, its calendar); the TOO target allows every TOO once "
            "per swift poll interval (2 min), plus 5% for the window edges"
        ),
    ]
    return rows, notes


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--worker"]:
        db_path, root, window, warmup = args[1], args[2], float(args[3]), float(args[4])
        print(json.dumps(asyncio.run(worker(db_path, root, window, warmup))))
        return 0
    quick = quick_flag(args)
    window, warmup = (65.0, 5.0) if quick else (120.0, 10.0)
    rows, notes = asyncio.run(measure(window, warmup))
    emit("Tracking at scale: 1,000 TOOs + 10,000 XRT jobs, default poll limits", rows, notes)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
