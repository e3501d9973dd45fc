"""Contract: the real swifttools 4.0.5 ``XRTProductRequest`` against our emulator.

The client is redirected so: ``_baseURL`` on the instance, and the two
module functions with hard-coded URLs (listOldJobs, countActiveJobs) through a ``requests``
shim on swifttools' own module.
"""

from __future__ import annotations

import tarfile
import types
import warnings
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import swifttools.ukssdc.xrt_prods as ux
from swifttools.ukssdc.xrt_prods import prod_request

from autotoo.emulators.sky import angular_separation_deg
from tests.fixtures.ukssdc_emulator import RunningUkssdc
from tests.ukssdc.test_request import SEED_GLOBALS_REPORT, SEED_PRODUCTS_REPORT, seed_state

USER = "astronomer@example.org"
SMC_X3 = {"name": "SMC X-3", "targ": "00945521", "RA": 13.02343792, "Dec": -72.43450778}
SEED_SUBMIT_ERROR_START = "The request is not ready to submit:\n\n" + SEED_GLOBALS_REPORT

Factory = Callable[..., Any]


@pytest.fixture
def xrt(ukssdc_emulator: RunningUkssdc, monkeypatch: pytest.MonkeyPatch) -> Factory:
    """XRTProductRequest factory pointed at the emulator (and the module functions too)."""

    def post(url: str, **kw: Any) -> requests.Response:
        local = url.replace("https://www.swift.ac.uk/user_objects", ukssdc_emulator.base_url)
        return requests.post(local, timeout=30, **kw)

    shim = types.SimpleNamespace(post=post, get=requests.get)
    monkeypatch.setattr(prod_request, "requests", shim)
    # swifttools rewrites light-curve keys only on the first call per process (a module-level
    # "warned" dict): give every test a fresh process's view.
    monkeypatch.setattr(prod_request, "_localDepWarned", {})

    def make(user: str = USER, **kw: Any) -> Any:
        req = ux.XRTProductRequest(user, **kw)
        req._baseURL = ukssdc_emulator.base_url
        return req

    return make


def full_request(make: Factory, user: str = USER) -> Any:
    req = make(user)
    req.setGlobalPars(**SMC_X3, centroid=True, posErr=1, useSXPS=False)
    req.addLightCurve(binMeth="counts", pcCounts=20, wtCounts=30, dynamic=True)
    req.addSpectrum(hasRedshift=False)
    req.addStandardPos()
    req.addEnhancedPos()
    req.addAstromPos()
    req.addImage()
    req.addSourceDet(whichData="all")
    return req


@pytest.fixture
def quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # swifttools' deprecation chatter
        yield


def test_seed_walkthrough_end_to_end(
    xrt: Factory,
    ukssdc_emulator: RunningUkssdc,
    tmp_path: Path,
    quiet: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The seed's own request: not ready, nothing is sent.
    req = xrt("YOUR_EMAIL_HERE", silent=False)
    seed_state(req, ours=False)
    printed = capsys.readouterr().out.splitlines()
    for line in ("Successfully created a light curve", "Successfully created a spectrum",
                 "Also setting hasRedshift = False"):  # fmt: skip
        assert line in printed
    assert req.submit() is False
    assert req.submitError.startswith(SEED_SUBMIT_ERROR_START)
    assert req.submitError == SEED_SUBMIT_ERROR_START + SEED_PRODUCTS_REPORT
    assert req.statusCode == 3

    # "even if isValid() returns True ... those servers will reject it"
    req.setGlobalPars(**SMC_X3, centroid=True, posErr=1.5, useSXPS=False)
    assert req.isValid() == (True, "")
    assert req.submit() is False
    assert req.submitError == "The user `YOUR_EMAIL_HERE` is not recognised / validated \n"

    # A registered user: submitted, running, complete.
    req = full_request(xrt)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # jobPars must update the request without a warning
        assert req.submit() is True
    job_id = int(req.JobID)
    assert f"{ukssdc_emulator.base_url}/tprods/USERPROD_{job_id}" == req.URL
    assert req.getGlobalPars("getTargs") is False
    status = req.checkProductStatus()
    assert set(status) == {"LightCurve", "Spectrum", "StandardPos", "EnhancedPos", "AstromPos",
                           "Image", "SourceDet"}  # fmt: skip
    assert status["LightCurve"]["statusCode"] == 1
    assert status["LightCurve"]["progressText"] == "Your job is waiting in the queue.\n"
    assert req.complete is False

    ukssdc_emulator.clock.advance(timedelta(seconds=45))
    status = req.checkProductStatus()
    assert status["LightCurve"]["statusCode"] == 3
    assert status["LightCurve"]["statusText"] == "Running"
    assert (
        "** Building the light curve - ACTIVE -- processing observations**"
        in (status["LightCurve"]["progressText"])
    )
    assert "The job has been running for 00:00:15" in status["LightCurve"]["progressText"]
    assert status["AstromPos"]["statusCode"] == 5  # waiting for the standard position

    ukssdc_emulator.clock.advance(timedelta(minutes=10))
    assert req.complete is True
    assert req.statusCode == 2
    assert all(s["statusCode"] == 4 for s in req.checkProductStatus().values())

    truth = ukssdc_emulator.sky.get(945521)
    assert truth is not None
    for fetch, max_err in ((req.retrieveStandardPos, 6.0), (req.retrieveEnhancedPos, 3.0),
                           (req.retrieveAstromPos, 4.0)):  # fmt: skip
        pos = fetch(returnData=True)
        assert pos["GotPos"] is True
        err = float(pos["Err90"])
        assert 1.0 < err < max_err
        offset = angular_separation_deg(float(pos["RA"]), float(pos["Dec"]), truth.ra, truth.dec)
        assert offset * 3600 < 3 * err
    assert req.standardPos["FromSXPS"] is False

    lc = req.retrieveLightCurve(returnData=True)
    assert lc["Binning"] == "Counts"
    assert lc["TimeFormat"] == "MET"
    assert "PC" in lc
    assert list(lc["PC"].columns)[:6] == ["Time", "T_+ve", "T_-ve", "Rate", "Ratepos", "Rateneg"]
    assert (lc["PC"]["Rate"] > 0).all()
    assert lc["URLs"]["PC"].endswith("/lc/PC.qdp")

    spec = req.retrieveSpectralFits(returnData=True)
    assert spec["rnames"] == ["interval0"]
    assert 1.5 < spec["interval0"]["PC"]["gamma"] < 2.5
    assert spec["GalNH"] > 1e20

    sources = req.retrieveSourceList(returnData=True)
    assert list(sources) == ["Total"]
    assert sources["Total"][0]["sno"] == 1
    assert len(sources["Total"]) >= 2

    saved = req.downloadProducts(str(tmp_path / "dl"), format="tar.gz")
    assert set(saved) == set(status)
    with tarfile.open(saved["LightCurve"]) as tar:
        names = tar.getnames()
    assert f"USERPROD_{job_id}/lc/curve.qdp" in names
    assert f"USERPROD_{job_id}/lc/PCCURVE.qdp" in names
    with tarfile.open(saved["StandardPos"]) as tar:
        assert tar.getnames() == [f"USERPROD_{job_id}/psf/results.dat"]
    with pytest.raises(RuntimeError, match="as it exists and clobber=False"):
        req.downloadProducts(str(tmp_path / "dl"), format="tar.gz")
    zipped = req.downloadProducts(str(tmp_path / "zip"), what=["Image"], format="zip")
    assert Path(zipped["Image"]).stat().st_size > 0


def test_server_side_validation_messages(xrt: Factory) -> None:
    req = xrt()
    req.setGlobalPars(**SMC_X3, centroid=True, posErr=0.01, useSXPS=False)
    req.addSpectrum(hasRedshift=False, timeslice="user")  # rname1/gti1: only the server checks
    assert req.submit() is False
    assert req.submitError == (
        "There were problems with the parameters you supplied. \n"
        "The following parameters are needed, but were not supplied: \n"
        "* rname1\n * gti1\n "
        "The following parameters have invalid values: \n"
        "* posErr is 0.01, but must be between 1 and 6\n "
    )
    assert req.submitted is False


def test_cancel_semantics(xrt: Factory, ukssdc_emulator: RunningUkssdc) -> None:
    req = full_request(xrt)
    assert req.submit()
    ukssdc_emulator.clock.advance(timedelta(seconds=100))  # psf done (90 s), lc still running
    assert req.checkProductStatus(["StandardPos"])["StandardPos"]["statusCode"] == 4
    code, result = req.cancelProducts(["LightCurve", "StandardPos"])
    assert code == 1
    assert result == {
        "LightCurve": {"code": 0, "text": "Job cancelled OK"},
        "StandardPos": {"code": 1, "text": "Job could not be cancelled - has it already finished?"},
    }
    status = req.checkProductStatus(["LightCurve"])["LightCurve"]
    assert (status["statusCode"], status["statusText"]) == (-4, "Cancelled at your request")
    code, result = req.cancelProducts()
    assert result["LightCurve"]["code"] == 1
    assert result["Spectrum"]["code"] == 0
    ukssdc_emulator.clock.advance(timedelta(hours=1))
    assert req.complete is True
    assert req.checkProductStatus(["Spectrum"])["Spectrum"]["statusCode"] == -4
    with pytest.raises(RuntimeError, match="doesn't correspond to a running job"):
        req.cancelProducts()


def test_jobs_of_a_user(xrt: Factory, ukssdc_emulator: RunningUkssdc) -> None:
    first = full_request(xrt)
    assert first.submit()
    second = xrt()
    second.setGlobalPars(name="Crab", getTargs=True, getCoords=True, centroid=False, useSXPS=False)
    second.addImage()
    assert second.submit()
    assert second.getGlobalPars("targ") == "00030694"
    assert second.getGlobalPars("RA") == pytest.approx(83.63308, abs=1e-4)
    assert second.getGlobalPars("getCoords") is False

    assert first.countActiveJobs() == 2
    jobs = ux.listOldJobs(USER)
    assert [j["JobID"] for j in jobs] == [int(second.JobID), int(first.JobID)]
    assert jobs[0]["Name"] == "Crab"
    assert jobs[0]["Image"] is True
    assert jobs[0]["LightCurve"] is False
    assert jobs[1]["AstromPos"] is True
    ukssdc_emulator.clock.advance(timedelta(hours=1))
    assert ux.countActiveJobs(USER) == 0

    copy = xrt()
    copy.copyOldJob(int(first.JobID))
    assert copy.productList == first.productList
    assert copy.getLightCurvePars("pcCounts") == 20
    assert copy.getGlobalPars("targ") == "00945521"
    became = xrt()
    became.copyOldJob(int(first.JobID), becomeThis=True)
    assert became.complete is True

    stranger = xrt("someone@example.org")
    ukssdc_emulator.users.ukssdc.add("someone@example.org")
    with pytest.raises(RuntimeError) as exc:
        stranger.copyOldJob(int(first.JobID))
    assert str(exc.value) == f"Job {first.JobID} is not owned by user someone@example.org \n"


def test_no_data_ends_in_no_product(xrt: Factory, ukssdc_emulator: RunningUkssdc) -> None:
    new = ukssdc_emulator.sky.add_target("AT 2026abc", 150.0, 2.0)
    req = xrt()
    req.setGlobalPars(name="AT 2026abc", targ=new.targ, RA=150.0, Dec=2.0, centroid=False,
                      useSXPS=False)  # fmt: skip
    req.addStandardPos()
    req.addLightCurve(binMeth="obsid")
    assert req.submit()
    ukssdc_emulator.clock.advance(timedelta(hours=1))
    assert req.complete is True  # complete is not success
    status = req.checkProductStatus()
    assert status["StandardPos"]["statusCode"] == -3
    assert status["StandardPos"]["statusText"] == "No product could be built"
    pos = req.retrieveStandardPos(returnData=True)
    assert pos == {"GotPos": False, "Reason": "No position could be determined."}
    lc = req.retrieveLightCurve(returnData=True)
    assert lc["ERROR"] is True
    assert "No light curve was produced" in lc["Reason"]


def test_new_layouts_without_deprecation(xrt: Factory, ukssdc_emulator: RunningUkssdc) -> None:
    req = xrt(useDeprecate=False)
    req.setGlobalPars(name="GRB 200416A", targ="00013267", RA=335.6928, Dec=-2.9097,
                      centroid=True, posErr=1, useSXPS=False)  # fmt: skip
    req.addLightCurve(binMeth="time", timeFormat="m")
    req.addSpectrum(redshift=0.5, models=["powerlaw", "blackbody"])
    assert req.submit()
    ukssdc_emulator.clock.advance(timedelta(hours=1))
    assert req.complete
    lc = req.retrieveLightCurve(nosys="both", incbad="both", returnData=True)
    assert lc["TimeFormat"] == "MJD"
    assert "PC_incbad" in lc["Datasets"]
    assert list(lc["PC"].columns)[:3] == ["Time", "TimePos", "TimeNeg"]
    rates = lc["PC"]["Rate"].tolist()
    assert rates[0] > rates[-1]  # a GRB afterglow fades
    spec = req.retrieveSpectralFits(returnData=True)
    fit = spec["interval0"]["PC"]
    assert fit["Models"] == ["PowerLaw", "BlackBody"]
    assert fit["PowerLaw"]["Redshift_abs"] == 0.5
    assert "GalacticNH" in fit["PowerLaw"]


def test_legacy_astrometry_path_and_unknown_urls(
    xrt: Factory, ukssdc_emulator: RunningUkssdc
) -> None:
    req = full_request(xrt)
    assert req.submit()
    ukssdc_emulator.clock.advance(timedelta(hours=1))
    body = {"UserID": USER, "JobID": req.JobID, "api_name": "xrt_prods", "api_version": "1.12"}
    new = requests.post(f"{ukssdc_emulator.base_url}/tprods/getAstromPos.php", json=body, timeout=9)
    old = requests.post(
        f"{ukssdc_emulator.base_url}/tprods/getXastromPos.php", data=str(body).replace("'", '"'),
        timeout=9,
    )  # fmt: skip
    assert new.headers["Content-Type"] == "text/html; charset=UTF-8"
    assert new.json() == old.json()
    assert new.json()["GotPos"] == 1
    assert new.json()["APIVersion"] == "1.12"
    missing = requests.post(f"{ukssdc_emulator.base_url}/nothing.php", json=body, timeout=9)
    assert missing.status_code == 404
    assert "<html>" in missing.text
    nofile = requests.get(f"{req.URL}/lc.rar", timeout=9)
    assert nofile.status_code == 404


def test_wt_data_sxps_positions_and_sliced_spectra(
    xrt: Factory, ukssdc_emulator: RunningUkssdc, tmp_path: Path, quiet: None
) -> None:
    sky = ukssdc_emulator.sky
    sky.add_observation(945521, start=sky.clock.now() - timedelta(days=1), exposure_s=1000,
                        mode="WT")  # fmt: skip
    req = xrt()
    req.setGlobalPars(**SMC_X3, centroid=True, posErr=1, useSXPS=True)
    req.addLightCurve(binMeth="snapshot")
    req.addSpectrum(hasRedshift=False, timeslice="obsid")
    req.addStandardPos()
    assert req.submit()
    ukssdc_emulator.clock.advance(timedelta(hours=1))
    assert req.complete

    pos = req.retrieveStandardPos(returnData=True)
    assert pos["FromSXPS"] is True
    assert pos["WhichSXPS"] == "LSXPS"
    saved = req.downloadProducts(str(tmp_path), what=["StandardPos"], format="tar")
    with tarfile.open(saved["StandardPos"]) as tar:
        assert tar.getnames() == [f"USERPROD_{req.JobID}/psf/INSXPS"]

    lc = req.retrieveLightCurve(nosys="yes", returnData=True)
    assert {"WT", "PC"} <= set(lc)  # "WT_nosys" cut to "WT" by the deprecated layout
    assert lc["Binning"] == "Snapshot"
    assert lc["PC"]["ObsID"].tolist()[:2] == ["00945521001", "00945521001"]

    spec = req.retrieveSpectralFits(returnData=True)
    assert spec["rnames"] == [f"Obs_00945521{n:03d}" for n in range(1, 5)]
    last = spec["Obs_00945521004"]
    assert last["Modes"] == ["WT"]
    assert last["HaveWT"] == 1
    assert float(last["stop"]) > float(last["start"])
