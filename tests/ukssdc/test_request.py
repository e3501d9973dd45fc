"""The request builder against the seed ("How to request products") and against swifttools.

Every message the seed quotes is asserted verbatim, for our builder and for the real
swifttools 4.0.5 ``XRTProductRequest`` built the same way; the submit JSON is compared with
swifttools' ``getJSONDict()`` field by field.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import swifttools.ukssdc.xrt_prods as ux

from autotoo.xrtrequest.check import validate
from autotoo.xrtrequest.errors import ParameterError, ParameterTypeError, ProductError
from autotoo.xrtrequest.params import GLOBALS, PRODUCTS
from autotoo.xrtrequest.request import SubmittedJob, XrtRequest

SEED_GLOBALS_REPORT = """The following problems were found:
* Global parameter `centroid` is not set.
* Global parameter `name` is not set.
* Global parameter `useSXPS` is not set.
* Global parameter `RA` is not set, and nor is the alternative: `getCoords`.
* Global parameter `Dec` is not set, and nor is the alternative: `getCoords`.
* Global parameter `targ` is not set, and nor is the alternative: `getTargs`.
"""
SEED_PRODUCTS_REPORT = """
light curve problems:
* Global parameter `centroid` is not set.

spectrum problems:
* Global parameter `centroid` is not set.
"""


def seed_state(req: Any, *, ours: bool) -> None:
    """In [8]-[14] of the seed: a counts light curve and a spectrum, no globals."""
    if ours:
        req.add_product("LightCurve", binMeth="counts")
        req.set_product_pars("LightCurve", pcCounts=20, wtCounts=30, dynamic=True)
        req.add_product("Spectrum", redshift=1.23)
        req.remove_product_par("Spectrum", "redshift")
    else:
        req.addLightCurve(binMeth="counts")
        req.setLightCurvePars(pcCounts=20, wtCounts=30, dynamic=True)
        req.addSpectrum(redshift=1.23)
        req.removeSpectrumPar("redshift")


def test_seed_global_parameter_walkthrough() -> None:
    req = XrtRequest("YOUR_EMAIL_HERE")
    req.set_globals(centroid=True, posErr=1.5)
    assert req.get_globals("centroid") is True
    assert req.get_globals("detMeth") is None
    assert req.get_globals() == {"centroid": True, "posErr": 1.5}
    unset = req.get_globals(show_unset=True)
    assert list(unset)[:4] == ["name", "targ", "T0", "SinceT0"]
    assert unset["name"] is None
    assert unset["centroid"] is True
    reference = ux.XRTProductRequest("YOUR_EMAIL_HERE")
    reference.setGlobalPars(centroid=True, posErr=1.5)
    assert unset == reference.getGlobalPars(showUnset=True)


def test_seed_product_walkthrough_and_redshift_trigger() -> None:
    req = XrtRequest("YOUR_EMAIL_HERE")
    req.add_product("LightCurve", binMeth="counts")
    assert req.notes == ["Successfully created a light curve"]
    with pytest.raises(ProductError) as exc:
        req.add_product("LightCurve")
    assert str(exc.value) == (
        "Can't add a light curve as you already have one."
        "Remove it or set clobber=True to remove it."
    )
    req.set_product_pars("LightCurve", pcCounts=20, wtCounts=30, dynamic=True)
    assert req.get_product_pars("LightCurve", "binMeth") == "counts"
    assert req.get_product_pars("LightCurve")["binMeth"] == "counts"
    unset = req.get_product_pars("LightCurve", show_unset=True)
    assert unset["softLo"] is None
    assert unset["pcCounts"] == 20
    req.add_product("LightCurve", clobber=True)
    assert req.get_product_pars("LightCurve") == {}

    req.notes.clear()
    req.add_product("Spectrum", redshift=1.23)
    assert req.notes[:2] == ["Successfully created a spectrum", "Also setting hasRedshift = True"]
    assert req.get_product_pars("Spectrum", "hasRedshift") is True
    req.notes.clear()
    req.remove_product_par("Spectrum", "redshift")
    assert req.notes == ["Also setting hasRedshift = False"]
    assert req.get_product_pars("Spectrum", "hasRedshift") is False
    assert req.get_product_pars("Spectrum", "redshift") is None
    what = "Spectrum"  # the product name in a variable, as the seed's "little aside" shows
    req.remove_product(what)
    assert req.products == ["lc"]


@pytest.mark.parametrize("ours", [True, False])
def test_seed_is_valid_reports_verbatim(ours: bool) -> None:
    req: Any = XrtRequest("YOUR_EMAIL_HERE") if ours else ux.XRTProductRequest("YOUR_EMAIL_HERE")
    seed_state(req, ours=ours)
    check = req.is_valid if ours else req.isValid
    ok, text = check(["LightCurve", "Spectrum"])
    assert ok is False
    assert text == "The following problems were found:\n" + SEED_PRODUCTS_REPORT
    ok, text = check()
    assert ok is False
    assert text == SEED_GLOBALS_REPORT + SEED_PRODUCTS_REPORT


def test_the_spec_s_verbatim_report_with_missing_counts_parameters() -> None:
    req = XrtRequest("x")
    req.add_product("LightCurve", binMeth="Counts")  # lower-cased like the reference client
    req.add_product("Spectrum")
    _, text = req.is_valid()
    assert text.endswith(
        "light curve problems:\n"
        "* Global parameter `centroid` is not set.\n"
        "* The light curve parameter `pcCounts` is not set.\n"
        "* The light curve parameter `wtCounts` is not set.\n"
        "* The light curve parameter `dynamic` is not set.\n"
        "\nspectrum problems:\n"
        "* Global parameter `centroid` is not set.\n"
        "* The spectrum parameter `hasRedshift` is not set.\n"
    )


def test_empty_request_and_unrequested_product() -> None:
    req = XrtRequest("x")
    assert req.is_valid()[1].startswith(
        "The following problems were found:\n* No products have been requested.\n"
    )
    assert req.is_valid(["Image"])[1] == (
        "The following problems were found:\n\nimage problems:\n* You have not requested a image."
    )


@pytest.mark.parametrize(
    ("product", "pars", "missing"),
    [
        ("LightCurve", {"binMeth": "counts"}, ["pcCounts", "wtCounts", "dynamic"]),
        ("LightCurve", {"binMeth": "time", "whichData": "user"}, ["useObs"]),
        ("Spectrum", {"hasRedshift": True}, ["redshift"]),
        ("Spectrum", {"hasRedshift": False, "whichData": "user"}, ["useObs"]),
        ("Image", {"whichData": "user"}, ["useObs"]),
        ("SourceDet", {}, ["whichData"]),
        ("SourceDet", {"whichData": "user"}, ["useObs"]),
    ],
)
def test_conditional_mandatories(product: str, pars: dict[str, Any], missing: list[str]) -> None:
    req = XrtRequest("x")
    req.set_globals(name="n", targ="1", RA=1.0, Dec=2.0, centroid=False, useSXPS=False)
    req.add_product(product, **pars)
    ok, text = req.is_valid()
    assert not ok
    description = next(p.description for p in PRODUCTS if p.long == product)
    for par in missing:
        assert f"* The {description} parameter `{par}` is not set.\n" in text


def test_global_dependencies_and_alternatives() -> None:
    req = XrtRequest("x")
    req.add_product("StandardPos", whichData="hours")
    req.set_globals(name="n", getTargs=True, getCoords=False, centroid=True, useSXPS=True)
    req.remove_product_par("StandardPos", "incHours")
    _, text = req.is_valid()
    # getCoords=False still satisfies RA/Dec: the check is "key present".
    assert text == (
        "The following problems were found:\n"
        "* Global parameter `posErr` is not set.\n"
        "* Global parameter `posobstime` is not set.\n"
    )


def test_source_detection_alone_needs_no_position_globals() -> None:
    req = XrtRequest("x")
    req.set_globals(name="field", targ="00945521")
    req.add_product("SourceDet", whichData="all")
    assert req.is_valid() == (True, "")
    req.add_product("Image")
    assert "`RA`" in req.is_valid()[1]


def test_position_parameters_are_shared_globals() -> None:
    req = XrtRequest("x")
    req.add_product("StandardPos")
    req.add_product("EnhancedPos", useObs="00945521001")
    assert req.get_globals("posobs") == "user"
    assert req.get_product_pars("StandardPos", "whichData") == "user"
    assert req.get_product_pars("StandardPos")["useObs"] == "00945521001"
    req.add_product("AstromPos", whichData="all", useAllObs=True, centMeth="iterative")
    assert req.get_globals("useposobs") is None  # posobs=all deletes useposobs
    assert req.get_globals("detMeth") == "iterative"  # position centMeth is the detection method
    assert "posobs" not in req.get_globals()  # shared globals hidden unless omit_shared=False
    assert req.get_globals(omit_shared=False)["posobs"] == "all"


def test_triggers_on_globals_and_products() -> None:
    req = XrtRequest("x")
    req.set_globals(getTargs=True, getT0=True)
    req.set_globals(targ="00013267", T0=100.0)
    assert req.get_globals("getTargs") is False
    assert req.get_globals("getT0") is False
    req.add_product("Spectrum", hasRedshift=True)
    assert req.get_product_pars("Spectrum", "galactic") is True
    req.set_product_pars("Spectrum", doNotFit=True)
    assert req.get_product_pars("Spectrum", "hasRedshift") is False
    req.add_product("LightCurve", useObs="00013267001")
    assert req.get_product_pars("LightCurve", "whichData") == "user"
    req.set_product_pars("LightCurve", whichData="all")
    assert req.get_product_pars("LightCurve", "useObs") is None


def test_setting_errors_use_the_reference_texts() -> None:
    req = XrtRequest("x")
    with pytest.raises(ParameterError, match=r"^bogus is not a recognised global parameter$"):
        req.set_globals(bogus=1)
    with pytest.raises(ParameterTypeError) as type_exc:
        req.set_globals(RA=10)
    assert str(type_exc.value) == (
        "RA should be a (<class 'float'>,) but you supplied a <class 'int'>."
    )
    with pytest.raises(ParameterError) as value_exc:
        req.set_globals(centMeth="Simple")  # globals are case-sensitive
    assert str(value_exc.value) == (
        "'Simple' is not a valid value for centMeth. Options are: simple,iterative."
    )
    req.add_product("LightCurve")
    with pytest.raises(ParameterError, match=r"^pcmaxGapX is not a recognised lc parameter$"):
        req.set_product_pars("LightCurve", pcmaxGapX=1.0)
    with pytest.raises(ParameterError, match="is not a valid value for binMeth"):
        req.set_product_pars("LightCurve", binMeth="too")
    with pytest.raises(ProductError, match="as you don't have one"):
        req.set_product_pars("Image", energies="0.3-10")
    with pytest.raises(ParameterError, match=r"^The product type Movie does not exist\.$"):
        req.add_product("Movie")


def test_every_seed_parameter_is_in_the_table() -> None:
    seed_globals = [
        "name",
        "targ",
        "T0",
        "SinceT0",
        "RA",
        "Dec",
        "centroid",
        "centMeth",
        "maxCentTries",
        "posErr",
        "sss",
        "useSXPS",
        "wtPupRate",
        "pcPupRate",
        "notify",
        "getTargs",
        "getT0",
        "getCoords",
    ]
    assert set(seed_globals) <= {p.name for p in GLOBALS}
    seed_products = {
        "LightCurve": "binMeth minEnergy maxEnergy softLo softHi hardLo hardHi minSig grades "
        "allowUL allowBayes bayesCounts bayesSNR timeFormat whichData useObs srcrad pcCounts "
        "wtCounts dynamic rateFact binFact pcBinTime wtBinTime minCounts minSNR pcMaxGap "
        "wtMaxGap matchHR pcHRBinTime wtHRBinTime minFracExp",
        "Spectrum": "hasRedshift redshift whichData specStem useObs incHours timeslice grades "
        "doNotFit galactic models deltaFitStat srcrad rname1 gti1 rname2 gti2 rname3 gti3 "
        "rname4 gti4",
        "AstromPos": "useAllObs",
        "Image": "energies whichData useObs",
        "SourceDet": "whichData useObs whichBands fitStrayLight",
    }
    for long, names in seed_products.items():
        table = {p.name for prod in PRODUCTS if prod.long == long for p in prod.pars}
        assert set(names.split()) <= table, long
    positions = {"posRadius", "whichData", "useObs", "incHours"}
    for prod in PRODUCTS:
        if prod.short in ("psf", "enh", "xastrom"):
            assert positions <= set(prod.use_globals)


def _full_pair(user: str) -> tuple[XrtRequest, Any]:
    ours, theirs = XrtRequest(user), ux.XRTProductRequest(user)
    globals_: dict[str, Any] = {
        "name": "GRB 200416A",
        "targ": "00013267",
        "T0": 608713587.0,
        "SinceT0": True,
        "RA": 335.6928,
        "Dec": -2.9097,
        "centroid": True,
        "centMeth": "iterative",
        "maxCentTries": 5,
        "posErr": 1,
        "sss": False,
        "useSXPS": False,
        "wtPupRate": 100,
        "pcPupRate": 0.5,
        "notify": True,
        "posRadius": 15,
    }
    products: dict[str, dict[str, Any]] = {
        "LightCurve": {"binMeth": "counts", "pcCounts": 20, "wtCounts": 30, "dynamic": True,
                       "minEnergy": 0.5, "allowBayes": "pc", "timeFormat": "m", "srcrad": 30},
        "Spectrum": {"redshift": 2.1, "timeslice": "user", "rname1": "early", "gti1": "0-1000",
                     "models": ("powerlaw", "apec"), "grades": "0", "deltaFitStat": 1.0},
        "StandardPos": {"whichData": "user", "useObs": "00013267001"},
        "EnhancedPos": {},
        "AstromPos": {"useAllObs": True},
        "Image": {"energies": "0.3-10", "whichData": "all"},
        "SourceDet": {"whichData": "user", "useObs": "00013267001", "whichBands": "all"},
    }  # fmt: skip
    ours.set_globals(**globals_)
    theirs.setGlobalPars(**globals_)
    for name, pars in products.items():
        ours.add_product(name, **pars)
        theirs.addProduct(name, **pars)
    return ours, theirs


def test_submit_json_equals_swifttools_field_by_field() -> None:
    ours, theirs = _full_pair("astronomer@example.org")
    mine = ours.to_json()
    reference = json.loads(theirs.getJSON())
    assert list(mine) == list(reference)  # same keys in the same order
    for key, value in reference.items():
        assert mine[key] == value, key
    assert mine["api_name"] == "xrt_prods"
    assert mine["api_version"] == "1.12"
    assert mine["getTargs"] == 0  # set by the targ trigger, sent like the reference client


def test_all_pars_and_round_trip_match_swifttools() -> None:
    ours, theirs = _full_pair("astronomer@example.org")
    assert json.loads(json.dumps(ours.all_pars(), default=list)) == json.loads(
        json.dumps(theirs.getAllPars(), default=list)
    )
    copy = XrtRequest.from_json("astronomer@example.org", ours.to_json())
    assert copy.to_json() == ours.to_json()


def test_copy_from_copies_values_not_objects() -> None:
    ours, _ = _full_pair("a@example.org")
    other = XrtRequest("a@example.org")
    other.copy_from(ours, ["LightCurve"])
    assert other.get_product_pars("lc") == ours.get_product_pars("lc")
    other.set_product_pars("lc", pcCounts=99)
    assert ours.get_product_pars("lc", "pcCounts") == 20
    full = XrtRequest("a@example.org")
    full.copy_from(ours)
    assert full.to_json() == ours.to_json()


def test_server_job_pars_update_the_request() -> None:
    req = XrtRequest("a@example.org")
    req.set_globals(name="SMC X-3", getTargs=True, getCoords=True, centroid=False, useSXPS=False)
    req.add_product("LightCurve", binMeth="obsid")
    job_pars = {"targ": "00945521", "RA": "13.02344", "Dec": "-72.43451", "cent": 0,
                "lcobs": "all", "mincmin": "15", "sinceT0": 0, "UserID": "a@example.org",
                "outdir": "USERPROD_1", "getTargs": 0}  # fmt: skip
    req.mark_submitted(SubmittedJob(1, "http://x/USERPROD_1", job_pars))
    assert req.update_warning is None
    assert req.get_globals("RA") == pytest.approx(13.02344)
    assert req.get_globals("targ") == "00945521"
    assert req.get_globals("getTargs") is False
    assert req.get_globals("getCoords") is None
    assert req.get_globals("SinceT0") is False
    assert req.get_product_pars("lc", "minCounts") == 15
    with pytest.raises(ProductError):
        req.add_product("Image")

    bad = XrtRequest("a@example.org")
    bad.add_product("LightCurve", binMeth="obsid")
    bad.mark_submitted(SubmittedJob(2, "u", {"lcobs": 0}))  # a documented old encoding
    assert bad.update_warning == (
        "The job was submitted OK, but an error occured updating the parameters."
    )


def test_energy_limits_and_value_formats_are_checked_locally() -> None:
    """The seed's limits and formats, checked before anything is sent (swifttools leaves them
    to the server); every problem is listed."""
    req = XrtRequest("x")
    req.set_globals(name="x", targ="00030694", RA=83.63, Dec=22.01, centroid=False,
                    useSXPS=False, useposobs="V404 Cyg")  # fmt: skip
    req.add_product("LightCurve", binMeth="obsid", softLo=0.2, hardHi=12, useObs="bananas")
    req.add_product("Spectrum", hasRedshift=False, timeslice="user", rname1="a", gti1="banana")
    req.add_product("Image", energies="banana-10")
    req.add_product("StandardPos")
    ok, report = req.is_valid()
    assert not ok
    use_obs = "a list of Swift obsIDs, or a comma-separated list of start-stop values"
    assert report == (
        "The following problems were found:\n"
        f"* Global parameter `useposobs` is V404 Cyg, but must be {use_obs}.\n"
        "\nlight curve problems:\n"
        f"* The light curve parameter `useObs` is bananas, but must be {use_obs}.\n"
        "* The light curve parameter `softLo` is 0.2, but must be ≥minEnergy (0.3).\n"
        "* The light curve parameter `hardHi` is 12, but must be ≤maxEnergy (10).\n"
        "\nspectrum problems:\n"
        "* The spectrum parameter `gti1` is banana, but must be a comma-separated list of "
        "start-stop values.\n"
        "\nimage problems:\n"
        "* The image parameter `energies` is banana-10, but must be a comma-separated list of "
        "energy bands, each lo-hi in keV within 0.3-10.\n"
    )
    assert validate(
        {"centroid": False, "useSXPS": False},
        {"LightCurve": {"binMeth": "obsid", "minEnergy": 0.5, "softLo": 0.4}},
        runtime_globals=("name", "targ", "RA", "Dec"),
    ) == ["light curve: The light curve parameter `softLo` is 0.4, but must be ≥minEnergy (0.5)."]

    fine = XrtRequest("x")
    fine.set_globals(name="x", targ="00030694", RA=83.63, Dec=22.01, centroid=False,
                     useSXPS=False)  # fmt: skip
    fine.add_product("LightCurve", binMeth="obsid", minEnergy=0.5, softLo=0.5, hardHi=10,
                     useObs="00030694001, 00030694002")  # fmt: skip
    fine.add_product("Spectrum", hasRedshift=False, timeslice="user", rname1="a",
                     gti1="0-100,2021-03-20 12:00:00-2021-03-21T00:00:00,-50-10.5")  # fmt: skip
    fine.add_product("Image", energies="0.3-10,0.3-1.5,1.51-10")
    assert fine.is_valid() == (True, "")


def test_validate_rule_products() -> None:
    assert (
        validate(
            {"centroid": True, "posErr": 1, "useSXPS": False},
            {"EnhancedPos": {}, "LightCurve": {"binMeth": "obsid"}},
            runtime_globals=("name", "targ", "RA", "Dec"),
        )
        == []
    )
    problems = validate(
        {"name": "GRB", "getTargs": True, "centroid": True, "posErr": 1, "useSXPS": False,
         "getCoords": True},
        {"LightCurve": {"binMeth": "counts", "pcCounts": 20}},
    )  # fmt: skip
    assert problems == [
        "light curve: The light curve parameter `wtCounts` is not set.",
        "light curve: The light curve parameter `dynamic` is not set.",
    ]
    assert validate({"RA": 1}, {"Movie": {}}) == [
        "RA should be a (<class 'float'>,) but you supplied a <class 'int'>.",
        "Movie: The product type Movie does not exist.",
    ]


def test_deprecated_and_misspelt_names() -> None:
    req = XrtRequest("x")
    req.add_product("LightCurve", timeType="m", pcmaxGap=1e6, wtMaxGap=2e6)
    assert req.get_product_pars("lc") == {"timeFormat": "m", "pcMaxGap": 1e6, "wtMaxGap": 2e6}
    assert "WARNING: timeType is deprecated, replaced with timeFormat" in req.notes
    body = req.to_json()
    assert (body["lctimetype"], body["pcmaxgap"], body["wtmaxgap"]) == ("m", 1e6, 2e6)
    # swifttools only accepts the lower-case-m spelling, and sends it verbatim
    reference = ux.XRTProductRequest("x")
    reference.addLightCurve(pcmaxGap=1e6)
    assert reference.getJSONDict()["pcmaxGap"] == 1e6
