"""Fault injection for the emulators: an aiohttp middleware driven by a :class:`FaultPlan`.

The reliability tests need the failures real services show — a connection dropped without a
reply, 500 and 503, a reply that never comes (before or after the service acted), a body that
is not JSON, slow replies, a session that expired — at a chosen request or at random with a
seeded RNG, so that a failing run is reproducible from its seed. Every injected fault is
recorded in :attr:`FaultPlan.injected`, so a test counts what it did to the daemon, not what it
hoped to do.

Mount with ``create_app(faults=plan)``; a plan can also be read from a JSON file
(:meth:`FaultPlan.from_json`).
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class FaultKind(StrEnum):
    REFUSE = "refuse-connection"  # close the transport, no response at all; nothing acted
    HTTP_500 = "500"  # the service did not act
    HTTP_503 = "503"  # the service did not act
    HTTP_429 = "429"  # too many requests: the service did not act
    DELAY = "delay"  # act, but reply only after ``seconds``
    TIMEOUT_BEFORE = "timeout-before"  # sleep past the client's timeout, then do not act
    TIMEOUT_AFTER = "timeout-after"  # act, then sleep past the client's timeout
    MALFORMED_JSON = "malformed-json"  # act, then reply 200 with a body that is not JSON
    EXPIRE_SESSION = "expire-session"  # 401 "Not authenticated"; the service did not act


# Kinds whose request reaches the real handler, so the service's state changes.
ACTING = frozenset({FaultKind.DELAY, FaultKind.TIMEOUT_AFTER, FaultKind.MALFORMED_JSON})


@dataclass(slots=True)
class Fault:
    """One rule: which requests (``path`` suffix, ``method``), when, and what happens.

    ``nth`` are 1-based numbers among the requests this rule matches; otherwise each matching
    request is hit with ``probability``. ``limit`` caps how many times the rule fires.
    """

    kind: FaultKind
    path: str = ""
    method: str | None = None
    nth: tuple[int, ...] = ()
    probability: float = 0.0
    seconds: float = 0.0
    limit: int | None = None
    retry_after: float | None = None  # 429/503: send ``Retry-After`` (whole seconds)
    seen: int = 0
    fired: int = 0

    def matches(self, request: web.Request) -> bool:
        if self.method is not None and request.method != self.method.upper():
            return False
        return request.path.rstrip("/").endswith(self.path.rstrip("/"))

    def fires(self, rng: random.Random) -> bool:
        self.seen += 1
        if self.limit is not None and self.fired >= self.limit:
            return False
        hit = self.seen in self.nth if self.nth else rng.random() < self.probability
        if hit:
            self.fired += 1
        return hit


@dataclass(frozen=True, slots=True)
class Injection:
    kind: FaultKind
    method: str
    path: str
    acted: bool


@dataclass(slots=True)
class FaultPlan:
    faults: list[Fault]
    seed: int = 0
    injected: list[Injection] = field(default_factory=list)
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)  # noqa: S311 reproducible fault schedule, not crypto

    @classmethod
    def from_json(cls, path: Path) -> FaultPlan:
        """``{"seed": 1, "faults": [{"kind": "503", "path": "/swift/too", "nth": [1]}]}``;
        ``"retry_after": 2`` makes a 429/503 say when to come back."""
        data: dict[str, Any] = json.loads(path.read_text())
        faults = [
            Fault(
                kind=FaultKind(f["kind"]),
                path=str(f.get("path", "")),
                method=f.get("method"),
                nth=tuple(int(n) for n in f.get("nth", ())),
                probability=float(f.get("probability", 0.0)),
                seconds=float(f.get("seconds", 0.0)),
                limit=f.get("limit"),
                retry_after=f.get("retry_after"),
            )
            for f in data.get("faults", [])
        ]
        return cls(faults, seed=int(data.get("seed", 0)))

    def count(self, kind: FaultKind | None = None) -> int:
        return sum(1 for i in self.injected if kind is None or i.kind is kind)

    def choose(self, request: web.Request) -> Fault | None:
        """The first matching rule that fires for this request (each rule counts its own)."""
        for fault in self.faults:
            if fault.matches(request) and fault.fires(self.rng):
                return fault
        return None

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        fault = self.choose(request)
        if fault is None:
            return await handler(request)
        self.injected.append(
            Injection(fault.kind, request.method, request.path, fault.kind in ACTING)
        )
        return await _inject(fault, request, handler)


async def _inject(fault: Fault, request: web.Request, handler: Handler) -> web.StreamResponse:
    kind = fault.kind
    if kind is FaultKind.REFUSE:
        await request.read()  # the body was sent; the peer then drops the connection
        if request.transport is not None:
            request.transport.close()
        # Nothing can be written on a closed transport; aiohttp discards this response.
        return web.Response(status=500)
    if kind in {FaultKind.HTTP_500, FaultKind.HTTP_503, FaultKind.HTTP_429}:
        headers = {}
        if fault.retry_after is not None and kind is not FaultKind.HTTP_500:
            headers["Retry-After"] = str(round(fault.retry_after))
        return web.Response(status=int(kind.value), text=f"injected {kind.value}", headers=headers)
    if kind is FaultKind.EXPIRE_SESSION:
        return web.json_response({"detail": "Not authenticated"}, status=401)
    if kind is FaultKind.TIMEOUT_BEFORE:
        # aiohttp does not cancel a handler whose client went away, so this sleep runs out;
        # the client gave up long before, and the service never acts.
        await asyncio.sleep(fault.seconds)
        return web.Response(status=504, text="injected timeout before acting")
    response = await handler(request)
    if kind is FaultKind.MALFORMED_JSON:
        return web.Response(status=200, text='{"status": "Accepted", "too_id": ', charset="utf-8")
    # DELAY and TIMEOUT_AFTER: the service acted; the reply is late (or too late).
    await asyncio.sleep(fault.seconds)
    return response
