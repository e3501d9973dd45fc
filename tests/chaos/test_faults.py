"""Faults injected in the emulators while the real daemon works through a stream of alerts.

Every kind of failure the services show, on the requests where it hurts: the TOO POST fails
in turn by a dropped connection, 500, 503, a timeout before and a timeout after the service
acted, a malformed JSON reply, an expired session and a slow reply; the UKSSDC submission
times out after acting and answers 503; polls and listings fail at random (seeded). The daemon
must retry what is safe, reconcile what is ambiguous, never duplicate, and log what it did.
A connection refused (nothing listening yet on the configured port) is its own scenario.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter

from autotoo.emulators.faults import Fault, FaultKind, FaultPlan
from tests.chaos.conftest import Record, ServeEmulator, scale
from tests.chaos.streams import (
    EP_TOPIC,
    RULES,
    ep_alert,
    finish,
    make_stream,
    publish_stream,
    tune,
    verify,
)
from tests.fixtures.daemon import DaemonHarness, StatusCollector, publish
from tests.fixtures.mosquitto import free_port

TIMEOUT_S = 1.0  # the daemon's swift.timeout and ukssdc.timeout in these runs
PAST_TIMEOUT_S = TIMEOUT_S + 0.5

TOO_POST_FAULTS = (
    FaultKind.REFUSE,
    FaultKind.HTTP_500,
    FaultKind.HTTP_503,
    FaultKind.TIMEOUT_BEFORE,
    FaultKind.TIMEOUT_AFTER,
    FaultKind.MALFORMED_JSON,
    FaultKind.EXPIRE_SESSION,
    FaultKind.DELAY,
)
RANDOM_POLL_FAULTS = (
    FaultKind.HTTP_500,
    FaultKind.HTTP_503,
    FaultKind.MALFORMED_JSON,
    FaultKind.REFUSE,
    FaultKind.DELAY,
    FaultKind.EXPIRE_SESSION,
)


def fault_plan(seed: int, probability: float) -> FaultPlan:
    """Each TOO POST rule fires on the first POST it sees, so consecutive POSTs meet each
    kind in turn; polls and listings fail at random with ``probability``."""

    def seconds(kind: FaultKind) -> float:
        return 0.3 if kind is FaultKind.DELAY else PAST_TIMEOUT_S

    faults = [
        Fault(kind, path="/swift/too", method="POST", nth=(1,), seconds=seconds(kind))
        for kind in TOO_POST_FAULTS
    ]
    faults += [
        Fault(FaultKind.HTTP_503, path="/login", method="POST", nth=(1,)),
        Fault(FaultKind.TIMEOUT_AFTER, path="/run_userobject.php", nth=(1,), seconds=1.5),
        Fault(FaultKind.HTTP_503, path="/run_userobject.php", nth=(1,)),
    ]
    rng = random.Random(seed)
    for path in ("/swift/too", "/swift/calendar", "/checkProductStatus.php", "/listOldJobs.php"):
        kind = rng.choice(RANDOM_POLL_FAULTS)
        faults.append(Fault(kind, path=path, probability=probability, seconds=seconds(kind)))
    return FaultPlan(faults, seed=seed)


def logged(daemon: DaemonHarness) -> Counter[str]:
    return Counter(str(e.get("event")) for e in daemon.logs())


async def test_injected_faults_are_retried_or_reconciled_never_duplicated(
    serve_emulator: ServeEmulator,
    mosquitto_factory,
    daemon_factory,
    chaos_seed: int,
    chaos_record: Record,
) -> None:
    rng = random.Random(chaos_seed)
    plan = fault_plan(chaos_seed, probability=scale("poll_fault_percent", 15) / 100)
    emulator = await serve_emulator(faults=plan)
    broker = mosquitto_factory()
    daemon: DaemonHarness = daemon_factory(broker_port=broker.port, emulator_root=emulator.root)
    daemon.configure(RULES, too_per_day=1000)
    tune(
        daemon.config,
        swift={"timeout": f"{TIMEOUT_S}s"},
        ukssdc={"timeout": f"{TIMEOUT_S}s"},
        pipeline={"reconcile_delay": "0.3s", "retry_not_sent": "0.3s"},
    )
    stream = make_stream(rng, fast=scale("fault_events", 3), settled=1, ignored=2)
    async with StatusCollector(broker.port) as status:
        await daemon.start()
        await publish_stream(broker.port, stream, rng)
        unfinished = await finish(status, stream, daemon, timeout=90)
    counts, violations = verify(emulator, daemon.state, status, stream)
    violations = unfinished + violations
    events = logged(daemon)
    injected = Counter(i.kind.value for i in plan.injected)
    posts = [r for r in emulator.swift.received if r.api == "/swift/too"]
    chaos_record(
        "faults injected in the emulators",
        injected=dict(injected),
        injected_where_service_acted=sum(1 for i in plan.injected if i.acted),
        too_posts_reaching_service=len(posts),
        reconciled_found=events["reconciled: the request exists remotely"],
        reconciled_resent=events["reconciled: not in the remote listing; sending again"],
        retried_not_sent=events["not sent; will retry"],
        polls_retried=events["poll failed; will retry"],
        violations=violations,
        **counts,
    )
    assert violations == []
    # every TOO POST fault kind met the daemon, and the ambiguous ones were reconciled
    assert {k.value for k in TOO_POST_FAULTS} <= set(injected)
    assert events["reconciled: the request exists remotely"] >= 1  # timeout-after, malformed
    assert events["reconciled: not in the remote listing; sending again"] >= 1  # refuse, 500...
    assert events["ambiguous reply from the Swift TOO API"] >= 1
    assert events["ambiguous reply from the UKSSDC"] >= 1


async def test_connection_refused_until_the_service_comes_up(
    serve_emulator: ServeEmulator, mosquitto_factory, daemon_factory, chaos_record: Record
) -> None:
    """Nothing listens on the configured port at first: the POST provably never left, so it
    is retried as 'not sent' (no reconciliation needed) until the emulator starts there."""
    port = free_port()  # reserved by number only: connections are refused until we serve it
    broker = mosquitto_factory()
    daemon: DaemonHarness = daemon_factory(
        broker_port=broker.port, emulator_root=f"http://127.0.0.1:{port}"
    )
    daemon.configure(RULES, too_per_day=1000)
    tune(daemon.config, pipeline={"reconcile_delay": "0.3s", "retry_not_sent": "0.3s"})
    async with StatusCollector(broker.port) as status:
        await daemon.start()
        await publish(broker.port, EP_TOPIC, ep_alert(1))
        await status.wait_for(
            lambda: logged(daemon)["not sent; will retry"] >= 3,
            timeout=30,
        )
        refused = logged(daemon)["not sent; will retry"]
        emulator = await serve_emulator(port=port)
        await status.wait_for(
            lambda: bool(status.actions(action="xrt_products", state="complete")), timeout=60
        )
        await asyncio.sleep(0.5)
        assert await daemon.stop() == 0
    reasons = [
        str(e.get("error")) for e in daemon.logs() if e.get("event") == "not sent; will retry"
    ]
    chaos_record(
        "connection refused, then the service starts",
        refused_attempts=refused,
        toos=len(emulator.swift.toos),
        too_posts_reaching_service=sum(1 for r in emulator.swift.received if r.api == "/swift/too"),
    )
    assert all("cannot connect" in r or "Login failed" in r for r in reasons), reasons
    assert len(emulator.swift.toos) == 1
    assert status.actions(state="needs_human") == []
