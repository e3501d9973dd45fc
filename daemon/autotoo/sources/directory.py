"""Drop-folder source for scripts and replays, polled (no inotify dependency).

Convention: write ``name.tmp`` (or ``.name``) and rename it to its final name; a rename is
atomic within a filesystem, so a file is never read half-written. Files in a first-level
subfolder get the subfolder's name as topic (``gcn.classic.voevent.SWIFT_BAT_GRB_POS_ACK/``).
Files directly in the folder get the configured ``topic``; without one, the topic their payload
names (a VOEvent's Packet_Type or IVORN, a GCN notice's ``$schema``, IGWN fields), so that a
dropped notice reaches the rules written for its stream; a payload that names none (or cannot
be parsed) gets ``directory``. Oldest first (modification time, then name).

A file moves to ``done/`` only in ``ack()``, i.e. after the sink stored it; if the sink raises
the file stays where it is and ``run()`` ends, so the next start offers it again. A file that
can never be delivered (too large, unreadable) moves to ``failed/`` with a ``.reason`` note,
without reaching the sink.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from autotoo.alerts.streams import topic_of_payload
from autotoo.ratelimit import RepeatLimiter
from autotoo.sources.base import (
    Clock,
    HealthReporter,
    describe,
    payload_digest,
    utc_now,
)

if TYPE_CHECKING:
    from autotoo.sources.base import Sink
    from autotoo.sources.settings import DirectorySettings

log = structlog.get_logger(__name__)

DONE = "done"
FAILED = "failed"


def file_identity(name: str, raw: bytes) -> str:
    """The relative name alone could be reused by a later drop; the digest tells them apart."""
    return f"file:{name}:sha256:{payload_digest(raw)}"


def _ignored(name: str) -> bool:
    return name.startswith(".") or name.endswith(".tmp")


@dataclass(frozen=True, slots=True)
class _Drop:
    path: Path
    relative: str
    topic: str | None  # None: the payload's own topic (files directly in the folder)
    mtime: float


UNKNOWN_TOPIC = "directory"


def _read_with_topic(drop: _Drop, limit: int) -> tuple[bytes, str]:
    """The file's bytes and its topic (blocking: parsing a large IGWN alert takes a while)."""
    raw = _read(drop.path, limit)
    return raw, drop.topic or topic_of_payload(raw) or UNKNOWN_TOPIC


def _scan(root: Path, default_topic: str | None) -> list[_Drop]:
    """Blocking directory listing (runs in a worker thread)."""
    drops: list[_Drop] = []
    with os.scandir(root) as top:
        for entry in top:
            if _ignored(entry.name):
                continue
            if entry.is_file(follow_symlinks=False):
                drops.append(
                    _Drop(Path(entry.path), entry.name, default_topic, entry.stat().st_mtime)
                )
            elif entry.is_dir(follow_symlinks=False) and entry.name not in {DONE, FAILED}:
                with os.scandir(entry.path) as sub:
                    drops.extend(
                        _Drop(
                            Path(inner.path),
                            f"{entry.name}/{inner.name}",
                            entry.name,
                            inner.stat().st_mtime,
                        )
                        for inner in sub
                        if not _ignored(inner.name) and inner.is_file(follow_symlinks=False)
                    )
    drops.sort(key=lambda drop: (drop.mtime, drop.relative))
    return drops


def _move(path: Path, folder: Path, relative: str) -> Path:
    """Move ``path`` under ``folder`` keeping its relative name; never overwrite an earlier
    file of the same name (replays drop the same names again)."""
    target = folder / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    candidate, counter = target, 1
    while candidate.exists():
        candidate = target.with_name(f"{target.name}.{counter}")
        counter += 1
    path.rename(candidate)
    return candidate


def _read(path: Path, limit: int) -> bytes:
    with path.open("rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise _UndeliverableError(f"larger than {limit} bytes")
    return data


class _UndeliverableError(Exception):
    """This file can never reach the sink; it goes to ``failed/``."""


class DirectorySource(HealthReporter):
    """Offers every file dropped into ``settings.path`` to the sink, oldest first."""

    kind = "directory"

    def __init__(
        self,
        settings: DirectorySettings,
        *,
        clock: Clock = utc_now,
        repeats: RepeatLimiter | None = None,
    ) -> None:
        super().__init__(settings.name, clock)
        self._settings = settings
        # A missing folder is found again at every poll: warn once, then every 10 minutes.
        self._repeats = repeats or RepeatLimiter(every=600.0)

    async def run(self, sink: Sink) -> None:
        """Poll until cancelled. A missing folder is recorded and polled again (a mount may
        come back); sink exceptions propagate with the file left in place."""
        settings = self._settings
        try:
            while True:
                try:
                    drops = await asyncio.to_thread(_scan, settings.path, settings.topic)
                except OSError as exc:
                    self._health.mark_disconnected(describe(exc))
                    held = self._repeats.check("unreadable")
                    if held is not None:
                        log.warning(
                            "directory.unreadable",
                            source=self.name,
                            path=str(settings.path),
                            error=describe(exc),
                            held_back=held,
                            note=f"polled again every {settings.poll_interval:g} s; this "
                            f"warning repeats at most every {self._repeats.every:g} s",
                        )
                else:
                    self._repeats.clear("unreadable")
                    self._health.mark_alive()
                    for drop in drops:
                        await self._offer(drop, sink)
                await asyncio.sleep(settings.poll_interval)
        finally:
            self._health.mark_disconnected()

    async def _offer(self, drop: _Drop, sink: Sink) -> None:
        try:
            raw, topic = await asyncio.to_thread(_read_with_topic, drop, self._settings.max_bytes)
        except FileNotFoundError:
            return  # taken away between the scan and the read: nothing to deliver
        except (OSError, _UndeliverableError) as exc:
            await self._fail(drop, describe(exc))
            return
        done = self._settings.path / DONE

        async def ack() -> None:
            try:
                moved = await asyncio.to_thread(_move, drop.path, done, drop.relative)
            except OSError as exc:
                # Stored but not moved: the next poll offers it again and the inbox
                # recognises it; the health line tells the operator to fix the folder.
                self._health.mark_error(f"{drop.relative}: cannot move to {DONE}/: {describe(exc)}")
                return
            log.debug("directory.done", source=self.name, file=drop.relative, to=str(moved))

        await self._hand_over(
            sink, raw=raw, identity=file_identity(drop.relative, raw), topic=topic, ack=ack
        )

    async def _fail(self, drop: _Drop, reason: str) -> None:
        self._health.mark_error(f"{drop.relative}: {reason}")
        log.warning("directory.failed", source=self.name, file=drop.relative, reason=reason)

        def move_with_note() -> None:
            moved = _move(drop.path, self._settings.path / FAILED, drop.relative)
            moved.with_name(f"{moved.name}.reason").write_text(reason + "\n")

        try:
            await asyncio.to_thread(move_with_note)
        except OSError as exc:
            # Left in place, it is retried at the next poll; the health shows why.
            self._health.mark_error(f"{drop.relative}: cannot move to {FAILED}/: {describe(exc)}")
