"""Rate limits at the services while the real daemon works through a stream of alerts.

The emulators answer TOO POSTs, XRT submissions, TOO listings and polls with 429 (some with
``Retry-After``, some without) and 503 with ``Retry-After``: the first ones in a fixed order,
then a seeded share at random. A 429, or a 503 naming when to come back, is the service
declining before it acts, so the clients wait it out and resend (``autotoo.retry_after``);
exactly one TOO and one XRT job per event must still come of it. One TOO POST is answered
503 *without* ``Retry-After`` after the service acted (a test-local fault: the plan's own 503
never acts): that reply is ambiguous and must be reconciled against the listing, never sent
again blindly, or the TOO would exist twice.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from autotoo.emulators.faults import Fault, FaultKind, FaultPlan, Handler, Injection
from tests.chaos.conftest import Record, ServeEmulator, scale
from tests.chaos.streams import RULES, finish, make_stream, publish_stream, tune, verify
from tests.fixtures.daemon import DaemonHarness, StatusCollector

TIMEOUT_S = 5.0  # swift.timeout and ukssdc.timeout: room for a 1 s Retry-After in the deadline
RANDOM_PERCENT = 20  # the seeded share of the remaining submissions, listings and polls
ACT_THEN_503_AT = 4  # the TOO POST that is acted on, then answered 503 without Retry-After
TOO = "/swift/too"
XRT = "/run_userobject.php"
READS: tuple[tuple[str | None, str], ...] = (
    ("GET", TOO),  # the TOO listing and its status
    ("GET", "/swift/calendar"),
    (None, "/checkProductStatus.php"),
    (None, "/listOldJobs.php"),
)
EARLY_SLACK_S = 0.05  # clock granularity between the reply and the resend's arrival
ACTED_503 = "503-after-acting"


@dataclass(frozen=True, slots=True)
class Seen:
    """One request as the fault middleware saw it, and what it was answered."""

    key: tuple[str, str, str, bytes]  # method, path, query, body: a resend has the same key
    at: float  # monotonic seconds when the reply left
    fault: str | None  # the injected kind, None when the service answered
    retry_after: float | None


class RecordingPlan(FaultPlan):
    """The fault plan, recording every request, plus the one 'acted, then 503' reply."""

    def __init__(self, faults: list[Fault], *, seed: int, act_then_503_at: int) -> None:
        super().__init__(faults, seed=seed)
        self.act_then_503_at = act_then_503_at
        self.too_posts = 0
        self.seen: list[Seen] = []

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        body = await request.read()  # cached: the handler reads it again
        key = (request.method, request.path, request.query_string, body)
        if request.method == "POST" and request.path.endswith(TOO):
            self.too_posts += 1
            if self.too_posts == self.act_then_503_at:
                await handler(request)  # the TOO is created...
                self.injected.append(Injection(FaultKind.HTTP_503, "POST", request.path, True))
                self.seen.append(Seen(key, time.monotonic(), ACTED_503, None))
                return web.Response(status=503, text="injected 503 after acting")  # ...no RA
        fired = [f.fired for f in self.faults]
        response = await FaultPlan.middleware(self, request, handler)
        rule = next((f for f, n in zip(self.faults, fired, strict=True) if f.fired > n), None)
        kind = None if rule is None else rule.kind.value
        after = None if rule is None else rule.retry_after
        self.seen.append(Seen(key, time.monotonic(), kind, after))
        return response


def fault_plan(seed: int) -> RecordingPlan:
    """Fixed first: the first TOO POST meets 429 + Retry-After, its resend 503 + Retry-After,
    the next 429 without it (not sent, retried later), the 4th is acted on then answered 503
    without Retry-After; the first XRT submissions meet 429 and 503 with Retry-After. Then, seeded,
    a share of the TOO POSTs meets 429 and of the XRT submissions 503 (both with Retry-After),
    and half that share each of listings and polls meets 429 (Retry-After drawn per path: 0 s,
    1 s or none) and 503 with Retry-After."""
    share = RANDOM_PERCENT / 100
    faults = [
        Fault(FaultKind.HTTP_429, path=TOO, method="POST", nth=(1,), retry_after=1),
        Fault(FaultKind.HTTP_503, path=TOO, method="POST", nth=(1,), retry_after=1),
        Fault(FaultKind.HTTP_429, path=TOO, method="POST", nth=(1,)),
        Fault(FaultKind.HTTP_429, path=XRT, nth=(1,), retry_after=1),
        Fault(FaultKind.HTTP_503, path=XRT, nth=(1,), retry_after=1),
        Fault(FaultKind.HTTP_429, path=TOO, method="POST", probability=share, retry_after=1),
        Fault(FaultKind.HTTP_503, path=XRT, probability=share, retry_after=1),
    ]
    rng = random.Random(seed)
    for method, path in READS:
        after = rng.choice((None, 0, 1))
        faults.append(
            Fault(FaultKind.HTTP_429, path, method, probability=share / 2, retry_after=after)
        )
        faults.append(Fault(FaultKind.HTTP_503, path, method, probability=share / 2, retry_after=1))
    return RecordingPlan(faults, seed=seed, act_then_503_at=ACT_THEN_503_AT)


def resends(seen: list[Seen]) -> tuple[Counter[str], list[str]]:
    """Resends after a declining reply, by what the request was, and what broke the rules.

    A resend is the next request with the same method, path, query and body. A submission
    (the POSTs; their bodies are one event's) must come back no sooner than its Retry-After,
    and never after the 503 that came without one.
    """
    counts: Counter[str] = Counter()
    wrong: list[str] = []
    for i, first in enumerate(seen):
        if first.fault is None or (first.retry_after is None and first.fault != ACTED_503):
            continue
        again = next((s for s in seen[i + 1 :] if s.key == first.key), None)
        method, path = first.key[0], first.key[1]
        submission = method == "POST" and path.endswith((TOO, XRT))
        if first.fault == ACTED_503:
            if again is not None:
                wrong.append(f"{path} sent again after a 503 without Retry-After")
            continue
        if again is None:
            continue
        what = "submissions" if submission else "reads"
        counts[what] += 1
        assert first.retry_after is not None
        if submission and again.at - first.at < first.retry_after - EARLY_SLACK_S:
            wrong.append(
                f"{path} resent {again.at - first.at:.2f} s after Retry-After: "
                f"{first.retry_after:g}"
            )
    return counts, wrong


def logged(daemon: DaemonHarness) -> Counter[str]:
    return Counter(str(e.get("event")) for e in daemon.logs())


async def test_exactly_once_under_rate_limits(
    serve_emulator: ServeEmulator,
    mosquitto_factory: Callable[..., Any],
    daemon_factory: Callable[..., DaemonHarness],
    chaos_seed: int,
    chaos_record: Record,
) -> None:
    rng = random.Random(chaos_seed)
    plan = fault_plan(chaos_seed)
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
    stream = make_stream(rng, fast=scale("rate_limited_events", 3), settled=0, ignored=1)
    async with StatusCollector(broker.port) as status:
        await daemon.start()
        await publish_stream(broker.port, stream, rng)
        unfinished = await finish(status, stream, daemon, timeout=90)
    counts, violations = verify(emulator, daemon.state, status, stream)
    resent, wrong = resends(plan.seen)
    violations = unfinished + violations + wrong
    events = logged(daemon)
    injected = Counter(
        f"{s.fault} retry-after {'none' if s.retry_after is None else f'{s.retry_after:g}'}"
        for s in plan.seen
        if s.fault is not None
    )
    chaos_record(
        "rate limits at the services",
        injected=dict(injected),
        injected_429=plan.count(FaultKind.HTTP_429),
        injected_503=plan.count(FaultKind.HTTP_503),
        injected_503_without_retry_after_after_acting=injected[f"{ACTED_503} retry-after none"],
        submissions_resent_after_retry_after=resent["submissions"],
        reads_resent_after_retry_after=resent["reads"],
        swift_retry_after_logged=events["swift.retry_after"],
        too_posts_reaching_service=sum(1 for r in emulator.swift.received if r.api == TOO),
        reconciled_found=events["reconciled: the request exists remotely"],
        reconciled_resent=events["reconciled: not in the remote listing; sending again"],
        retried_not_sent=events["not sent; will retry"],
        polls_retried=events["poll failed; will retry"],
        violations=violations,
        **counts,
    )
    assert violations == []
    assert counts["toos"] == counts["expected_toos"]
    assert counts["xrt_jobs"] == counts["expected_xrt_jobs"]
    assert counts["needs_human"] == 0
    assert counts["submissions_not_terminal"] == 0
    assert plan.count(FaultKind.HTTP_429) >= 3  # the fixed ones, at least
    assert plan.count(FaultKind.HTTP_503) >= 3
    assert resent["submissions"] >= 3  # TOO after 429 and 503, XRT after 429 (and 503)
    assert events["swift.retry_after"] >= 2
    # the TOO acted on, then answered 503 without Retry-After: found, not sent again
    assert injected[f"{ACTED_503} retry-after none"] == 1
    assert events["reconciled: the request exists remotely"] >= 1
