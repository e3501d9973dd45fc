"""Sinks and runners shared by the source tests: real sinks that record, block or fail."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from autotoo.sources.base import Received, Sink, Source

WAIT = 10.0
"""Seconds any single wait in these tests may take before it fails."""


class Collector:
    """A sink that records every message; ``hold`` makes it wait on a payload until released."""

    def __init__(self, *, fail_on: bytes | None = None, wait: float = WAIT) -> None:
        self.items: list[Received] = []
        self._wait = wait
        self.entered: list[bytes] = []
        self._changed = asyncio.Event()
        self._holds: dict[bytes, asyncio.Event] = {}
        self._fail_on = fail_on

    def hold(self, payload: bytes) -> asyncio.Event:
        """Block the sink on ``payload`` until the returned event is set."""
        return self._holds.setdefault(payload, asyncio.Event())

    async def __call__(self, received: Received) -> None:
        self.entered.append(received.raw)
        self._changed.set()
        gate = self._holds.get(received.raw)
        if gate is not None:
            await gate.wait()
        if received.raw == self._fail_on:
            raise RuntimeError("inbox is full")
        self.items.append(received)
        self._changed.set()

    @property
    def payloads(self) -> list[bytes]:
        return [item.raw for item in self.items]

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        async with asyncio.timeout(self._wait):
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

    async def wait_for_count(self, count: int) -> None:
        await self.wait_until(lambda: len(self.items) >= count)

    async def wait_entered(self, payload: bytes) -> None:
        await self.wait_until(lambda: payload in self.entered)


@contextlib.asynccontextmanager
async def running(source: Source, sink: Sink) -> AsyncIterator[asyncio.Task[None]]:
    """Run ``source`` in a task for the block, then cancel it like a shutdown does."""
    task = asyncio.create_task(source.run(sink), name=f"source-{source.name}")
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            async with asyncio.timeout(10):
                await task


async def eventually(check: Callable[[], bool]) -> None:
    """Poll a condition the code under test reaches on its own schedule (no event to wait on:
    health fields are plain attributes)."""
    async with asyncio.timeout(WAIT):
        while not check():  # noqa: ASYNC110 - polling state that signals nothing
            await asyncio.sleep(0.02)
