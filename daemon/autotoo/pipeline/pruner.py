"""The daemon's retention pruner: drops old raw payloads by the policy, hourly, off the hot
path (the rules and the batching are in :mod:`autotoo.store.retention`). Each round first
compresses the large payloads still held as received, a few at a time: the inbox stores
every payload so (an alert's evaluation must not wait for a compression), and so did state
files from before compression."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from autotoo.logs import get_logger
from autotoo.pipeline.settings import Clock, system_clock
from autotoo.store.errors import StorageUnavailableError, StoreError, driver_errors
from autotoo.store.repository import Repository
from autotoo.store.retention import PruneReport, RetentionPolicy, compress_old, prune

log = get_logger("autotoo.retention")

# The first prune waits this long after start (at most ``every``): start-up, the backlog of
# a restart and the first alerts come first.
FIRST_AFTER = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class PrunerSettings:
    policy: RetentionPolicy
    every: timedelta


class Pruner:
    """A daemon component: one prune ``min(every, 5 min)`` after start, then every
    ``every``. The settings are read at each round, so a reload applies at the next one."""

    name = "pruner"
    intake = False

    def __init__(
        self,
        repo: Repository,
        *,
        settings: Callable[[], PrunerSettings],
        clock: Clock = system_clock,
    ) -> None:
        self.repo = repo
        self.settings = settings
        self.clock = clock
        self.rounds = 0  # since start, for tests and the curious

    async def run(self) -> None:
        await asyncio.sleep(min(FIRST_AFTER, self.settings().every).total_seconds())
        while True:
            await self.step()
            await asyncio.sleep(self.settings().every.total_seconds())

    async def step(self) -> PruneReport | None:
        """One prune; never raises for the store's sake (the next round tries again)."""
        settings = self.settings()
        failures: tuple[type[Exception], ...] = (StoreError, *driver_errors())
        try:
            compressed = await compress_old(self.repo)
            if compressed.payloads:
                log.info(
                    "raw payloads compressed",
                    payloads=compressed.payloads,
                    before_bytes=compressed.before_bytes,
                    after_bytes=compressed.after_bytes,
                )
            report = await prune(self.repo, settings.policy, now=self.clock())
        except StorageUnavailableError as exc:
            # The disk refuses writes; what a batch pruned is freed for SQLite's own reuse
            # only, so it cannot help now. The next round tries again.
            log.warning("raw payloads not pruned: the store cannot write", reason=exc.reason)
            return None
        except failures as exc:
            log.warning("raw payloads not pruned; next round tries again", error=str(exc))
            return None
        self.rounds += 1
        if report.payloads:
            log.info(
                "raw payloads pruned",
                payloads=report.payloads,
                stored_bytes=report.stored_bytes,
                original_bytes=report.original_bytes,
                batches=report.batches,
                longest_batch_ms=round(report.longest_batch_s * 1000, 1),
                topics={t: n for t, (n, _s, _o) in report.by_topic.items()},
            )
        return report
