"""Delivers stored notices (MQTT status messages, webhook posts), oldest first.

A notice is deleted only after its channel accepted it, so a crash or a broker outage delays
status messages but never loses them; on failure the channel is skipped for this round (to
keep the order of the retained event states) and retried with capped backoff.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import timedelta

from autotoo.logs import get_logger
from autotoo.pipeline.ports import PublishPort
from autotoo.pipeline.settings import Clock, system_clock
from autotoo.store.repository import Repository

log = get_logger("autotoo.publisher")

MAX_BACKOFF = timedelta(minutes=5)


class Publisher:
    name = "publisher"
    intake = False

    def __init__(
        self,
        repo: Repository,
        ports: Mapping[str, PublishPort],
        *,
        clock: Clock = system_clock,
        wake: asyncio.Event | None = None,
        idle: float = 1.0,
    ) -> None:
        self.repo = repo
        self.ports = dict(ports)
        self.clock = clock
        self.wake = wake or asyncio.Event()
        self.idle = idle
        self.published = 0

    async def run(self) -> None:
        while True:
            await self.step()
            self.wake.clear()
            try:
                async with asyncio.timeout(self.idle):
                    await self.wake.wait()
            except TimeoutError:
                pass

    async def drain(self) -> None:
        """One last round, so that what is ready leaves before we stop."""
        try:
            async with asyncio.timeout(5):
                await self.step()
        except TimeoutError:
            log.warning("notices left for the next start")

    async def step(self) -> int:
        failed: set[str] = set()
        sent = 0
        for notice in await self.repo.due_notices(self.clock()):
            if notice.channel in failed:
                continue
            port = self.ports.get(notice.channel)
            if port is None:
                log.warning("channel not configured; notice dropped", channel=notice.channel)
                await self.repo.notice_done(notice.id)
                continue
            try:
                await port.publish(
                    notice.channel, notice.topic, notice.payload, retain=notice.retain
                )
            except Exception as exc:  # noqa: BLE001 any failure: keep the notice, retry later
                failed.add(notice.channel)
                delay = min(MAX_BACKOFF, timedelta(seconds=2 ** min(notice.attempts, 9)))
                log.warning(
                    "publish failed; will retry",
                    channel=notice.channel,
                    error=str(exc),
                    retry_in_s=delay.total_seconds(),
                )
                await self.repo.notice_failed(notice.id, str(exc), self.clock() + delay)
            else:
                await self.repo.notice_done(notice.id)
                sent += 1
        self.published += sent
        return sent
