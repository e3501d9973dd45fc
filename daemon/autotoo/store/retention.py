"""Retention of raw payloads: drop the bytes of old alerts, keep everything else (issue 20).

Sky-map alerts are 1-5 MB each and were kept for ever. The retention policy (config
``store.retention``) says per topic (glob patterns, first match wins, else the default) how
long a raw payload is kept. Pruning one empties ``inbox.raw`` and sets ``pruned_at``; the
inbox row, its digest and size, the normalized alert, its decisions and its event stay, so
``autotoo alerts list|export`` still show it ("pruned on <date>").

What is never pruned, whatever the policy says:

* a payload not yet evaluated (inbox status ``new`` or ``parsed``): the processor needs it;
* every payload of an event that has a request (a submission row, in any state): the
  evidence for a TOO or an XRT job is kept whole. A submission belongs to an event, not to
  one alert, so all the event's alerts count as having led to it;
* a payload whose event saw an alert within that payload's retention period: the processor
  re-reads an event's earlier payloads to evaluate a new alert of it, so an event's payloads
  go only once the whole event has been quiet for the period. (An event that speaks again
  after that is evaluated with the payloads that are left; the processor leaves the pruned
  ones out.)

A copy the processor marked as a duplicate (the IVORN of an alert already stored) has no
alert of its own and goes by its own age; the first copy stays with its event. An unparsed
payload has no event either: it goes by its age too (reprocess it before then if a parser
fix should see it).

Each of those conditions is checked again inside the write transaction that prunes, so a
request planned meanwhile keeps its payloads. Pruning runs in batches of at most
:data:`BATCH_ROWS` rows and :data:`BATCH_BYTES` bytes, each its own short transaction on the
SQLite thread, with a pause between them: freeing a 1 MB payload walks its ~250 overflow
pages, and the inbox must never wait long behind the write lock.

SQLite reuses the freed pages for later writes; the file does not shrink by itself (a
``VACUUM`` with the daemon stopped does that).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from functools import partial

from autotoo.alerts.topics import normalize_topic
from autotoo.store import payloads
from autotoo.store.repository import Repository
from autotoo.store.rows import parse_ts, ts

BATCH_ROWS = 50
BATCH_BYTES = 2 * 1024 * 1024  # stored bytes freed per transaction (~3 sky maps, ~15 ms)
_SCAN = 200  # index entries read per scan step (~2 ms on the loop's thread)
_PAUSE_S = 0.05  # between two batches: the inbox and the processor get the lock first

_DONE = ("processed", "unparsed")  # evaluated (or refused) for good: the payload may go


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How long raw payloads are kept: per topic (glob patterns in order), else ``default``.
    None: for ever."""

    default: timedelta | None = None
    topics: tuple[tuple[str, timedelta | None], ...] = ()

    @classmethod
    def of(
        cls, default: timedelta | None, topics: Iterable[tuple[str, timedelta | None]]
    ) -> RetentionPolicy:
        """Patterns in the topics' canonical (dotted Kafka) spelling, as the store has them."""
        return cls(default, tuple((normalize_topic(p), keep) for p, keep in topics))

    def keep_for(self, topic: str | None) -> timedelta | None:
        for pattern, keep in self.topics:
            if fnmatchcase(topic or "", pattern):
                return keep
        return self.default

    @property
    def shortest(self) -> timedelta | None:
        """The shortest period of any topic (None: nothing is ever pruned)."""
        periods = [k for k in (self.default, *(k for _, k in self.topics)) if k is not None]
        return min(periods) if periods else None


@dataclass(slots=True)
class PruneReport:
    """What a prune freed (or, in a dry run, would free), and what it kept on purpose."""

    payloads: int = 0
    stored_bytes: int = 0  # as stored (compressed)
    original_bytes: int = 0  # as received
    by_topic: dict[str, list[int]] = field(default_factory=dict)  # topic: [n, stored, orig]
    kept_for_requests: int = 0  # old enough, but their event has a request
    kept_active: int = 0  # old enough, but their event is not quiet yet
    kept_unprocessed: int = 0  # old enough, but not evaluated yet
    batches: int = 0
    longest_batch_s: float = 0.0  # one batch's transaction, holding the write lock

    def add(self, candidate: _Candidate) -> None:
        self.payloads += 1
        self.stored_bytes += candidate.stored
        self.original_bytes += candidate.original
        counts = self.by_topic.setdefault(candidate.topic or "-", [0, 0, 0])
        counts[0] += 1
        counts[1] += candidate.stored
        counts[2] += candidate.original


@dataclass(frozen=True, slots=True)
class _Candidate:
    id: int
    topic: str | None
    cutoff: str  # received and event quiet before this (ts text)
    stored: int
    original: int


# Evaluated rows not yet pruned, in arrival order, from the inbox_status index (never the
# row itself: its columns after `raw` lie behind the payload's overflow pages); with the
# facts that protect a payload. One status at a time, so that the index range is in id order.
_SCAN_SQL = (
    "SELECT i.id, i.topic, i.status, i.received_at, COALESCE(i.raw_size, length(i.raw)), "
    "length(i.raw), "
    "(SELECT e.last_seen FROM alerts a JOIN events e ON e.id = a.event_id "
    "WHERE a.inbox_id = i.id), "
    "EXISTS (SELECT 1 FROM alerts a JOIN submissions s ON s.event_id = a.event_id "
    "WHERE a.inbox_id = i.id) "
    "FROM inbox i INDEXED BY inbox_status "
    "WHERE i.status = ? AND i.id > ? AND i.pruned_at IS NULL AND i.received_at < ? "
    "ORDER BY i.status, i.id LIMIT ?"
)
# Rows still to be evaluated: never pruned, only counted.
_WAITING_SQL = (
    "SELECT topic, received_at FROM inbox INDEXED BY inbox_status "
    "WHERE status IN ('new', 'parsed') AND received_at < ?"
)

# The same conditions again, inside the transaction that prunes.
_PRUNE_SQL = (
    "UPDATE inbox SET raw = X'', raw_size = COALESCE(raw_size, length(raw)), pruned_at = ? "
    "WHERE id = ? AND pruned_at IS NULL AND status IN ('processed', 'unparsed') "
    "AND received_at < ? "
    "AND NOT EXISTS (SELECT 1 FROM alerts a JOIN submissions s ON s.event_id = a.event_id "
    "WHERE a.inbox_id = inbox.id) "
    "AND NOT EXISTS (SELECT 1 FROM alerts a JOIN events e ON e.id = a.event_id "
    "WHERE a.inbox_id = inbox.id AND e.last_seen >= ?)"
)


def _scan(
    conn: sqlite3.Connection, status: str, after: int, before: str, limit: int
) -> list[sqlite3.Row]:
    return list(conn.execute(_SCAN_SQL, (status, after, before, limit)).fetchall())


def _waiting(conn: sqlite3.Connection, before: str) -> list[sqlite3.Row]:
    return list(conn.execute(_WAITING_SQL, (before,)).fetchall())


async def prune(
    repo: Repository,
    policy: RetentionPolicy,
    *,
    now: datetime,
    dry_run: bool = False,
    batch_rows: int = BATCH_ROWS,
    pause_s: float = _PAUSE_S,
) -> PruneReport:
    """Prune every payload the policy lets go (``dry_run``: only count them), in batches of
    at most ``batch_rows`` rows and :data:`BATCH_BYTES` bytes."""
    report = PruneReport()
    shortest = policy.shortest
    if shortest is None:
        return report
    before = ts(now - shortest)
    assert before is not None
    for topic, received in repo.db.read(partial(_waiting, before=before)):
        keep = policy.keep_for(topic)
        if keep is not None and received < (ts(now - keep) or ""):
            report.kept_unprocessed += 1
    pending: list[_Candidate] = []
    for status in _DONE:
        after = 0
        while True:
            rows = repo.db.read(
                partial(_scan, status=status, after=after, before=before, limit=_SCAN)
            )
            for row in rows:
                candidate = _judge(row, policy, now, report)
                if candidate is None:
                    continue
                if dry_run:
                    report.add(candidate)
                    continue
                pending.append(candidate)
                if len(pending) >= batch_rows or sum(c.stored for c in pending) >= BATCH_BYTES:
                    await _apply(repo, pending, now, report, pause_s)
                    pending = []
            if len(rows) < _SCAN:
                break
            after = int(rows[-1][0])
            await asyncio.sleep(0)  # the reads run on the loop's thread: let it breathe
    if pending:
        await _apply(repo, pending, now, report, pause_s)
    return report


def _judge(
    row: sqlite3.Row, policy: RetentionPolicy, now: datetime, report: PruneReport
) -> _Candidate | None:
    inbox_id, topic, status, received, original, stored, event_last, requested = tuple(row)
    keep = policy.keep_for(topic)
    if keep is None:
        return None
    cutoff = ts(now - keep)
    assert cutoff is not None
    if received >= cutoff or status not in _DONE:
        return None
    if requested:
        report.kept_for_requests += 1
        return None
    if event_last is not None and event_last >= cutoff:
        report.kept_active += 1
        return None
    return _Candidate(int(inbox_id), topic, cutoff, int(stored), int(original))


async def _apply(
    repo: Repository,
    batch: list[_Candidate],
    now: datetime,
    report: PruneReport,
    pause_s: float,
) -> None:
    at = ts(now)

    started: list[float] = []

    def work(conn: sqlite3.Connection) -> list[bool]:
        started.append(time.perf_counter())  # the lock is held from here to the commit
        return [
            conn.execute(_PRUNE_SQL, (at, c.id, c.cutoff, c.cutoff)).rowcount == 1 for c in batch
        ]

    done = await repo.db.run(work, large=True)  # on the SQLite thread: the loop runs on
    report.longest_batch_s = max(report.longest_batch_s, time.perf_counter() - started[0])
    report.batches += 1
    for candidate, pruned in zip(batch, done, strict=True):
        if pruned:
            report.add(candidate)
    await asyncio.sleep(pause_s)


# Payloads still as received and large enough to compress, from the index alone: stored
# before schema 4 (raw_size NULL), or by the inbox, which stores every payload as received
# (raw_size = length(raw); a compressed row's raw_size is larger than what it stores).
_UNCOMPRESSED_SQL = (
    "SELECT id FROM inbox INDEXED BY inbox_status WHERE id > ? AND pruned_at IS NULL "
    "AND (raw_size IS NULL OR raw_size = length(raw)) AND length(raw) >= ? ORDER BY id LIMIT ?"
)


def _uncompressed(conn: sqlite3.Connection, after: int) -> list[int]:
    rows = conn.execute(_UNCOMPRESSED_SQL, (after, payloads.COMPRESS_AT, _SCAN)).fetchall()
    return [int(r[0]) for r in rows]


def _payload(conn: sqlite3.Connection, inbox_id: int) -> bytes | None:
    row = conn.execute(
        "SELECT raw FROM inbox WHERE id = ? AND encoding = 'identity' AND pruned_at IS NULL",
        (inbox_id,),
    ).fetchone()
    return None if row is None else bytes(row[0])


@dataclass(slots=True)
class CompressReport:
    payloads: int = 0
    before_bytes: int = 0
    after_bytes: int = 0


async def compress_old(
    repo: Repository, *, batch_bytes: int = BATCH_BYTES, pause_s: float = _PAUSE_S
) -> CompressReport:
    """Compress the large payloads still stored as received: the inbox stores every payload
    so (compressing a sky map there would delay its evaluation), and schema 3 and older wrote
    them so too; they stay so until this runs.

    A few rows at a time: each is read, compressed on a thread (no lock held), and written
    back in a short transaction only if it is still the same uncompressed payload. Readers
    see the old or the new form, both decoding to the same bytes; the digest is unchanged.
    """
    report = CompressReport()
    after = 0
    while True:
        ids = repo.db.read(partial(_uncompressed, after=after))
        if not ids:
            return report
        after = ids[-1]
        batch: list[tuple[int, bytes, bytes]] = []
        size = 0
        for inbox_id in ids:
            raw = repo.db.read(partial(_payload, inbox_id=inbox_id))
            if raw is None:
                continue
            encoding, packed = await asyncio.to_thread(payloads.encode, raw)
            if encoding == "identity":  # it does not shrink: stays as it is
                continue
            batch.append((inbox_id, raw, packed))
            size += len(raw)
            if size >= batch_bytes:
                await _rewrite(repo, batch, report, pause_s)
                batch, size = [], 0
        if batch:
            await _rewrite(repo, batch, report, pause_s)


async def _rewrite(
    repo: Repository,
    batch: list[tuple[int, bytes, bytes]],
    report: CompressReport,
    pause_s: float,
) -> None:
    def work(conn: sqlite3.Connection) -> list[bool]:
        return [
            conn.execute(
                # identity: still the payload as received (nothing else rewrites
                # one); pruned_at IS NULL: not pruned meanwhile.
                "UPDATE inbox SET raw = ?, encoding = 'zlib', raw_size = ? "
                "WHERE id = ? AND encoding = 'identity' AND pruned_at IS NULL",
                (packed, len(raw), inbox_id),
            ).rowcount
            == 1
            for inbox_id, raw, packed in batch
        ]

    for (_id, raw, packed), rewritten in zip(
        batch, await repo.db.run(work, large=True), strict=True
    ):
        if rewritten:
            report.payloads += 1
            report.before_bytes += len(raw)
            report.after_bytes += len(packed)
    await asyncio.sleep(pause_s)


@dataclass(frozen=True, slots=True)
class StorageStats:
    """The store's size, for /metrics and ``autotoo store prune``."""

    file_bytes: int  # state.db
    wal_bytes: int  # state.db-wal
    payloads: int  # raw payloads held
    stored_bytes: int  # their size as stored (compressed)
    original_bytes: int  # their size as received
    pruned: int  # payloads dropped by the retention policy
    pruned_bytes: int  # their size as received
    pruned_since: datetime | None  # when the first was dropped (None: none yet)


def _stats(conn: sqlite3.Connection) -> tuple[int, int, int, int, int, str | None]:
    # One pass over the inbox_status index (see the migration), never over the payloads:
    # ~10 ms for 100 000 rows, whatever their size.
    row = conn.execute(
        "SELECT COUNT(*) - COUNT(pruned_at), "
        "COALESCE(SUM(CASE WHEN pruned_at IS NULL THEN length(raw) END), 0), "
        "COALESCE(SUM(CASE WHEN pruned_at IS NULL THEN COALESCE(raw_size, length(raw)) END), 0), "
        "COUNT(pruned_at), "
        "COALESCE(SUM(CASE WHEN pruned_at IS NOT NULL THEN raw_size END), 0), MIN(pruned_at) "
        "FROM inbox INDEXED BY inbox_status"
    ).fetchone()
    payloads, stored, original, pruned, pruned_bytes, since = row
    return int(payloads), int(stored), int(original), int(pruned), int(pruned_bytes), since


async def storage_stats(repo: Repository) -> StorageStats:
    payloads, stored, original, pruned, pruned_bytes, since = repo.db.read(_stats)
    file_bytes, wal_bytes = repo.db.sizes()
    return StorageStats(
        file_bytes=file_bytes,
        wal_bytes=wal_bytes,
        payloads=payloads,
        stored_bytes=stored,
        original_bytes=original,
        pruned=pruned,
        pruned_bytes=pruned_bytes,
        pruned_since=parse_ts(since),
    )
