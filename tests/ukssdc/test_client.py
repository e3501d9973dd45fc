"""Our async client against the emulator: the pipeline's whole job life cycle, and parity of
every error text with swifttools' for the same request."""

from __future__ import annotations

import asyncio
import io
import tarfile
import zipfile
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import swifttools.ukssdc.xrt_prods as ux
from aiohttp import web
from aiohttp.test_utils import TestServer

from autotoo.ukssdc.client import UkssdcClient, format_rejection
from autotoo.xrtrequest.errors import AmbiguousError, ErrorList, ProductError, RejectedError
from autotoo.xrtrequest.request import XrtRequest
from tests.fixtures.ukssdc_emulator import RunningUkssdc
from tests.ukssdc.test_request import SEED_GLOBALS_REPORT, SEED_PRODUCTS_REPORT, seed_state

USER = "astronomer@example.org"
SMC_X3: dict[str, Any] = {
    "name": "SMC X-3 autotoo-7f3a",
    "targ": "00945521",
    "RA": 13.02343792,
    "Dec": -72.43450778,
}


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def client(session: aiohttp.ClientSession, ukssdc_emulator: RunningUkssdc) -> UkssdcClient:
    return UkssdcClient(session, USER, base_url=ukssdc_emulator.base_url, timeout=10)


def smc_request(user: str = USER) -> XrtRequest:
    req = XrtRequest(user)
    req.set_globals(**SMC_X3, centroid=True, posErr=1, useSXPS=False)
    req.add_product("LightCurve", binMeth="obsid")
    req.add_product("Spectrum", hasRedshift=False)
    req.add_product("StandardPos")
    req.add_product("EnhancedPos")
    req.add_product("AstromPos")
    req.add_product("Image")
    req.add_product("SourceDet", whichData="all", whichBands="all")
    return req


async def test_job_life_cycle(
    client: UkssdcClient, ukssdc_emulator: RunningUkssdc, tmp_path: Path
) -> None:
    req = smc_request()
    result = await client.submit(req)
    assert result.ok, result.submit_error
    assert isinstance(result.job_id, int)  # the server sends "60001"
    assert result.url == f"{ukssdc_emulator.base_url}/tprods/USERPROD_{result.job_id}"
    assert result.job_pars["cent"] == 1
    assert result.update_warning is None
    assert req.submitted
    assert req.get_globals("maxCentTries") == 10  # server default adopted from jobPars
    job_id = result.job_id
    with pytest.raises(ProductError, match="already been submitted"):
        await client.submit(req)

    status = await client.status(job_id, req.products)
    assert {s.code for s in status.products.values()} == {1}
    assert not status.complete
    assert await client.count_active_jobs() == 1

    ukssdc_emulator.clock.advance(timedelta(minutes=20))
    status = await client.status(job_id, req.products)
    assert status.complete
    assert all(s.succeeded for s in status.products.values())
    assert status.products["lc"].text == "Complete"

    psf = await client.standard_position(job_id)
    enh = await client.enhanced_position(job_id)
    astrom = await client.astrometric_position(job_id)
    for pos in (psf, enh, astrom):
        assert pos.got_pos
        assert pos.ra == pytest.approx(13.0234, abs=0.01)
        assert pos.dec == pytest.approx(-72.4345, abs=0.01)
    assert psf.err90_arcsec is not None
    assert enh.err90_arcsec is not None
    assert enh.err90_arcsec < psf.err90_arcsec  # enhanced beats standard
    assert await client.position(job_id, "EnhancedPos") == enh
    with pytest.raises(ProductError, match="not a position product"):
        await client.position(job_id, "Image")

    lc = await client.light_curve(job_id)
    assert lc.meta["Binning"] == "Observation"
    assert set(lc.datasets) == {"PC", "PCSoft", "PCHard", "PCHR"}
    rates = lc.datasets["PC"].column("Rate")
    assert all(isinstance(r, float) and r > 0 for r in rates)
    assert lc.datasets["PC"].columns[-3:] == ["Sigma", "SNR", "ObsID"]
    assert lc.datasets["PC"].column("ObsID") == ["00945521001", "00945521002", "00945521003"]
    both = await client.light_curve(job_id, nosys="both", incbad="both")
    assert {"PC", "PC_incbad"} <= set(both.datasets)

    fits = await client.spectral_fits(job_id)
    assert fits.rnames == ["interval0"]
    assert fits.raw["interval0"]["PC"]["Models"] == ["PowerLaw"]

    sources = await client.source_list(job_id)
    assert list(sources) == ["Total", "Soft", "Medium", "Hard"]
    assert sources["Total"][0]["sno"] == 1
    assert isinstance(sources["Total"][0]["ra"], float)

    state = tmp_path / "state"
    got = await client.download(result.url or "", "LightCurve", state)
    assert got.path == state / "lc.tar.gz"
    with tarfile.open(got.path) as tar:
        assert f"USERPROD_{job_id}/lc/PC.qdp" in tar.getnames()
    with pytest.raises(ProductError, match="clobber=False"):
        await client.download(result.url or "", "lc", state)
    zipped = await client.download(result.url or "", "xastrom", state, fmt="zip", prefix="j_")
    with zipfile.ZipFile(zipped.path) as zf:
        assert f"USERPROD_{job_id}/xastrom/corrpos.dat" in zf.namelist()
    everything = await client.download(result.url or "", "all", state, fmt="tar")
    with tarfile.open(everything.path) as tar:
        tops = {n.split("/")[1] for n in tar.getnames()}
    assert tops == {"lc", "spec", "psf", "enh", "xastrom", "image", "sourceDet"}
    with tarfile.open(fileobj=io.BytesIO(_member(everything.path, "spec/interval0.tar.gz"))) as t:
        assert "interval0pcsource.pi" in t.getnames()
    assert not list(state.glob("*.part"))

    jobs = await client.find_jobs(SMC_X3["name"])
    assert [j.job_id for j in jobs] == [job_id]
    assert jobs[0].products["SourceDet"] is True
    assert await client.count_active_jobs() == 0


def _member(path: Path, inner: str) -> bytes:
    with tarfile.open(path) as tar:
        for member in tar.getmembers():
            if member.name.endswith(inner):
                handle = tar.extractfile(member)
                assert handle is not None
                return handle.read()
    raise AssertionError(inner)


async def test_not_ready_and_rejections_read_like_swifttools(
    client: UkssdcClient, ukssdc_emulator: RunningUkssdc, session: aiohttp.ClientSession
) -> None:
    req = XrtRequest("YOUR_EMAIL_HERE")
    seed_state(req, ours=True)
    result = await client.submit(req)
    assert not result.ok
    assert result.submit_error == (
        "The request is not ready to submit:\n\n" + SEED_GLOBALS_REPORT + SEED_PRODUCTS_REPORT
    )

    with pytest.raises(ProductError, match="different UserID"):
        await client.submit(smc_request("someone.else@example.org"))
    unregistered = UkssdcClient(session, "YOUR_EMAIL_HERE", base_url=ukssdc_emulator.base_url)
    req = XrtRequest("YOUR_EMAIL_HERE")
    req.set_globals(**SMC_X3, centroid=True, posErr=0.01, useSXPS=False)
    req.add_product("Spectrum", hasRedshift=False, timeslice="user")
    result = await unregistered.submit(req)
    assert result.submit_error == "The user `YOUR_EMAIL_HERE` is not recognised / validated \n"

    reference = ux.XRTProductRequest(USER)
    reference._baseURL = ukssdc_emulator.base_url
    reference.setGlobalPars(**SMC_X3, centroid=True, posErr=0.01, useSXPS=False)
    reference.addSpectrum(hasRedshift=False, timeslice="user")
    assert reference.submit() is False
    ours = XrtRequest(USER)
    ours.set_globals(**SMC_X3, centroid=True, posErr=0.01, useSXPS=False)
    ours.add_product("Spectrum", hasRedshift=False, timeslice="user")
    assert ours.to_json() == reference.getJSONDict()
    result = await client.submit(ours)
    assert result.submit_error == reference.submitError
    assert "* posErr is 0.01, but must be between 1 and 6\n" in (result.submit_error or "")


async def test_server_list_err_translated_as_in_the_spec(
    ukssdc_emulator: RunningUkssdc, session: aiohttp.ClientSession
) -> None:
    body = {"UserID": USER, "api_name": "xrt_prods", "api_version": "1.12", "name": "x",
            "targ": "945521", "RA": 1.0, "poserr": 0.01, "lc": 1, "binMeth": "counts",
            "wtcounts": 5, "dynamic": 1}  # fmt: skip
    async with session.post(f"{ukssdc_emulator.base_url}/run_userobject.php", json=body) as resp:
        reply = await resp.json(content_type=None)
    assert reply["OK"] == 0
    assert reply["listErr"] == [
        {
            "label": "The following parameters are needed, but were not supplied:",
            "list": ["Dec", "cent", "pccounts"],
        },
    ]  # fmt: skip  (poserr is only range-checked when centroiding)
    entries = tuple(ErrorList(e["label"], tuple(e["list"])) for e in reply["listErr"])
    entries += (ErrorList("The following parameters have invalid values:",
                          ("poserr is 0.01, but must be between 1 and 6",)),)  # fmt: skip
    assert format_rejection(reply["ERROR"], entries, ["lc"]) == (
        "There were problems with the parameters you supplied. \n"
        "The following parameters are needed, but were not supplied: \n"
        "* Dec\n * centroid\n * LightCurve: pcCounts\n "
        "The following parameters have invalid values: \n"
        "* posErr is 0.01, but must be between 1 and 6\n "
    )


async def test_cancel_ownership_and_unknown_jobs(
    client: UkssdcClient, ukssdc_emulator: RunningUkssdc, session: aiohttp.ClientSession
) -> None:
    result = await client.submit(smc_request())
    assert result.job_id is not None
    ukssdc_emulator.clock.advance(timedelta(seconds=100))
    cancelled = await client.cancel(result.job_id, ["lc", "psf", "Spectrum"])
    assert cancelled.ok == 2
    assert {k: v.code for k, v in cancelled.products.items()} == {"lc": 0, "psf": 1, "spec": 0}
    status = await client.status(result.job_id, ["lc", "psf"])
    assert status.products["lc"].code == -4
    assert status.products["lc"].terminal
    assert not status.products["lc"].succeeded
    with pytest.raises(RejectedError, match=r"^No light curve was produced for job \d+\. \n$"):
        await client.light_curve(result.job_id)
    with pytest.raises(
        RejectedError, match=r"The source detection for job \d+ is not complete yet"
    ):
        await client.source_list(result.job_id)

    ukssdc_emulator.users.ukssdc.add("frodo@mount.doom")
    frodo = UkssdcClient(session, "frodo@mount.doom", base_url=ukssdc_emulator.base_url)
    with pytest.raises(RejectedError) as exc:
        await frodo.status(result.job_id, ["lc"])
    assert exc.value.error == f"Job {result.job_id} is not owned by user frodo@mount.doom"
    with pytest.raises(RejectedError, match="Job 999 does not exist"):
        await client.status(999, ["lc"])


async def test_no_data_yet_then_data(client: UkssdcClient, ukssdc_emulator: RunningUkssdc) -> None:
    sky = ukssdc_emulator.sky
    target = sky.add_target("EP260101a", 120.0, 30.0)

    def request() -> XrtRequest:
        req = XrtRequest(USER)
        req.set_globals(name="EP260101a", targ=target.targ, RA=120.0, Dec=30.0,
                        centroid=True, posErr=1, useSXPS=False)  # fmt: skip
        req.add_product("EnhancedPos")
        req.add_product("LightCurve", binMeth="counts", pcCounts=20, wtCounts=30, dynamic=True)
        return req

    first = await client.submit(request())
    assert first.job_id is not None
    ukssdc_emulator.clock.advance(timedelta(hours=1))
    status = await client.status(first.job_id, ["enh", "lc"])
    assert status.complete
    assert status.no_data
    assert (await client.enhanced_position(first.job_id)).got_pos is False

    sky.add_observation(target.target_id, start=sky.clock.now() - timedelta(hours=2),
                        exposure_s=1500)  # fmt: skip
    second = await client.submit(request())
    assert second.job_id is not None
    ukssdc_emulator.clock.advance(timedelta(hours=1))
    status = await client.status(second.job_id, ["enh", "lc"])
    assert all(p.succeeded for p in status.products.values())
    pos = await client.enhanced_position(second.job_id)
    assert pos.got_pos
    assert pos.ra == pytest.approx(120.0, abs=0.01)


async def test_resolution_through_get_targs_and_copy(
    client: UkssdcClient, ukssdc_emulator: RunningUkssdc
) -> None:
    req = XrtRequest(USER)
    req.set_globals(name="GRB 200416A", getTargs=True, getCoords=True, getT0=True,
                    centroid=False, useSXPS=False)  # fmt: skip
    req.add_product("StandardPos")
    result = await client.submit(req)
    assert result.ok
    assert result.job_pars["targ"] == "00013267"
    assert float(result.job_pars["Tstart"]) > 5e8  # MET of the first observation
    assert req.get_globals("getTargs") is False

    copied_job, copy = await client.copy_old_job(result.job_id or 0)
    assert copied_job.url == result.url
    assert copy.products == ["psf"]
    assert copy.get_globals("targ") == "00013267"
    assert copy.get_globals("getCoords") is False
    again = await client.submit(copy)
    assert again.ok
    assert again.job_id != result.job_id

    unknown = XrtRequest(USER)
    unknown.set_globals(name="Nowhere X-1", getTargs=True, getCoords=True, centroid=False,
                        useSXPS=False)  # fmt: skip
    unknown.add_product("Image")
    refused = await client.submit(unknown)
    assert refused.submit_error == "Could not resolve the name `Nowhere X-1`. \n"


async def test_ambiguous_submit_is_reconciled_by_name(
    ukssdc_emulator: RunningUkssdc, session: aiohttp.ClientSession
) -> None:
    """A proxy forwards the submission to the emulator, then never answers: the job exists,
    the client cannot know. The job name (with the idempotency key) finds it again."""

    async def forward_then_hang(request: web.Request) -> web.Response:
        target = ukssdc_emulator.base_url + request.path.removeprefix("/user_objects")
        async with session.post(target, data=await request.read()) as resp:
            await resp.read()
        await asyncio.sleep(1.0)  # longer than the client's timeout below
        return web.Response(text="{}")

    app = web.Application()
    app.router.add_post("/user_objects/{tail:.*}", forward_then_hang)
    proxy = TestServer(app, host="127.0.0.1")
    await proxy.start_server()
    try:
        flaky = UkssdcClient(session, USER, base_url=str(proxy.make_url("/user_objects")),
                             timeout=0.3)  # fmt: skip
        with pytest.raises(AmbiguousError):
            await flaky.submit(smc_request())
    finally:
        await proxy.close()

    direct = UkssdcClient(session, USER, base_url=ukssdc_emulator.base_url)
    found = await direct.find_jobs(SMC_X3["name"])
    assert len(found) == 1
    job, request = await direct.copy_old_job(found[0].job_id)
    assert job.url.endswith(f"/USERPROD_{found[0].job_id}")
    assert request.products == ["lc", "spec", "psf", "enh", "xastrom", "image", "sourceDet"]
