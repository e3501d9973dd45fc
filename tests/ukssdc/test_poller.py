"""Polling limits: per-job interval, global rate limit, active-job cap (real emulator, real
sleeps of a few tens of milliseconds)."""

from __future__ import annotations

import asyncio
import itertools
import time
from datetime import timedelta

import aiohttp
import pytest

from autotoo.ukssdc.client import UkssdcClient
from autotoo.ukssdc.poller import ActiveJobCap, JobPoller, RateLimiter
from autotoo.xrtrequest.request import XrtRequest
from tests.fixtures.ukssdc_emulator import RunningUkssdc

USER = "astronomer@example.org"


async def test_rate_limiter_spaces_every_caller() -> None:
    limiter = RateLimiter(0.05)
    stamps: list[float] = []

    async def call() -> None:
        async with limiter:
            stamps.append(time.monotonic())

    await asyncio.gather(*(call() for _ in range(4)))
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert all(gap >= 0.045 for gap in gaps), gaps


async def test_active_job_cap() -> None:
    cap = ActiveJobCap(2)
    await cap.acquire("a")
    await cap.acquire("b")
    await cap.acquire("a")  # the same job twice holds one slot
    third = asyncio.create_task(cap.acquire("c"))
    await asyncio.sleep(0.02)
    assert not third.done()
    await cap.release("a")
    async with asyncio.timeout(1):
        await third
    assert cap.active == 2
    cap.adopt(["d", "e"])  # after a restart: count what is already running
    assert cap.active == 4
    with pytest.raises(ValueError, match="at least 1"):
        ActiveJobCap(0)


async def test_poller_waits_per_job_and_until_complete(ukssdc_emulator: RunningUkssdc) -> None:
    async with aiohttp.ClientSession() as session:
        client = UkssdcClient(session, USER, base_url=ukssdc_emulator.base_url)
        req = XrtRequest(USER)
        req.set_globals(name="Crab", targ="00030694", RA=83.633, Dec=22.0145,
                        centroid=False, useSXPS=False)  # fmt: skip
        req.add_product("StandardPos")
        submitted = await client.submit(req)
        assert submitted.job_id is not None
        poller = JobPoller(client, per_job_interval=0.2, global_interval=0.01)

        start = time.monotonic()
        first = await poller.poll(submitted.job_id, ["psf"])
        second = await poller.poll(submitted.job_id, ["psf"])
        assert time.monotonic() - start >= 0.19
        assert first.products["psf"].code == second.products["psf"].code == 1

        async def observe_later() -> None:
            await asyncio.sleep(0.3)
            ukssdc_emulator.clock.advance(timedelta(hours=1))

        advancing = asyncio.create_task(observe_later())
        async with asyncio.timeout(5):
            done = await poller.wait_complete(submitted.job_id, ["StandardPos"])
        await advancing
        assert done.complete
        assert done.products["psf"].succeeded
        assert time.monotonic() - start >= 0.3
