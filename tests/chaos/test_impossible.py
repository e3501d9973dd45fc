"""Shadows and impossible alerts, fed to the real daemon (issue 16, items 2 and 4).

Real Fermi GBM FLT_POS VOEvents and Einstein Probe notices, each complete notice preceded by
one to three truncated copies of itself (cut after its IVORN, which is what used to shadow
it), some by a future-dated copy of itself; then impossible alerts of their own: trigger
times in 3026 and 9999, and EP notices with ``"id": [""]``. Published over a real
mosquitto to the real daemon process, counted at the Swift emulator: every complete notice
must have its TOO (0 shadowed), and no impossible alert may have one.

``AUTOTOO_CHAOS_IMPOSSIBLE_EVENTS`` sizes it (CI 4 complete events of each kind).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
import sqlite3
from dataclasses import dataclass, field

import aiomqtt

from autotoo.samples import SAMPLES
from tests.alerts.alert_corpus import CORPUS
from tests.chaos.conftest import Record, scale
from tests.chaos.streams import EP_TOPIC, ep_alert, read_state, tune
from tests.fixtures.daemon import DaemonHarness

GBM_TOPIC = "gcn/classic/voevent/FERMI_GBM_FLT_POS"
_GBM = sorted((CORPUS / "gcn-kafka-2026").glob("*fermi_gbm_flt_pos.xml"))[0].read_bytes()
assert SAMPLES  # the packaged samples the EP alerts of tests.chaos.streams come from

_TOO = """\
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
      immediate_objective: "Localise {{ alert.event_key }}"
      science_just: "A new transient; XRT localises it."
      exp_time_just: "2 ks reaches the flux needed to detect and localise it."
"""
RULES = f"""\
rules:
  - name: gbm
    match: {{topics: [gcn.classic.voevent.FERMI_GBM_FLT_POS]}}
    once_per: event
    too:
      source_name: "GBM{{{{ alert.event_key }}}}"
{_TOO}    notify: [mqtt]
  - name: ep
    match: {{topics: [gcn.notices.einstein_probe.wxt.alert]}}
    once_per: event
    too:
      source_name: "EP{{{{ alert.event_key }}}}"
{_TOO}    notify: [mqtt]
"""


def gbm_notice(trig: int, ra: float, dec: float, *, when: str | None = None) -> bytes:
    """The real FLT_POS VOEvent as another burst: its own IVORN, TrigID and position."""
    raw = re.sub(
        rb'ivorn="[^"]*"',
        b'ivorn="ivo://nasa.gsfc.gcn/Fermi#GBM_Flt_Pos_chaos_%d"' % trig,
        _GBM,
        count=1,
    )
    raw = re.sub(rb'(name="TrigID"\s+value=")\d+', rb"\g<1>%d" % trig, raw, count=1)
    raw = re.sub(rb"<C1>[^<]*</C1>", b"<C1>%.4f</C1>" % ra, raw, count=1)
    raw = re.sub(rb"<C2>[^<]*</C2>", b"<C2>%.4f</C2>" % dec, raw, count=1)
    raw = re.sub(rb"<Error2Radius>[^<]*<", b"<Error2Radius>5.0<", raw, count=1)
    if when is not None:
        raw = re.sub(rb"<ISOTime>[^<]*</ISOTime>", b"<ISOTime>%s</ISOTime>" % when.encode(), raw)
    return raw


def ep_notice(number: int, **changes: object) -> bytes:
    return json.dumps(json.loads(ep_alert(number)) | changes).encode()


@dataclass(slots=True)
class Feed:
    messages: list[tuple[str, bytes]] = field(default_factory=list)
    expected: set[str] = field(default_factory=set)  # TOO target names that must exist
    truncated: int = 0
    future_copies: int = 0
    impossible: int = 0


def truncations(rng: random.Random, raw: bytes, after: int) -> list[bytes]:
    """One to three copies cut at random points after byte ``after`` (never whole)."""
    return [raw[: rng.randrange(after, len(raw) - 1)] for _ in range(rng.randint(1, 3))]


def make_feed(rng: random.Random, events: int) -> Feed:
    feed = Feed()
    base = rng.randrange(100_000, 900_000) * 1000
    for n in range(events):
        trig, ra, dec = base + n, 10.0 + 11.3 * n % 120.0, -40.0 + 17.0 * n % 80.0
        raw = gbm_notice(trig, ra, dec)
        copies = truncations(rng, raw, raw.index(b"ivorn=") + 80)  # the IVORN is inside
        if rng.random() < 0.5:
            copies.append(gbm_notice(trig, ra, dec, when="3026-04-20T17:06:29.18"))
            feed.future_copies += 1
        feed.truncated += len(copies) - (1 if b"3026-" in copies[-1] else 0)
        feed.messages += [(GBM_TOPIC, c) for c in copies] + [(GBM_TOPIC, raw)]
        feed.expected.add(f"GBM{trig}")
        number = base + n
        ep = ep_alert(number)
        ep_copies = truncations(rng, ep, len(ep) // 3)
        feed.truncated += len(ep_copies)
        feed.messages += [(EP_TOPIC, c) for c in ep_copies] + [(EP_TOPIC, ep)]
        feed.expected.add(f"EP0999{number:07d}")
    for n in range(events):  # impossible alerts of their own: none may be acted on
        trig = base + 500 + n
        when = rng.choice(["3026-01-01T00:00:00.00", "9999-12-31T23:59:59.00"])
        feed.messages.append((GBM_TOPIC, gbm_notice(trig, 30.0, 10.0, when=when)))
        future = rng.choice(["3026-04-30T02:32:47.999Z", "9999-12-31T23:59:59Z"])
        feed.messages.append((EP_TOPIC, ep_notice(base + 500 + n, trigger_time=future)))
        feed.messages.append((EP_TOPIC, ep_notice(base + 600 + n, id=[""])))
        feed.impossible += 3
    return feed


async def publish_all(port: int, feed: Feed) -> None:
    """In order, on one connection (QoS 1: the broker keeps the order per topic)."""
    async with aiomqtt.Client("127.0.0.1", port) as client:
        for topic, raw in feed.messages:
            await client.publish(topic, raw, qos=1)


def settled(daemon: DaemonHarness, published: int) -> bool:
    """Every message received (stored, or counted as seen again by a row that has the same
    key) and handled, and no submission waiting to be sent."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{daemon.state}?mode=ro", uri=True)) as db:
            seen, new = db.execute(
                "SELECT COALESCE(SUM(seen_count), 0), COALESCE(SUM(status = 'new'), 0) FROM inbox"
            ).fetchone()
            (pending,) = db.execute(
                "SELECT COUNT(*) FROM submissions "
                "WHERE state IN ('planned', 'submitting', 'unknown')"
            ).fetchone()
    except sqlite3.Error:
        return False
    return bool(seen >= published and new == 0 and pending == 0)


async def test_shadows_and_impossible_alerts_reach_the_emulator_correctly(
    make_emulator, mosquitto_factory, daemon_factory, chaos_seed: int, chaos_record: Record
) -> None:
    rng = random.Random(chaos_seed)
    feed = make_feed(rng, scale("impossible_events", 4))
    emulator = await make_emulator(speed=20_000)
    broker = mosquitto_factory()
    daemon: DaemonHarness = daemon_factory(broker_port=broker.port, emulator_root=emulator.root)
    daemon.configure(RULES, too_per_day=10_000)
    # A POST timed out on the busy machine is reconciled in half a second, not a minute.
    tune(daemon.config, pipeline={"reconcile_delay": "0.5s", "retry_not_sent": "0.5s"})
    await daemon.start()
    wrong: list[str] = []
    try:
        await publish_all(broker.port, feed)
        distinct = len({raw for _, raw in feed.messages})
        try:
            async with asyncio.timeout(120):
                while not settled(daemon, distinct):  # noqa: ASYNC110 - another process's file
                    await asyncio.sleep(0.2)
        except TimeoutError:
            wrong.append("not worked through within 120 s")
    finally:
        code = await daemon.stop()
    if code != 0:
        wrong.append(f"the daemon exited with {code} on SIGTERM")
    names = [t.form.target_name for t in emulator.swift.toos.values()]
    state = read_state(daemon.state)
    shadowed = sorted(feed.expected - set(names))
    impossible_sent = sorted(set(names) - feed.expected)
    counts = {
        "published": len(feed.messages),
        "complete_notices": len(feed.expected),
        "truncated_copies_first": feed.truncated,
        "future_dated_copies_first": feed.future_copies,
        "impossible_alerts": feed.impossible,
        "toos": len(names),
        "shadowed_notices": len(shadowed),
        "submissions_for_impossible_alerts": len(impossible_sent),
        "inbox": state.inbox_status,
    }
    violations = [
        *wrong,
        *(f"shadowed: {name}" for name in shadowed),
        *(f"TOO for an impossible alert: {name}" for name in impossible_sent),
    ]
    chaos_record("truncated copies first, impossible alerts", violations=violations, **counts)
    assert wrong == []
    assert shadowed == [], shadowed
    assert impossible_sent == [], impossible_sent
    assert sorted(names) == sorted(feed.expected)  # one TOO each, none twice
    assert state.inbox_status.get("unparsed", 0) >= feed.truncated + feed.impossible
