"""Polite polling of XRT jobs: per-job minimum interval, a global rate limit, an active-job cap.

The service asks for at most one status query per job per minute and about five active jobs
per user. These three limits are independent and all in one place, so that the
pipeline cannot exceed them by running many jobs concurrently.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable

from autotoo.ukssdc.client import UkssdcClient
from autotoo.ukssdc.results import JobStatus


class RateLimiter:
    """At most one call per ``min_interval`` seconds across every caller."""

    def __init__(self, min_interval: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.min_interval = min_interval
        self._clock = clock
        self._lock = asyncio.Lock()
        self._last = -float("inf")

    async def __aenter__(self) -> None:
        # The lock serialises waiters so each one sees the previous caller's timestamp; it is
        # held across the sleep on purpose (that *is* the queue).
        async with self._lock:
            wait = self._last + self.min_interval - self._clock()
            if wait > 0:
                await asyncio.sleep(wait)
            self._last = self._clock()

    async def __aexit__(self, *_exc: object) -> None:
        return None


class ActiveJobCap:
    """At most ``limit`` jobs active at once; a slot is held from submission to completion.

    Slots are keyed (by the pipeline's idempotency key or JobID) so that a restarted daemon
    can ``adopt`` the jobs it was already tracking without double counting.
    """

    def __init__(self, limit: int = 5) -> None:
        if limit < 1:
            raise ValueError("the active-job cap must be at least 1")
        self.limit = limit
        self._held: set[str] = set()
        self._changed = asyncio.Condition()

    @property
    def active(self) -> int:
        return len(self._held)

    async def acquire(self, key: str) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: key in self._held or len(self._held) < self.limit)
            self._held.add(key)

    def adopt(self, keys: Iterable[str]) -> None:
        """Count already-running jobs (after a restart); may exceed the limit temporarily."""
        self._held.update(keys)

    async def release(self, key: str) -> None:
        async with self._changed:
            self._held.discard(key)
            self._changed.notify_all()


class JobPoller:
    """Polls job status no more often than ``per_job_interval`` per job, globally rate-limited."""

    def __init__(
        self,
        client: UkssdcClient,
        *,
        per_job_interval: float = 60.0,
        global_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self.per_job_interval = per_job_interval
        self._limiter = RateLimiter(global_interval, clock=clock)
        self._clock = clock
        self._last_poll: dict[int, float] = {}

    async def poll(self, job_id: int, products: Iterable[str]) -> JobStatus:
        """One status query, delayed until this job's interval has passed."""
        wait = self._last_poll.get(job_id, -float("inf")) + self.per_job_interval - self._clock()
        if wait > 0:
            await asyncio.sleep(wait)
        async with self._limiter:
            self._last_poll[job_id] = self._clock()
            return await self._client.status(job_id, products)

    async def wait_complete(self, job_id: int, products: Iterable[str]) -> JobStatus:
        """Poll until every product is terminal (bound it with ``asyncio.timeout``)."""
        wanted = list(products)
        while True:
            status = await self.poll(job_id, wanted)
            if status.complete:
                self._last_poll.pop(job_id, None)
                return status
