"""Rebinning a built light curve through the UKSSDC's newer API (``/API/main.php``).

swifttools 4.0.5's own ``XRTProductRequest.rebinLightCurve`` and the module functions behind it
run against the emulator (its hard-coded ``APIURL`` redirected), and so does our client.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import requests
import swifttools.ukssdc.main as uk_main
import swifttools.ukssdc.xrt_prods as ux
from swifttools.ukssdc.data import download as uk_download
from swifttools.ukssdc.xrt_prods import prod_request

from autotoo.ukssdc.client import UkssdcClient
from autotoo.ukssdc.rebin import RebinClient
from autotoo.xrtrequest.errors import ParameterError, RejectedError
from autotoo.xrtrequest.request import XrtRequest
from tests.fixtures.ukssdc_emulator import RunningUkssdc

USER = "astronomer@example.org"
SMC_X3 = {"name": "SMC X-3", "targ": "00945521", "RA": 13.02343792, "Dec": -72.43450778}


def api_url(emu: RunningUkssdc) -> str:
    return emu.base_url.removesuffix("/user_objects") + "/API/main.php"


@pytest.fixture
def xrt(ukssdc_emulator: RunningUkssdc, monkeypatch: pytest.MonkeyPatch) -> Callable[[], Any]:
    def post(url: str, **kw: Any) -> requests.Response:
        local = url.replace("https://www.swift.ac.uk/user_objects", ukssdc_emulator.base_url)
        return requests.post(local, timeout=30, **kw)

    monkeypatch.setattr(prod_request, "requests", types.SimpleNamespace(post=post))
    monkeypatch.setattr(uk_main, "APIURL", api_url(ukssdc_emulator))

    def make() -> Any:
        req = ux.XRTProductRequest(USER, silent=True)
        req._baseURL = ukssdc_emulator.base_url
        req.setGlobalPars(**SMC_X3, centroid=False, useSXPS=False)
        req.addLightCurve(binMeth="counts", pcCounts=20, wtCounts=30, dynamic=True)
        return req

    return make


def test_swifttools_rebins_a_built_light_curve(
    xrt: Callable[[], Any], ukssdc_emulator: RunningUkssdc, tmp_path: Path
) -> None:
    req = xrt()
    assert req.submit() is True
    with pytest.raises(RuntimeError, match="not yet compelete"):  # swifttools' own check
        req.rebinLightCurve(binMeth="time", pcBinTime=2000)
    ukssdc_emulator.clock.advance(timedelta(minutes=10))
    original = req.retrieveLightCurve(returnData=True)

    req.rebinLightCurve(binMeth="obsid", timeFormat="m")
    assert req._rebinID >= 900001
    assert req.checkRebinStatus() == {"statusCode": 1, "statusText": "Requested"}
    assert req.rebinComplete() is False
    ukssdc_emulator.clock.advance(timedelta(minutes=1))
    assert req.checkRebinStatus() == {"statusCode": 4, "statusText": "Complete"}
    rebinned = req.getRebinnedLightCurve(returnData=True, destDir=str(tmp_path))
    assert rebinned["Binning"] == "Observation"
    assert rebinned["TimeFormat"] == "MJD"
    assert original["Binning"] == "Counts"

    def rate_sets(curve: dict[str, Any]) -> list[str]:
        bases = ("PC", "WT", "PCUL", "WTUL")
        return [n for n in curve["Datasets"] if n.split("_")[0] in bases]

    assert rate_sets(rebinned)
    assert all("ObsID" in rebinned[n].columns for n in rate_sets(rebinned))  # a bin per obsid
    count = sum(len(rebinned[n]) for n in rate_sets(rebinned))
    assert count < sum(len(original[n]) for n in rate_sets(original))
    saved = sorted(p.name for p in tmp_path.iterdir())  # swifttools downloads each dataset
    assert saved == sorted(f"{n}.qdp" for n in rebinned["Datasets"])

    # Invalid binning: the server refuses, swifttools raises its error text.
    with pytest.raises(RuntimeError, match=r"Code BADPARS\. Message: `soft1 is 0\.1"):
        req.rebinLightCurve(binMeth="time", softLo=0.1)
    # Cancelling: XRTProductRequest.cancelRebin is broken in 4.0.5 (it calls a name-mangled
    # module function), so the module function it means to call is used.
    rebin_id = uk_download._rebinLightCurve("UOB_LC", int(req.JobID), binMeth="snapshot")
    assert uk_download._cancelRebin(rebin_id) is True
    assert uk_download._checkRebinStatus(rebin_id)["statusCode"] == -4
    assert uk_download._cancelRebin(rebin_id) is False  # already finished


async def test_our_client_rebins_a_built_light_curve(ukssdc_emulator: RunningUkssdc) -> None:
    req = XrtRequest(USER)
    req.set_globals(**SMC_X3, centroid=False, useSXPS=False)
    req.add_product("LightCurve", binMeth="counts", pcCounts=20, wtCounts=30, dynamic=True)
    async with aiohttp.ClientSession() as session:
        client = UkssdcClient(session, USER, base_url=ukssdc_emulator.base_url)
        rebins = RebinClient(session, api_url=api_url(ukssdc_emulator))
        job = await client.submit(req)
        assert job.job_id is not None
        with pytest.raises(RejectedError, match="no complete light curve"):
            await rebins.rebin_light_curve(job.job_id, bin_meth="time", pcBinTime=2000)
        ukssdc_emulator.clock.advance(timedelta(minutes=10))

        rebin_id = await rebins.rebin_light_curve(job.job_id, bin_meth="time", pcBinTime=2000)
        status = await rebins.status(rebin_id)
        assert (status.code, status.text, status.complete) == (1, "Requested", False)
        ukssdc_emulator.clock.advance(timedelta(minutes=1))
        assert (await rebins.status(rebin_id)).complete
        curve = await rebins.light_curve(rebin_id)
        assert curve.meta["Binning"] == "Time"
        assert "PC" in curve.datasets or "PCUL" in curve.datasets
        assert await rebins.cancel(rebin_id) is False  # finished: nothing to cancel

        with pytest.raises(ParameterError, match="'weekly' is not a valid value for binMeth"):
            await rebins.rebin_light_curve(job.job_id, bin_meth="weekly")  # nothing sent
        with pytest.raises(RejectedError, match="BADPARS") as bad:
            await rebins.rebin_light_curve(job.job_id, bin_meth="time", softLo=0.1)
        assert "soft1 is 0.1, but must be ≥minen (0.3)" in bad.value.text
        with pytest.raises(RejectedError, match="BADJOB"):
            await rebins.status(12345)
