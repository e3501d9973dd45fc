"""Delivers stored notices (MQTT status messages, webhook posts), oldest first.

A notice is deleted only after its channel accepted it, so a crash or a broker outage delays
status messages but never loses them; on failure the channel is skipped for this round (to
keep the order of the retained event states) and retried with capped backoff.

While the state store cannot write (disk full) stored notices wait: one published now could
not be marked done and would go out again every round. Notices about the store itself
(:meth:`Publisher.announce`) are not stored at all: publishing needs no disk, so "the
daemon needs a human" reaches MQTT and the webhook during the outage, at most once per
channel (kept in memory until a channel accepts it; lost if the process dies first).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import timedelta

from autotoo.logs import get_logger
from autotoo.pipeline.ports import PublishPort
from autotoo.pipeline.settings import Clock, system_clock
from autotoo.store.errors import StorageUnavailableError
from autotoo.store.outbox import to_json
from autotoo.store.repository import Repository
from autotoo.store.rows import Notice

log = get_logger("autotoo.publisher")

MAX_BACKOFF = timedelta(minutes=5)
_DONE_EVERY = 64  # accepted notices deleted together (Publisher.step)


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
        self._announcements: list[Notice] = []

    def announce(self, notices: list[Notice]) -> None:
        """Publish these as soon as a channel takes them, without storing them."""
        self._announcements.extend(notices)
        self.wake.set()

    async def run(self) -> None:
        while True:
            try:
                await self.step()
            except StorageUnavailableError as exc:
                log.warning("stored notices wait for the state store", reason=exc.reason)
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
        except (TimeoutError, StorageUnavailableError):  # a full disk: they stay stored
            log.warning("notices left for the next start")

    async def _announce(self) -> int:
        left, sent = [], 0
        for notice in self._announcements:
            port = self.ports.get(notice.channel)
            if port is None:
                continue
            try:
                await port.publish(
                    notice.channel, notice.topic, to_json(notice.payload), retain=notice.retain
                )
            except Exception as exc:  # noqa: BLE001 any failure: keep it, try next round
                log.warning("announcement not sent yet", channel=notice.channel, error=str(exc))
                left.append(notice)
            else:
                sent += 1
        self._announcements = left
        return sent

    async def step(self) -> int:
        sent = await self._announce()
        if self.repo.db.storage.problem is not None:
            return sent
        # Accepted notices are deleted together, every _DONE_EVERY and when the round ends
        # (also when it is cancelled: a shutdown's last round). A crash before that sends
        # them again: at least once, as a crash between a publish and its delete always could.
        done: list[int] = []
        try:
            sent += await self._stored(done)
        finally:
            await self.repo.notices_done(done)
        self.published += sent
        return sent

    async def _stored(self, done: list[int]) -> int:
        """Publish the due stored notices in order; add each one a channel accepted (or
        that has no channel) to ``done``."""
        failed: set[str] = set()
        sent = 0
        for notice in await self.repo.due_notices(self.clock()):
            if len(done) >= _DONE_EVERY:
                await self.repo.notices_done(done)
                done.clear()
            if notice.channel in failed:
                continue
            port = self.ports.get(notice.channel)
            if port is None:
                log.warning("channel not configured; notice dropped", channel=notice.channel)
                done.append(notice.id)
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
                done.append(notice.id)
                sent += 1
        return sent
