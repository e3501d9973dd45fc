"""429 and 503 with ``Retry-After``: the service declined before acting, so our clients wait and
resend (both Swift protocols, the UKSSDC client and its rebin API), and nothing is done twice.
The faults come from the emulators' own fault plan, as ``autotoo emulate --faults`` injects them.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from autotoo import sendwindow
from autotoo.emulators.app import create_app
from autotoo.emulators.clock import SimClock
from autotoo.emulators.faults import Fault, FaultKind, FaultPlan
from autotoo.emulators.sky import Sky
from autotoo.emulators.swift.rules import SwiftRules
from autotoo.retry_after import retry_after_s, wait_before_retry
from autotoo.swift import (
    SwiftAmbiguousError,
    SwiftNotSentError,
    SwiftV1Client,
    SwiftV2Client,
)
from autotoo.ukssdc.client import UkssdcClient
from autotoo.ukssdc.rebin import RebinClient
from autotoo.xrtrequest.errors import NotSentError
from autotoo.xrtrequest.request import XrtRequest
from tests.swift.conftest import seed_request

CREDS = {"username": "myuser", "shared_secret": "my_shared_secret"}
USER = "astronomer@example.org"
Start = Callable[[list[Fault]], Awaitable[tuple[str, FaultPlan, Sky]]]


@pytest.fixture
async def start() -> AsyncIterator[Start]:
    servers: list[TestServer] = []

    async def run(faults: list[Fault]) -> tuple[str, FaultPlan, Sky]:
        plan = FaultPlan(faults)
        sky = Sky(SimClock(speed=1e-9))
        app = create_app(sky=sky, swift_rules=SwiftRules(constraints=False), faults=plan)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return f"http://127.0.0.1:{server.port}", plan, sky

    yield run
    for server in servers:
        await server.close()


def test_retry_after_values() -> None:
    now = datetime(2026, 12, 6, 18, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert retry_after_s({"Retry-After": "7"}) == 7.0
    assert retry_after_s({"Retry-After": later}, now=now) == 30.0
    assert retry_after_s({"Retry-After": "soon"}) is None
    assert retry_after_s({}) is None
    assert wait_before_retry(429, {"Retry-After": "2"}, attempt=1) == 2.0
    assert wait_before_retry(503, {"Retry-After": "2"}, attempt=4) is None  # three resends
    assert wait_before_retry(503, {"Retry-After": "3600"}, attempt=1) is None  # too long
    assert wait_before_retry(503, {"Retry-After": "2"}, attempt=1, budget_s=1.0) is None
    assert wait_before_retry(500, {"Retry-After": "2"}, attempt=1) is None
    assert wait_before_retry(503, {}, attempt=1) is None


async def test_swift_v2_waits_and_resends(start: Start) -> None:
    root, plan, _ = await start(
        [
            Fault(FaultKind.HTTP_429, path="/swift/too", method="POST", nth=(1,), retry_after=1),
            # Each rule counts the requests it is asked about: the first one's resend.
            Fault(FaultKind.HTTP_503, path="/swift/too", method="POST", nth=(1,), retry_after=0),
            Fault(FaultKind.HTTP_503, path="/resolve", nth=(1, 2), retry_after=0),
        ]
    )
    async with SwiftV2Client(f"{root}/api/v2", **CREDS) as swift:
        began = time.monotonic()
        accepted = await swift.submit(seed_request(urgency=4))
        assert time.monotonic() - began >= 1.0  # it did wait as told
        assert accepted.too_id is not None
        assert (await swift.resolve("V404 Cyg")).name == "V404 Cyg"
    assert plan.count(FaultKind.HTTP_429) == 1
    assert plan.count(FaultKind.HTTP_503) == 3


async def test_swift_declines_without_a_usable_retry_after(start: Start) -> None:
    root, plan, _ = await start(
        [
            Fault(FaultKind.HTTP_429, path="/swift/too", method="POST", nth=(1,), retry_after=600),
            Fault(FaultKind.HTTP_503, path="/swift/too", method="POST", nth=(1,)),
        ]
    )
    async with SwiftV2Client(f"{root}/api/v2", **CREDS) as swift:
        with pytest.raises(SwiftNotSentError, match="429"):  # too long to wait: not sent
            await swift.submit(seed_request(urgency=4))
        with pytest.raises(SwiftAmbiguousError, match="503"):  # no Retry-After: as before
            await swift.submit(seed_request(urgency=4))
    assert plan.count() == 2


async def test_swift_v1_waits_and_resends(start: Start) -> None:
    root, plan, sky = await start(
        [Fault(FaultKind.HTTP_429, path="/toop/submit_json.php", nth=(1, 3), retry_after=0)]
    )
    async with SwiftV1Client(f"{root}/toop/submit_json.php", poll_interval=0.01, **CREDS) as s:
        accepted = await s.submit(seed_request(urgency=4, uvot_just=None))
    assert accepted.too_id is not None
    assert plan.count(FaultKind.HTTP_429) == 2
    assert sky.get(945521) is not None


def _smc_x3_light_curve() -> XrtRequest:
    req = XrtRequest(USER)
    req.set_globals(name="SMC X-3", targ="00945521", RA=13.02343792, Dec=-72.43450778,
                    centroid=False, useSXPS=False)  # fmt: skip
    req.add_product("LightCurve", binMeth="obsid")
    return req


async def test_ukssdc_waits_and_resends(start: Start) -> None:
    root, plan, sky = await start(
        [
            Fault(FaultKind.HTTP_429, path="/run_userobject.php", nth=(1,), retry_after=0),
            Fault(FaultKind.HTTP_503, path="/checkProductStatus.php", nth=(1,), retry_after=0),
            Fault(FaultKind.HTTP_503, path="/API/main.php", nth=(1,), retry_after=0),
        ]
    )
    req = _smc_x3_light_curve()
    async with aiohttp.ClientSession() as session:
        client = UkssdcClient(session, USER, base_url=f"{root}/user_objects")
        job = await client.submit(req)
        assert job.ok
        assert job.job_id is not None
        assert (await client.status(job.job_id, ["lc"])).products
        sky.clock.advance(timedelta(minutes=10))
        rebins = RebinClient(session, api_url=f"{root}/API/main.php")
        assert await rebins.rebin_light_curve(job.job_id, bin_meth="snapshot") >= 900001
    assert plan.count() == 3


async def test_a_creating_request_does_not_leave_once_its_send_window_closed(
    start: Start,
) -> None:
    """The submitter of an instance sharing the database opens a send window (half its
    lease, autotoo.sendwindow); each client checks it right before it writes a request that
    creates something: closed (a 429's wait outlasted it), nothing leaves, and it says so."""
    root, _plan, _sky = await start([])
    closed = time.monotonic() - 1.0
    async with SwiftV2Client(f"{root}/api/v2", **CREDS) as swift:
        with sendwindow.open_until(closed), pytest.raises(SwiftNotSentError, match="lease ran"):
            await swift.submit(seed_request(urgency=4))
    async with SwiftV1Client(f"{root}/toop/submit_json.php", poll_interval=0.01, **CREDS) as s:
        with sendwindow.open_until(closed), pytest.raises(SwiftNotSentError, match="lease ran"):
            await s.submit(seed_request(urgency=4, uvot_just=None))
    req = _smc_x3_light_curve()
    async with aiohttp.ClientSession() as session:
        client = UkssdcClient(session, USER, base_url=f"{root}/user_objects")
        with sendwindow.open_until(closed), pytest.raises(NotSentError, match="lease ran"):
            await client.submit(req)
    # the window open: the same requests leave
    async with SwiftV2Client(f"{root}/api/v2", **CREDS) as swift:
        with sendwindow.open_until(time.monotonic() + 60):
            assert (await swift.submit(seed_request(urgency=4))).too_id is not None
