"""Emulator rules that the contract tests do not reach: server-side validation texts, the
queue and runtime limits, resolution by position, and odd requests."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from autotoo.emulators.clock import SimClock
from autotoo.emulators.sky import Sky
from autotoo.emulators.ukssdc import PREFIX, Timings, create_app
from autotoo.emulators.users import Users
from autotoo.ukssdc.client import UkssdcClient
from autotoo.xrtrequest.request import XrtRequest

USER = "astronomer@example.org"
API = {"api_name": "xrt_prods", "api_version": "1.12", "UserID": USER}


class Emu:
    def __init__(self, server: TestServer, sky: Sky, session: aiohttp.ClientSession) -> None:
        self.base = str(server.make_url(PREFIX))
        self.sky = sky
        self.session = session
        self.client = UkssdcClient(session, USER, base_url=self.base)

    async def post(self, path: str, body: dict[str, Any] | str) -> dict[str, Any]:
        data = body if isinstance(body, str) else json.dumps({**API, **body})
        async with self.session.post(f"{self.base}/{path}", data=data) as resp:
            assert resp.status == 200
            reply: dict[str, Any] = json.loads(await resp.text())
        assert reply["APIVersion"] == "1.12"
        return reply


@pytest.fixture
async def emu() -> AsyncIterator[Emu]:
    sky = Sky(SimClock(speed=1e-9))
    app = create_app(sky=sky, users=Users(), timings=Timings(max_runtime=200.0), queue_limit=2)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    async with aiohttp.ClientSession() as session:
        yield Emu(server, sky, session)
    await server.close()


def image_job(**globals_: Any) -> XrtRequest:
    req = XrtRequest(USER)
    req.set_globals(**{"name": "Crab", "targ": "00030694", "RA": 83.63, "Dec": 22.01,
                       "centroid": False, "useSXPS": False, **globals_})  # fmt: skip
    req.add_product("Image")
    return req


async def test_invalid_values_are_listed(emu: Emu) -> None:
    reply = await emu.post(
        "run_userobject.php",
        {"name": "x", "targ": "30694,abc", "RA": 400, "Dec": "north", "cent": 0, "lc": 1,
         "binMeth": "weekly", "minen": 2, "maxen": 1, "spec": 1, "specz": 1, "zval": 1,
         "timeslice": "user", "rname1": "early one", "gti1": "0-100", "models": ["pl"]},
    )  # fmt: skip
    assert reply["OK"] == 0
    assert reply["ERROR"] == "There were problems with the parameters you supplied."
    assert reply["listErr"] == [
        {
            "label": "The following parameters have invalid values:",
            "list": [
                "targ is 30694,abc, but must be a list of targetIDs",
                "RA is 400, but must be between 0 and 360",
                "Dec is north, but must be a number",
                "binMeth is weekly, but must be one of: counts, time, snapshot, obsid",
                "rname1 is early one, but must be alphanumeric",
                "models is pl, but must be from: powerlaw, apec, blackbody",
                "minen is 2, but must be less than maxen",
            ],
        }
    ]


async def test_energy_limits_and_value_formats_are_refused(emu: Emu) -> None:
    """The seed's limits (softLo >= minEnergy, hardHi <= maxEnergy, the defaults when unset)
    and formats (useObs: obsIDs or start-stop values; gti: start-stop values; energies:
    lo-hi bands). Nothing is built from a request the server cannot read."""
    base = {"name": "x", "targ": "00030694", "RA": 83.63, "Dec": 22.01, "cent": 0}
    reply = await emu.post(
        "run_userobject.php",
        {**base, "lc": 1, "binMeth": "obsid", "soft1": 0.2, "hard2": 12, "lcobs": "user",
         "uselcobs": "bananas", "spec": 1, "specz": 0, "timeslice": "user", "rname1": "early",
         "gti1": "banana", "image": 1, "imen": "banana-10"},
    )  # fmt: skip
    assert reply["OK"] == 0
    assert reply["listErr"] == [
        {
            "label": "The following parameters have invalid values:",
            "list": [
                (
                    "uselcobs is bananas, but must be a list of Swift obsIDs, or a "
                    "comma-separated list of start-stop values"
                ),
                "gti1 is banana, but must be a comma-separated list of start-stop values",
                "imen is banana-10, but must be a comma-separated list of energy bands",
                "soft1 is 0.2, but must be ≥minen (0.3)",
                "hard2 is 12, but must be ≤maxen (10)",
            ],
        }
    ]
    reply = await emu.post(
        "run_userobject.php",
        {**base, "lc": 1, "binMeth": "obsid", "minen": 0.5, "soft1": 0.4, "maxen": 8,
         "soft2": 1.5, "hard2": 8},
    )  # fmt: skip
    assert reply["listErr"][0]["list"] == ["soft1 is 0.4, but must be ≥minen (0.5)"]
    good = {
        "uselcobs": "00030694001,00030694002",
        "usespecobs": "2021-03-20 12:00:00-2021-03-21T00:00:00,-100-200.5",
        "gti1": "0-100,200-300",
        "imen": "0.3-10,0.3-1.5,1.51-10",
    }
    reply = await emu.post(
        "run_userobject.php",
        {**base, "lc": 1, "binMeth": "obsid", "lcobs": "user", "uselcobs": good["uselcobs"],
         "spec": 1, "specz": 0, "specobs": "user", "usespecobs": good["usespecobs"],
         "timeslice": "user", "rname1": "early", "gti1": good["gti1"], "image": 1,
         "imen": good["imen"]},
    )  # fmt: skip
    assert reply["OK"] == 1, reply


async def test_get_coords_resolves_catalogue_names(emu: Emu) -> None:
    """``getCoords`` answers from the same name catalogue as the Swift resolver."""
    body = {"targ": "00030694", "cent": 0, "getCoords": 1, "image": 1}
    reply = await emu.post("run_userobject.php", {**body, "name": "NGC 4151"})
    assert reply["OK"] == 1, reply
    assert (reply["jobPars"]["RA"], reply["jobPars"]["Dec"]) == ("182.63575", "39.40586")
    reply = await emu.post("run_userobject.php", {**body, "name": "Not A Real Source 12345"})
    assert reply["OK"] == 0
    assert reply["ERROR"] == "Could not resolve the name `Not A Real Source 12345`."


async def test_source_detection_alone_and_resolution_by_position(emu: Emu) -> None:
    reply = await emu.post(
        "run_userobject.php",
        {"name": "my field", "getTargs": 1, "sourceDet": 1, "detobs": "all"},
    )
    assert reply["OK"] == 0
    assert reply["ERROR"].startswith("No targetIDs could be found")
    reply = await emu.post(
        "run_userobject.php",
        {"name": "my field", "getTargs": 1, "RA": 299.6, "Dec": 35.2, "sourceDet": 1,
         "detobs": "all"},
    )  # fmt: skip
    assert reply["OK"] == 1
    assert reply["jobPars"]["targ"] == "00030354"  # Cyg X-1's field, found by position
    assert reply["JobID"] == str(int(reply["JobID"]))


async def test_queue_limit_and_runtime_limit(emu: Emu) -> None:
    first = await emu.client.submit(image_job())
    req = image_job()
    req.add_product("SourceDet", whichData="all")  # 300 s of work, over the 200 s limit
    second = await emu.client.submit(req)
    assert first.ok
    assert second.ok
    third = await emu.client.submit(image_job())
    assert third.submit_error == (
        "You already have 2 jobs in the queue; please wait for some of them to finish "
        "before submitting more. \n"
    )
    emu.sky.clock.advance(timedelta(hours=1))
    assert second.job_id is not None
    status = await emu.client.status(second.job_id, ["image", "sourceDet", "lc"])
    assert status.products["image"].code == 4
    assert status.products["sourceDet"].code == -3
    assert status.products["lc"].code == -10  # not part of the job: the server says null
    assert (await emu.client.submit(image_job())).ok


async def test_odd_requests(emu: Emu) -> None:
    reply = await emu.post("checkProductStatus.php", "{not json")
    assert reply == {"OK": 0, "ERROR": "Could not parse the JSON you supplied.",
                     "APIVersion": "1.12"}  # fmt: skip
    reply = await emu.post("checkProductStatus.php", {"UserID": "NO-ONE", "JobID": 1})
    assert reply["ERROR"] == "The user `NO-ONE` is not recognised / validated"
    reply = await emu.post("canceljob.php", {"JobID": "abc", "what": "lc"})
    assert reply["ERROR"] == "`abc` is not a valid job ID"
    submitted = await emu.client.submit(image_job(getT0=True))
    reply = await emu.post("checkProductStatus.php", {"JobID": str(submitted.job_id),
                                                        "what": "image,lc"})  # fmt: skip
    assert reply["image"]["progress"] == {"GotProgress": 0}  # not asked for in whatProg
    assert reply["lc"] == {"statusCode": None, "statusText": "Unknown status",
                           "progress": {"GotProgress": 0}}  # fmt: skip
    reply = await emu.post("tprods/getPSFPos.php", {"JobID": submitted.job_id})
    assert reply["ERROR"] == f"Job {submitted.job_id} did not request a standard position."
    async with emu.session.get(f"{submitted.url}/image.zip") as resp:
        assert resp.status == 404  # not built yet


async def test_both_max_gap_spellings_and_since_t0_are_read(emu: Emu) -> None:
    body = {"name": "Crab", "targ": "30694", "RA": 83.63, "Dec": 22.01, "cent": 0, "lc": 1,
            "binMeth": "counts", "pccounts": 20, "wtcounts": 30, "dynamic": 1,
            "pcmaxGap": 1000000.0, "wtmaxgap": 5, "SinceT0": 1}  # fmt: skip
    reply = await emu.post("run_userobject.php", body)
    pars = reply["jobPars"]
    assert (pars["pcmaxgap"], pars["wtmaxgap"]) == ("1000000.0", "5")
    assert "pcmaxGap" not in pars
    assert pars["sinceT0"] == 1
    assert "SinceT0" not in pars
    assert pars["targ"] == "00030694"
    assert (pars["cent"], pars["dynamic"], pars["pccounts"]) == (0, 1, "20")
