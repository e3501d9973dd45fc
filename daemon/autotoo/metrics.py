"""Prometheus metrics for ``/metrics``, on a registry of our own (not the process-global one,
so two daemons in one test process, or a library that registers its own, never collide).

Two kinds of numbers, read only when Prometheus scrapes:

* process counters the components already keep (``Inbox.counters``, ``Processor.counters``,
  source health): read from the objects themselves, so no pipeline code knows about
  Prometheus and nothing is counted twice. They restart at zero with the process, as
  Prometheus counters may.
* facts of the store (submissions by API and state, poll failures, the age of the oldest
  pending submission, alert-to-submission latency, its size on disk and of the raw payloads
  held and pruned, every instance sharing it): the store is the truth and survives
  restarts, so these are computed from it at scrape time. The latency histogram is rebuilt
  from every sent submission on each scrape: it only grows, as a histogram must, and a
  restart loses nothing. TOOs are rare (a handful a day), so this stays cheap.

The store is async and prometheus-client's collectors are not, hence :meth:`Metrics.render`:
it reads the store first, then lets the registry serialise that snapshot.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from autotoo.sources.base import SourceHealth
from autotoo.store.repository import Repository
from autotoo.store.retention import StorageStats, storage_stats
from autotoo.store.rows import Api, SubmissionState

APIS = tuple(Api)
# Alert to POST: seconds for a rule without a settle window, minutes with one, hours for XRT
# products that wait for Swift to observe.
INSTANCES_WITHIN = timedelta(hours=1)  # as `autotoo status` and the dashboard list them
LATENCY_BUCKETS = (1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400)


class _InboxLike(Protocol):
    @property
    def counters(self) -> Any: ...


@dataclass(slots=True)
class _Snapshot:
    submissions: dict[str, dict[str, int]] = field(default_factory=dict)
    poll_failures: dict[str, int] = field(default_factory=dict)
    oldest_pending_s: dict[str, float] = field(default_factory=dict)
    latencies: dict[str, list[float]] = field(default_factory=dict)
    storage: StorageStats | None = None
    instances: list[dict[str, Any]] = field(default_factory=list)


class Metrics(Collector):
    """Collects from the components and a store snapshot; see the module docstring."""

    def __init__(
        self,
        repo: Repository,
        *,
        inbox: _InboxLike | None = None,
        processor: _InboxLike | None = None,
        sources: Callable[[], Sequence[SourceHealth]] = list,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        lease: Callable[[], timedelta] = lambda: timedelta(seconds=30),
    ) -> None:
        self.repo = repo
        self.inbox = inbox
        self.processor = processor
        self.sources = sources
        self.clock = clock
        self.lease = lease  # store.lease: an instance is up while it beats within it
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)
        self._snapshot = _Snapshot()

    async def refresh(self) -> None:
        """Read what the store knows (called before each serialisation)."""
        snap = _Snapshot()
        counts = await self.repo.counts()
        for key, n in counts.get("submissions", {}).items():
            api, _, state = key.partition(":")
            snap.submissions.setdefault(api, {})[state] = n
        snap.poll_failures = await self.repo.poll_failures()
        now = self.clock()
        for api, since in await self.repo.pending_since(now):
            age = max(0.0, (now - since).total_seconds())
            snap.oldest_pending_s[api] = max(age, snap.oldest_pending_s.get(api, 0.0))
        for api, seconds in await self.repo.sent_latencies():
            snap.latencies.setdefault(api, []).append(seconds)
        snap.storage = await storage_stats(self.repo)  # index-only reads and two stat()s
        snap.instances = [
            i
            for i in await self.repo.leases.instances(
                now, within=INSTANCES_WITHIN, live_within=self.lease()
            )
            if i["state"] != "stopped"  # a clean stop (a restart) is no instance down
        ]
        self._snapshot = snap

    async def render(self) -> bytes:
        await self.refresh()
        return generate_latest(self.registry)

    def collect(self) -> Iterator[Metric]:
        yield from self._process_counters()
        yield from self._source_gauges()
        yield from self._store_metrics()
        yield from self._storage_metrics()
        yield from self._instance_gauges()

    def _instance_gauges(self) -> Iterator[Metric]:
        """Every instance on this store, as seen from here (the same read as ``autotoo
        status``): any instance's scrape shows them all, so one killed is seen by the others.
        The label is ``instance_id``, not ``instance``, which Prometheus sets to the target."""
        up = GaugeMetricFamily(
            "autotoo_instance_up",
            "1 while the instance's heartbeat is within store.lease; 0: killed, hung or cut off "
            "(listed for an hour; one stopped cleanly is not listed)",
            labels=["instance_id"],
        )
        beat = GaugeMetricFamily(
            "autotoo_instance_heartbeat_age_seconds",
            "Seconds since the instance's last heartbeat (wall clocks: keep them in sync)",
            labels=["instance_id"],
        )
        leases = GaugeMetricFamily(
            "autotoo_instance_leases",
            "Live leases the instance holds on submissions",
            labels=["instance_id"],
        )
        for inst in self._snapshot.instances:
            label = [inst["id"]]
            up.add_metric(label, 1.0 if inst["state"] == "live" else 0.0)
            if inst["heartbeat_age_s"] is not None:
                beat.add_metric(label, float(inst["heartbeat_age_s"]))
            leases.add_metric(label, float(inst["leases"]))
        yield up
        yield beat
        yield leases

    def _storage_metrics(self) -> Iterator[Metric]:
        """Whether the store can write (0 while the disk is full: intake paused), and how
        often it could not since start."""
        storage = self.repo.db.storage
        writable = GaugeMetricFamily(
            "autotoo_store_writable", "1 while the state store can write; 0: intake paused"
        )
        writable.add_metric([], 0.0 if storage.problem is not None else 1.0)
        yield writable
        episodes = CounterMetricFamily(
            "autotoo_store_unavailable_episodes",
            "Times the state store became unable to write (disk full, I/O errors)",
        )
        episodes.add_metric([], float(storage.episodes))
        yield episodes
        stats = self._snapshot.storage
        if stats is None:
            return
        for name, doc, value in (
            ("autotoo_store_file_bytes", "Size of the state file (state.db)", stats.file_bytes),
            ("autotoo_store_wal_bytes", "Size of its write-ahead log (-wal)", stats.wal_bytes),
            ("autotoo_store_raw_payloads", "Raw alert payloads held", stats.payloads),
        ):
            gauge = GaugeMetricFamily(name, doc)
            gauge.add_metric([], float(value))
            yield gauge
        raw = GaugeMetricFamily(
            "autotoo_store_raw_payload_bytes",
            "Bytes of the raw payloads held: as stored (compressed) and as received (original)",
            labels=["form"],
        )
        raw.add_metric(["stored"], float(stats.stored_bytes))
        raw.add_metric(["original"], float(stats.original_bytes))
        yield raw
        pruned = CounterMetricFamily(
            "autotoo_store_raw_payloads_pruned",
            "Raw payloads the retention policy dropped (their rows and alerts stay)",
        )
        pruned.add_metric([], float(stats.pruned))
        yield pruned
        pruned_bytes = CounterMetricFamily(
            "autotoo_store_raw_payload_pruned_bytes",
            "Bytes (as received) of the raw payloads the retention policy dropped",
        )
        pruned_bytes.add_metric([], float(stats.pruned_bytes))
        yield pruned_bytes

    def _process_counters(self) -> Iterator[Metric]:
        inbox = self.inbox.counters if self.inbox is not None else None
        proc = self.processor.counters if self.processor is not None else None
        for name, doc, counters, attribute in (
            ("alerts_received", "Messages handed to the inbox by any source", inbox, "received"),
            ("alerts_deduplicated", "Messages already stored (redeliveries)", inbox, "duplicates"),
            ("alerts_parsed", "Stored messages parsed into an alert", proc, "parsed"),
            ("alerts_unparsed", "Stored messages no parser understood", proc, "unparsed"),
            (
                "alerts_repeated",
                "Parsed copies of an alert already evaluated (same IVORN), not evaluated again",
                proc,
                "duplicates",
            ),
        ):
            family = CounterMetricFamily(f"autotoo_{name}", doc)
            family.add_metric([], float(getattr(counters, attribute, 0)))
            yield family
        matches = CounterMetricFamily(
            "autotoo_rule_matches",
            "Alerts a rule matched (and whose actions rendered)",
            labels=["rule"],
        )
        for rule, n in sorted(getattr(proc, "matches", {}).items()):
            matches.add_metric([rule], float(n))
        yield matches

    def _source_gauges(self) -> Iterator[Metric]:
        connected = GaugeMetricFamily(
            "autotoo_source_connected",
            "1 while the source is connected and subscribed",
            labels=["source", "kind"],
        )
        last = GaugeMetricFamily(
            "autotoo_source_last_message_timestamp_seconds",
            "Unix time of the last message the source delivered",
            labels=["source", "kind"],
        )
        for health in self.sources():
            connected.add_metric([health.name, health.kind], 1.0 if health.connected else 0.0)
            if health.last_message_at is not None:
                last.add_metric([health.name, health.kind], health.last_message_at.timestamp())
        yield connected
        yield last

    def _store_metrics(self) -> Iterator[Metric]:
        snap = self._snapshot
        subs = GaugeMetricFamily(
            "autotoo_submissions",
            "Submissions in the store by API and state",
            labels=["api", "state"],
        )
        for api in APIS:
            for state in SubmissionState:
                subs.add_metric(
                    [api, state.value], float(snap.submissions.get(api, {}).get(state.value, 0))
                )
        yield subs
        failures = CounterMetricFamily(
            "autotoo_poll_failures", "Failed status polls of remote jobs", labels=["api"]
        )
        oldest = GaugeMetricFamily(
            "autotoo_oldest_pending_submission_seconds",
            "Age of the oldest submission that is due and not yet accepted (0: none)",
            labels=["api"],
        )
        latency = HistogramMetricFamily(
            "autotoo_alert_to_submission_seconds",
            "From receiving the alert that planned a submission to sending it",
            labels=["api"],
        )
        for api in APIS:
            failures.add_metric([api], float(snap.poll_failures.get(api, 0)))
            oldest.add_metric([api], snap.oldest_pending_s.get(api, 0.0))
            values = sorted(snap.latencies.get(api, []))
            # le="30.0", as prometheus-client's own histograms spell bucket bounds
            buckets = [
                (repr(float(b)), float(bisect.bisect_right(values, b))) for b in LATENCY_BUCKETS
            ]
            buckets.append(("+Inf", float(len(values))))
            latency.add_metric([api], buckets, sum_value=sum(values))
        yield failures
        yield oldest
        yield latency
