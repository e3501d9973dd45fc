"""The quiet collector: garbage is collected between alerts, never while one is in flight."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from typing import Any

import pytest

from autotoo.collector import QuietCollector
from autotoo.pipeline.worker import Worker


@pytest.fixture
def collections() -> Iterator[list[int]]:
    """The generations the collector ran, as CPython reports them."""
    seen: list[int] = []

    def record(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            seen.append(int(info["generation"]))

    gc.callbacks.append(record)
    try:
        yield seen
    finally:
        gc.callbacks.remove(record)


def test_nothing_is_collected_while_the_pipeline_is_busy(collections: list[int]) -> None:
    busy = True
    collector = QuietCollector(quiet=lambda: not busy)
    gc.collect()
    garbage = [[] for _ in range(500)]  # new container objects to collect
    collections.clear()
    assert not collector.collect_if_quiet()
    assert collections == []
    busy = False
    assert collector.collect_if_quiet()
    assert collections == [1]
    assert gc.get_count()[0] < 100
    assert len(garbage) == 500


def test_too_little_to_collect_is_left(collections: list[int]) -> None:
    collector = QuietCollector(quiet=lambda: True)
    gc.collect()
    collections.clear()
    assert not collector.collect_if_quiet()
    assert collections == []


class _Once(Worker):
    def __init__(self) -> None:
        super().__init__()
        self.inside = asyncio.Event()
        self.leave = asyncio.Event()

    def idle_seconds(self) -> float:
        return 3600.0

    async def step(self) -> int:
        self.inside.set()
        await self.leave.wait()
        return 0


async def test_a_worker_is_busy_in_a_round_and_once_woken_for_one() -> None:
    worker = _Once()
    assert not worker.busy
    task = asyncio.create_task(worker.run())
    try:
        await asyncio.wait_for(worker.inside.wait(), 5)
        assert worker.busy  # in its round
        worker.leave.set()
        for _ in range(100):
            await asyncio.sleep(0)
            if not worker.busy:
                break
        assert not worker.busy  # waiting for work
        worker.wake.set()
        assert worker.busy  # woken: a round is about to begin
    finally:
        worker.stopping = True
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
