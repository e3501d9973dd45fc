"""Raw payload storage (issue 20): which codec, and what the inbox insert costs.

``codecs``: every codec the standard library has (no other is installed), on the alert
corpus in tests/data/alerts: compression ratio and ms per payload, sky maps and notices apart.

``insert``: the loop-side cost of storing one message, the inbox's hot path
(``Repository.inbox_put_many`` of one item, fsync stubbed out so the disk's noise does not
drown a few microseconds), for a small EP notice and for a 1 MB sky map, in a fresh store.
Run it in two trees, alternating, to compare (PYTHONPATH picks the tree); separate processes
on a shared machine differ by +-10 us, so ``ab`` compares in one process instead: this tree's
``inbox_put_many`` against the one of an older checkout's ``store/writes.py`` (the same
``Database``, a store of this schema), in alternating blocks of 200 inserts::

    uv run python -m bench.payloads codecs
    for i in 1 2 3; do
      PYTHONPATH=/tmp/old-main/daemon uv run python bench/payloads.py insert
      uv run python bench/payloads.py insert
    done
    git worktree add /tmp/old-main main
    uv run python bench/payloads.py ab /tmp/old-main
"""

from __future__ import annotations

import asyncio
import bz2
import lzma
import statistics
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "data" / "alerts"
NOTICE = CORPUS / "gcn-kafka-2026" / "000000005938_278_gcn_notices_einstein_probe_wxt_alert.json"
SKY_MAP = CORPUS / "igwn" / "MS181101ab-initial.json"

Codec = tuple[Callable[[bytes], bytes], Callable[[bytes], bytes]]
CODECS: dict[str, Codec] = {
    "zlib-1": (lambda b: zlib.compress(b, 1), zlib.decompress),
    "zlib-6": (lambda b: zlib.compress(b, 6), zlib.decompress),
    "zlib-9": (lambda b: zlib.compress(b, 9), zlib.decompress),
    "bz2-9": (lambda b: bz2.compress(b, 9), bz2.decompress),
    "lzma-0": (lambda b: lzma.compress(b, preset=0), lzma.decompress),
    "lzma-6": (lambda b: lzma.compress(b, preset=6), lzma.decompress),
}


def codecs() -> None:
    payloads = [p.read_bytes() for p in sorted(CORPUS.rglob("*.*")) if p.suffix != ".md"]
    groups = {
        "sky maps": [b for b in payloads if len(b) >= 64 * 1024],
        "notices": [b for b in payloads if len(b) < 64 * 1024],
    }
    for label, group in groups.items():
        print(f"{label}: {len(group)} payloads, {sum(map(len, group)) / 1e6:.1f} MB")
    print(f"{'codec':8} {'group':9} {'ratio':>6} {'compress ms':>12} {'decompress ms':>14}")
    for name, (compress, decompress) in CODECS.items():
        for label, group in groups.items():
            t0 = time.perf_counter()
            packed = [compress(b) for b in group]
            t1 = time.perf_counter()
            back = [decompress(b) for b in packed]
            t2 = time.perf_counter()
            assert back == group
            ratio = sum(map(len, group)) / sum(map(len, packed))
            print(
                f"{name:8} {label:9} {ratio:6.2f} {1000 * (t1 - t0) / len(group):12.3f} "
                f"{1000 * (t2 - t1) / len(group):14.3f}"
            )


async def _inserts(raw: bytes, count: int) -> list[float]:
    from autotoo.store.db import Database  # noqa: PLC0415  the tree PYTHONPATH names
    from autotoo.store.repository import Repository  # noqa: PLC0415
    from autotoo.store.rows import InboxItem  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as tmp:
        db = await Database.open(Path(tmp) / "state.db", fsync=lambda _fd: None)
        repo = Repository(db)
        now = datetime.now(UTC)
        times = []
        try:
            for i in range(count):
                item = InboxItem(f"k{i}", "bench", None, "t", f"d{i}", raw, now)
                t0 = time.perf_counter()
                await repo.inbox_put_many([item])
                times.append(time.perf_counter() - t0)
        finally:
            await db.close()
    return times


def insert() -> None:
    import autotoo  # noqa: PLC0415

    print(f"tree: {Path(autotoo.__file__).parents[1]}")
    for label, raw, count in (
        ("notice", NOTICE.read_bytes(), 3000),
        ("sky map", SKY_MAP.read_bytes(), 60),
    ):
        times = asyncio.run(_inserts(raw, count))[count // 10 :]  # past the warm-up
        print(
            f"{label:8} {len(raw):>8} B: median {1e3 * statistics.median(times):.3f} ms, "
            f"mean {1e3 * statistics.fmean(times):.3f} ms per insert ({len(times)} timed)"
        )


async def _ab(old_tree: Path) -> None:
    import importlib.util  # noqa: PLC0415

    from autotoo.store.db import Database  # noqa: PLC0415
    from autotoo.store.repository import Repository  # noqa: PLC0415
    from autotoo.store.rows import InboxItem  # noqa: PLC0415

    spec = importlib.util.spec_from_file_location(
        "old_writes", old_tree / "daemon" / "autotoo" / "store" / "writes.py"
    )
    assert spec is not None
    assert spec.loader is not None
    old_writes = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(old_writes)
    raw = NOTICE.read_bytes()
    with tempfile.TemporaryDirectory() as tmp:
        new_db = await Database.open(Path(tmp) / "new.db", fsync=lambda _fd: None)
        old_db = await Database.open(Path(tmp) / "old.db", fsync=lambda _fd: None)
        new_repo = Repository(new_db)

        async def old_put(items: list[InboxItem]) -> None:  # the old inbox_put_many
            await old_db.run(partial(old_writes.put_inbox, items=items), large=len(items) > 2)
            old_db.begin_sync()

        async def new_put(items: list[InboxItem]) -> None:
            await new_repo.inbox_put_many(items)

        times: dict[str, list[float]] = {"this tree": [], "old": []}
        now, i = datetime.now(UTC), 0
        try:
            for block in range(40):
                pair = [("this tree", new_put), ("old", old_put)]
                for name, put in pair if block % 2 else pair[::-1]:
                    for _ in range(200):
                        i += 1
                        item = InboxItem(f"k{i}", "bench", None, "t", f"d{i}", raw, now)
                        t0 = time.perf_counter()
                        await put([item])
                        times[name].append(time.perf_counter() - t0)
        finally:
            await new_db.close()
            await old_db.close()
    print(
        "notice insert, one process, alternating: "
        + ", ".join(f"{n} {1e6 * statistics.median(t[400:]):.1f} us" for n, t in times.items())
        + f" (medians of {len(times['old']) - 400})"
    )


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "codecs"
    if mode == "ab":
        asyncio.run(_ab(Path(sys.argv[2])))
    else:
        {"codecs": codecs, "insert": insert}[mode]()
