"""Alert streams and counting for the reliability scenarios (shared by tests and the bench).

Alerts are the packaged real Einstein Probe WXT notice and the real Fermi GBM VOEvent, varied
only where a stream needs distinct events (``id``, position), updates (``alert_type``) and
retractions. Everything is counted afterwards from the emulators and the state file.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import random
import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from autotoo.emulators.ukssdc.routes import SERVICE_KEY
from autotoo.samples import SAMPLES
from tests.fixtures.daemon import DaemonHarness, StatusCollector, publish
from tests.fixtures.swift_emulator import Emulator

EP_TOPIC = "gcn/notices/einstein_probe/wxt/alert"
GBM_TOPIC = "gcn/classic/voevent/FERMI_GBM_ALERT"
UKSSDC_USER = "astronomer@example.org"

_EP = json.loads(next(s for s in SAMPLES if s.name == "ep_wxt_alert.json").read_bytes())
_GBM = next(s for s in SAMPLES if s.name.startswith("fermi_") and "alert" in s.name).read_bytes()

# Two rules: "ep-fast" acts at once (TOO, then XRT products of the observed target);
# "ep-settled" waits an hour for a better position, so its events are still unsent when
# their retraction arrives — that is what a retraction must withhold.
RULES = """\
rules:
  - name: ep-fast
    match: {topics: [gcn.notices.einstein_probe.wxt.alert], kinds: [initial, update]}
    when: alert.error_deg < 0.2
    once_per: event
    too: &too
      source_name: "EP{{ alert.event_key }}"
      source_type: X-ray transient
      position: best
      instrument: XRT
      urgency: 3
      obs_type: Light Curve
      exp_time_per_visit: 2000
      num_of_visits: 1
      xrt_countrate: 0.5
      xrt_mode: PC
      uvot_mode: 0x9999
      immediate_objective: "Localise EP transient {{ alert.event_key }}"
      science_just: "Einstein Probe WXT found a new X-ray transient; XRT localises it."
      exp_time_just: "2 ks reaches the flux needed to detect and localise it."
    xrt_products:
      submit: after_observation
      globals: {centroid: true, posErr: 1, useSXPS: false}
      products: {StandardPos: {}, EnhancedPos: {}}
    notify: [mqtt]
  - name: ep-settled
    match: {topics: [gcn.notices.einstein_probe.wxt.alert], kinds: [initial, update]}
    when: alert.error_deg >= 0.2 && alert.error_deg < 0.4
    once_per: event
    settle: 1h
    too: *too
    notify: [mqtt]
"""


def ep_alert(event: int, *, error: float = 0.05, alert_type: str | None = None) -> bytes:
    """A distinct EP event per ``event``: its own id and a position Swift can observe now."""
    body = dict(_EP)
    body["id"] = [f"0999{event:07d}"]
    body["ra"] = round((20.0 + 11.3 * event) % 120.0 + 10.0, 4)  # far from the November Sun
    body["dec"] = round(-40.0 + (17.0 * event) % 80.0, 4)
    body["ra_dec_error"] = error
    if alert_type is not None:
        body["alert_type"] = alert_type
    if alert_type == "update":
        body["ra"] = round(body["ra"] + 0.001, 4)  # a refined position
        body["ra_dec_error"] = error / 2
    return json.dumps(body).encode()


def gbm_alert() -> bytes:
    return _GBM


@dataclass(slots=True)
class Stream:
    """What is published, in order, and what must come of it."""

    messages: list[tuple[str, bytes]] = field(default_factory=list)
    fast: list[int] = field(default_factory=list)  # events that must get one TOO + one XRT job
    settled_retracted: list[int] = field(default_factory=list)  # withheld: nothing sent
    ignored: list[int] = field(default_factory=list)  # not matching any rule

    @property
    def distinct(self) -> set[str]:
        return {hashlib.sha256(raw).hexdigest() for _, raw in self.messages}


def make_stream(rng: random.Random, *, fast: int, settled: int, ignored: int) -> Stream:
    """Matching events (half with an update), retracted ones, non-matching ones, shuffled
    except that each event's alerts keep their order (initial before update/retraction)."""
    stream = Stream()
    per_event: list[list[tuple[str, bytes]]] = []
    number = rng.randrange(1_000_000)
    for _ in range(fast):
        number += 1
        stream.fast.append(number)
        alerts = [(EP_TOPIC, ep_alert(number))]
        if rng.random() < 0.5:
            alerts.append((EP_TOPIC, ep_alert(number, alert_type="update")))
        per_event.append(alerts)
    for _ in range(settled):
        number += 1
        stream.settled_retracted.append(number)
        per_event.append(
            [
                (EP_TOPIC, ep_alert(number, error=0.3)),
                (EP_TOPIC, ep_alert(number, error=0.3, alert_type="retraction")),
            ]
        )
    for _ in range(ignored):
        number += 1
        stream.ignored.append(number)
        per_event.append([(EP_TOPIC, ep_alert(number, error=0.9))])
    per_event.append([(GBM_TOPIC, gbm_alert())])
    while per_event:  # interleave events, keeping each event's own order
        queue = rng.choice(per_event)
        stream.messages.append(queue.pop(0))
        if not queue:
            per_event.remove(queue)
    return stream


def tune(config: Path, **sections: dict[str, Any]) -> None:
    """Merge ``sections`` into the daemon's YAML config (shallow per section)."""
    data = yaml.safe_load(config.read_text())
    for name, values in sections.items():
        current = data.get(name)
        data[name] = {**current, **values} if isinstance(current, dict) else values
    config.write_text(yaml.safe_dump(data, sort_keys=False))


@dataclass(frozen=True, slots=True)
class StateCounts:
    inbox_digests: set[str]
    inbox_status: dict[str, int]
    submissions: list[tuple[str, str, str, str]]  # (api, rule, group_key, state)
    results: list[tuple[int, str]]  # (submission id, kind)


def read_state(path: Path) -> StateCounts:
    """The daemon's state file as counts, opened read-only after the daemon stopped."""
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        digests = {row[0] for row in db.execute("SELECT digest FROM inbox")}
        status = dict(db.execute("SELECT status, count(*) FROM inbox GROUP BY status").fetchall())
        subs = db.execute(
            "SELECT s.api, s.rule, e.group_key, s.state FROM submissions s "
            "JOIN events e ON e.id = s.event_id ORDER BY s.id"
        ).fetchall()
        results = db.execute("SELECT submission_id, kind FROM results").fetchall()
    return StateCounts(digests, status, subs, results)


TERMINAL = {"done", "rejected", "failed", "cancelled"}


def event_key(number: int) -> str:
    return f"einstein_probe:0999{number:07d}"


async def publish_stream(port: int, stream: Stream, rng: random.Random, gap: float = 0.25) -> None:
    for topic, raw in stream.messages:
        await publish(port, topic, raw)
        await asyncio.sleep(rng.uniform(0.0, gap))


def completed_events(status: StatusCollector) -> set[str]:
    """Events whose XRT products were all retrieved (the final 'complete' status)."""
    done = status.actions(action="xrt_products", state="complete")
    return {m["event_key"] for m in done if "products" in m}


def completed(status: StatusCollector, stream: Stream) -> bool:
    """Every matching event has its XRT products, every retracted one its cancellation."""
    done = completed_events(status)
    cancelled = {m["event_key"] for m in status.actions(state="cancelled")}
    return {event_key(n) for n in stream.fast} <= done and {
        event_key(n) for n in stream.settled_retracted
    } <= cancelled


def dump_status(status: StatusCollector, path: Path) -> None:
    """What the collector saw, next to the daemon's logs, for the post-mortem of a seed."""
    path.write_text("".join(json.dumps([t, m]) + "\n" for t, m in status.messages))


async def finish(
    status: StatusCollector, stream: Stream, daemon: DaemonHarness, timeout: float
) -> list[str]:
    """Wait until the stream is worked through, keep what the collector saw, stop cleanly.

    Returns what went wrong (empty when all is well), so that a failing run still has its
    counts recorded before the test fails.
    """
    wrong = []

    def stored_everything() -> bool:
        # Also every alert in the inbox: an ignored alert published last may still be on its
        # way (the source reconnecting after a broker restart) when the actions are done, and
        # stopping the daemon then would leave it with the broker, not lost but not counted.
        if not completed(status, stream):
            return False
        try:
            return read_state(daemon.state).inbox_digests >= stream.distinct
        except sqlite3.Error:  # between a kill and the restart
            return False

    try:
        await status.wait_for(stored_everything, timeout=timeout)
    except AssertionError:
        wrong.append(f"not worked through within {timeout} s")
    dump_status(status, daemon.workdir / "status.jsonl")
    code = await daemon.stop()
    if code != 0:
        wrong.append(f"the daemon exited with {code} on SIGTERM")
    return wrong


def verify(
    emulator: Emulator, state_file: Path, status: StatusCollector, stream: Stream
) -> tuple[dict[str, Any], list[str]]:
    """Counts at the emulators, in the state file and on the status topics, and every way
    they differ from exactly-once (an empty list when all is well)."""
    toos = list(emulator.swift.toos.values())
    jobs = emulator.app[SERVICE_KEY].jobs.of_user(UKSSDC_USER)
    state = read_state(state_file)
    results = Counter(state.results)
    published = Counter(
        m["event_key"]
        for m in status.actions(action="xrt_products", state="complete")
        if "products" in m
    )
    names = Counter(t.form.target_name for t in toos)
    not_terminal = [s for s in state.submissions if s[3] not in TERMINAL]
    settled = [s for s in state.submissions if s[1] == "ep-settled"]
    counts = {
        "alerts_published": len(stream.messages),
        "alerts_distinct": len(stream.distinct),
        "inbox_rows": len(state.inbox_digests),
        "expected_toos": len(stream.fast),
        "toos": len(toos),
        "expected_xrt_jobs": len(stream.fast),
        "xrt_jobs": len(jobs),
        "retracted_withheld": sum(1 for s in settled if s[3] == "cancelled"),
        "submissions_not_terminal": len(not_terminal),
        "results_stored": len(results),
        "results_published_events": len(published),
        # At-least-once delivery: a kill between the broker's PUBACK and the notice's delete
        # publishes it again on restart (counted, not hidden; consumers see the same payload).
        "results_published_again": sum(c - 1 for c in published.values()),
        # The daemon's own notices (action "daemon": its disk was full) are not a request.
        "needs_human": sum(
            1 for m in status.actions(state="needs_human") if m.get("action") != "daemon"
        ),
    }
    wanted_names = sorted(f"EP0999{n:07d}" for n in stream.fast)
    checks = {
        "inbox differs from the published alerts": state.inbox_digests != stream.distinct,
        "inbox rows left unprocessed": state.inbox_status.get("new", 0) != 0,
        f"TOO names {sorted(names.elements())} != {wanted_names}": (
            sorted(names.elements()) != wanted_names
        ),
        "XRT jobs are not one per observed TOO": sorted(j.pars["targ"] for j in jobs)
        != sorted(f"{t.target_id:08d}" for t in toos),
        f"not terminal: {not_terminal}": bool(not_terminal),
        f"retracted rows not withheld: {settled}": {s[3] for s in settled} - {"cancelled"} != set()
        or {s[2] for s in settled} != {event_key(n) for n in stream.settled_retracted},
        "a result stored twice": any(c > 1 for c in results.values()),
        "results not published for every event": set(published)
        != {event_key(n) for n in stream.fast},
        "parked for a human": counts["needs_human"] != 0,
    }
    return counts, [what for what, failed in checks.items() if failed]
