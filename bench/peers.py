"""Peers: our clients versus swifttools 4.0.5 against the same emulator, same requests.

* TOO submission round trip: :class:`autotoo.swift.SwiftV2Client` versus
  ``swifttools.swift_too.TOO`` (redirected with ``SWIFT_TOO_API_URL``, as the contract tests
  do), each building and submitting the same TOO (urgency 3, a distinct position each time so
  the emulator's "already recently submitted" rule never fires). Both keep their login.
* XRT job submission: :class:`autotoo.ukssdc.client.UkssdcClient` versus
  ``swifttools.ukssdc.xrt_prods.XRTProductRequest`` (``_baseURL`` on the instance), building and
  submitting the same job (SMC X-3, a light curve and a standard position); each submission
  uses its own registered user so the emulator's per-user queue limit never fires.

The emulator runs in a thread of this process; ours runs on this process's event loop and
swifttools blocks it in turn, so the two never overlap. Wall time per request, median of N.

    uv run python -m bench.peers [--quick]
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp

from autotoo.emulators.users import Users
from autotoo.swift import SwiftV2Client, TooRequest
from autotoo.ukssdc.client import UkssdcClient
from autotoo.ukssdc.request import XrtRequest
from bench._common import Row, emit, emulator, position, quick_flag

SECRET = "my_shared_secret"
TOO_FIELDS: dict[str, Any] = {
    "source_type": "X-ray transient",
    "exp_time_per_visit": 2000,
    "num_of_visits": 1,
    "monitoring_freq": "1 day",
    "exp_time_just": "2 ks reaches the flux needed to detect and localise it.",
    "immediate_objective": "Localise the transient",
    "urgency": 3,
    "obs_type": "Light Curve",
    "instrument": "XRT",
    "xrt_countrate": 0.5,
    "xrt_mode": "PC",
    "uvot_mode": 0x9999,
    "science_just": "A new X-ray transient; XRT localises it for the follow-up community.",
}
SMC_X3 = {"name": "SMC X-3", "targ": "00945521", "RA": 13.02343792, "Dec": -72.43450778}


def _ours_too(i: int) -> TooRequest:
    ra, dec = position(i)
    return TooRequest.model_validate({**TOO_FIELDS, "source_name": f"BENCH {i}", "ra": ra, "dec": dec})


def _theirs_too(i: int) -> str:
    from swifttools.swift_too import TOO  # noqa: PLC0415 - after SWIFT_TOO_API_URL is set

    ra, dec = position(i)
    too = TOO()
    too.username, too.shared_secret = "myuser", SECRET
    too.source_name = f"BENCH {i}"
    too.ra, too.dec = ra, dec
    for name, value in TOO_FIELDS.items():
        setattr(too, name, value)
    too.submit()
    if too.status.status != "Accepted":
        return f"{too.status.status}: {list(too.status.errors)}"
    return str(too.status.status)


async def _ours_xrt(session: aiohttp.ClientSession, user: str, base_url: str) -> Any:
    req = XrtRequest(user)
    req.set_globals(**SMC_X3, centroid=True, posErr=1, useSXPS=False)
    req.add_product("LightCurve", binMeth="obsid")
    req.add_product("StandardPos")
    return await UkssdcClient(session, user, base_url=base_url).submit(req)


def _theirs_xrt(user: str, base_url: str) -> bool:
    import swifttools.ukssdc.xrt_prods as ux  # noqa: PLC0415

    req = ux.XRTProductRequest(user, silent=True)
    req._baseURL = base_url  # noqa: SLF001 - the redirection the contract tests use
    req.setGlobalPars(**SMC_X3, centroid=True, posErr=1, useSXPS=False)
    req.addLightCurve(binMeth="obsid")
    req.addStandardPos()
    return bool(req.submit())


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


async def _timed_async(coro: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = await coro
    return time.perf_counter() - started, result


async def measure(n: int) -> list[Row]:
    users = Users(ukssdc={f"bench-{k}@example.org" for k in range(2 * n + 2)})
    with emulator(users=users) as emu, tempfile.TemporaryDirectory(prefix="bench-peers-") as home:
        os.environ["SWIFT_TOO_API_URL"] = f"{emu.root}/api/v2"
        os.environ["HOME"] = home  # swifttools keeps its session cookie under ~/.cache
        ukssdc_url = f"{emu.root}/user_objects"
        ours_too, theirs_too, ours_xrt, theirs_xrt = [], [], [], []
        async with aiohttp.ClientSession() as session:
            client = SwiftV2Client(
                f"{emu.root}/api/v2", username="myuser", shared_secret=SECRET, session=session
            )
            # One unmeasured round of each: logins, imports and first-use caches.
            await client.submit(_ours_too(0))
            _theirs_too(1)
            await _ours_xrt(session, "bench-0@example.org", ukssdc_url)
            _theirs_xrt("bench-1@example.org", ukssdc_url)
            for k in range(1, n + 1):
                seconds, result = await _timed_async(client.submit(_ours_too(2 * k)))
                assert result.status == "Accepted", result
                ours_too.append(seconds)
                seconds, status = _timed(lambda k=k: _theirs_too(2 * k + 1))
                assert status == "Accepted", status
                theirs_too.append(seconds)
                user = f"bench-{2 * k}@example.org"
                seconds, job = await _timed_async(_ours_xrt(session, user, ukssdc_url))
                assert job.job_id, job
                ours_xrt.append(seconds)
                other = f"bench-{2 * k + 1}@example.org"
                seconds, ok = _timed(lambda other=other: _theirs_xrt(other, ukssdc_url))
                assert ok, "swifttools did not submit"
                theirs_xrt.append(seconds)
    rows = []
    for label, ours, theirs in (
        ("TOO submission round trip", ours_too, theirs_too),
        ("XRT job submission", ours_xrt, theirs_xrt),
    ):
        value, base = statistics.median(ours) * 1e3, statistics.median(theirs) * 1e3
        rows.append(Row(f"{label}, median of {n}", value, "ms", base, "<= 0.5", value / base <= 0.5))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    n = 10 if quick_flag(argv) else 50
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # swifttools' deprecation chatter
        rows = asyncio.run(measure(n))
    emit(
        "Peers: our clients vs swifttools 4.0.5 (same emulator, same requests)",
        rows,
        [
            "baseline: swifttools 4.0.5 TOO().submit() and XRTProductRequest.submit(), timed "
            "from building the request to the reply, like ours",
            "requests alternate ours/theirs, so load changes hit both alike",
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
