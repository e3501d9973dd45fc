"""The XRT product generator's parameters, as one table (the UKSSDC's "How to request products").

Everything the request builder, the rule-file validator and the emulator know about parameters
comes from here: Python name, JSON (wire) name, accepted Python types, allowed values, the
server's default (as the server echoes it in ``jobPars``), which parameters are mandatory and
when, and the automatic "trigger" settings. The seven products differ only in their rows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from autotoo.xrtrequest.errors import ParameterError

API_NAME: Final = "xrt_prods"
API_VERSION: Final = "1.12"

# A parameter value as a user sets it: the JSON scalar types, plus lists for ``models``.
Value = str | int | float | bool | list[str] | tuple[str, ...]
NUM: Final = (float, int)


@dataclass(frozen=True, slots=True)
class Par:
    """One parameter. ``default`` is the server's default in its ``jobPars`` spelling."""

    name: str
    json: str
    types: tuple[type, ...]
    allowed: tuple[str, ...] = ()
    default: Any = None


def _p(name: str, types: tuple[type, ...], json: str = "", **kw: Any) -> Par:
    return Par(name, json or name, types, **kw)


DELETE: Final = object()  # a trigger that unsets the target parameter
ANY: Final = "ANY"  # trigger on any value
NONE: Final = "NONE"  # trigger on removal


@dataclass(frozen=True, slots=True)
class Trigger:
    """Setting ``par`` to ``when`` (or ANY value, or removing it: NONE) also sets ``sets``."""

    par: str
    when: object
    sets: tuple[tuple[str, object], ...]


# ---- globals ----------------------------------------------------------------------------

GLOBALS: Final[tuple[Par, ...]] = (
    _p("name", (str,)),
    _p("targ", (str,)),
    _p("T0", NUM, "Tstart"),
    _p("SinceT0", (bool,), default=0),
    _p("RA", (float,)),
    _p("Dec", (float,)),
    _p("centroid", (bool,), "cent"),
    _p("centMeth", (str,), allowed=("simple", "iterative"), default="simple"),
    _p("maxCentTries", (int,), default="10"),
    _p("posErr", NUM, "poserr"),
    _p("sss", (bool,), default=0),
    _p("useSXPS", (bool,), default=0),
    _p("wtPupRate", NUM, "wtpuprate", default="150"),
    _p("pcPupRate", NUM, "pcpuprate", default="0.6"),
    _p("notify", (bool,), default=0),
    _p("getCoords", (bool,)),
    _p("getTargs", (bool,)),
    _p("getT0", (bool,)),
    _p("posRadius", NUM, default="20"),
    _p("posobs", (str,), allowed=("all", "user", "hours"), default="hours"),
    _p("useposobs", (str,)),
    _p("posobstime", NUM, default="12"),
    _p("detMeth", (str,), allowed=("simple", "iterative"), default="simple"),
    _p("detornot", (str,), allowed=("detect", "centroid"), default="detect"),
)
GLOBAL_BY_NAME: Final = {p.name: p for p in GLOBALS}
GLOBAL_BY_JSON: Final = {p.json: p for p in GLOBALS}
NEEDED_GLOBALS: Final = ("centroid", "name", "useSXPS", "RA", "Dec", "targ")
ALT_GLOBALS: Final = {"targ": "getTargs", "RA": "getCoords", "Dec": "getCoords"}
# {par: {str(value): needed pars}}, compared as str(value) like the reference client.
GLOBAL_DEPS: Final = {
    "centroid": {"True": ("posErr",)},
    "posobs": {"hours": ("posobstime",), "user": ("useposobs",)},
}
SHARED_GLOBALS: Final = ("posRadius", "posobs", "useposobs", "posobstime", "detMeth", "detornot")
MAKE_WORK_GLOBALS: Final = ("getCoords", "getTargs", "getT0")
GLOBAL_TRIGGERS: Final = (
    Trigger("useposobs", ANY, (("posobs", "user"),)),
    Trigger("posobs", "all", (("useposobs", DELETE),)),
    Trigger("T0", ANY, (("getT0", False),)),
    Trigger("targ", ANY, (("getTargs", False),)),
)


# ---- products ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Product:
    short: str
    long: str
    description: str  # "light curve": used in every message
    flag: str  # the submit JSON key set to 1
    pars: tuple[Par, ...] = ()
    need_pars: tuple[str, ...] = ()
    need_globals: tuple[str, ...] = ()
    # {par: {str(value): needed pars}}
    deps: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)
    triggers: tuple[Trigger, ...] = ()
    # Product-level Python names that are really shared globals: {product name: global name}
    use_globals: Mapping[str, str] = field(default_factory=dict)
    presets: Mapping[str, Value] = field(default_factory=dict)
    deprecated: Mapping[str, str] = field(default_factory=dict)
    skip_globals_if_alone: tuple[str, ...] = ()

    @property
    def stem(self) -> str:
        return self.short

    def par(self, name: str) -> Par | None:
        """Look up by Python name, then by JSON name (both spellings are accepted)."""
        for p in self.pars:
            if name == p.name:
                return p
        for p in self.pars:
            if name == p.json:
                return p
        return None


def _use_obs_triggers() -> tuple[Trigger, ...]:
    return (
        Trigger("useObs", ANY, (("whichData", "user"),)),
        Trigger("whichData", "all", (("useObs", DELETE),)),
    )


_USER_NEEDS_OBS: Final = {"whichData": {"user": ("useObs",)}}
_GRADES: Final = ("0", "all", "4")
_NO_PC_WT_BOTH: Final = ("no", "pc", "wt", "both")

LIGHT_CURVE: Final = Product(
    "lc",
    "LightCurve",
    "light curve",
    "lc",
    pars=(
        _p("binMeth", (str,), allowed=("counts", "time", "snapshot", "obsid")),
        _p("minEnergy", NUM, "minen", default="0.3"),
        _p("maxEnergy", NUM, "maxen", default="10"),
        _p("softLo", NUM, "soft1", default="0.3"),
        _p("softHi", NUM, "soft2", default="1.5"),
        _p("hardLo", NUM, "hard1", default="1.5"),
        _p("hardHi", NUM, "hard2", default="10"),
        _p("minSig", NUM, "sigmin", default="3"),
        _p("grades", (str,), allowed=_GRADES, default="all"),
        _p("allowUL", (str,), allowed=_NO_PC_WT_BOTH, default="both"),
        _p("allowBayes", (str,), "allowB", allowed=_NO_PC_WT_BOTH, default="both"),
        _p("bayesCounts", NUM, default="15"),
        _p("bayesSNR", NUM, default="2.4"),
        _p("timeFormat", (str,), "lctimetype", allowed=("m", "s", "mjd", "sec"), default="s"),
        _p("whichData", (str,), "lcobs", allowed=("all", "user"), default="all"),
        _p("useObs", (str,), "uselcobs"),
        _p("srcrad", (int,)),
        _p("pcCounts", (int,), "pccounts"),
        _p("wtCounts", (int,), "wtcounts"),
        _p("dynamic", (bool,)),
        _p("rateFact", NUM, "ratefact", default="10"),
        _p("binFact", NUM, "binfact", default="1.5"),
        _p("pcBinTime", NUM, "pcbin", default="2.51"),
        _p("wtBinTime", NUM, "wtbin", default="0.5"),
        _p("minCounts", (int,), "mincmin", default="15"),
        _p("minSNR", NUM, "minsnr", default="2.4"),
        # The UKSSDC documentation's spelling; swifttools only accepts pcmaxGap/wtmaxGap and
        # sends those verbatim. We send the server's own key (docs/xrt-products.md, "Max-gap
        # parameters").
        _p("pcMaxGap", NUM, "pcmaxgap", default="100000000"),
        _p("wtMaxGap", NUM, "wtmaxgap", default="100000000"),
        _p("matchHR", NUM, "hrbin", default="1"),
        _p("pcHRBinTime", NUM, "pchrbin", default="2.51"),
        _p("wtHRBinTime", NUM, "wthrbin", default="0.5"),
        _p("minFracExp", NUM, "femin", default="0"),
    ),
    need_pars=("binMeth",),
    need_globals=("centroid",),
    deps={
        "binMeth": {"counts": ("pcCounts", "wtCounts", "dynamic")},
        **_USER_NEEDS_OBS,
    },
    triggers=_use_obs_triggers(),
    deprecated={"timeType": "timeFormat", "pcmaxGap": "pcMaxGap", "wtmaxGap": "wtMaxGap"},
)

SPECTRUM: Final = Product(
    "spec",
    "Spectrum",
    "spectrum",
    "spec",
    pars=(
        _p("hasRedshift", (bool,), "specz"),
        _p("redshift", (float,), "zval"),
        _p("whichData", (str,), "specobs", allowed=("all", "user", "hours"), default="hours"),
        _p("useObs", (str,), "usespecobs"),
        _p("incHours", NUM, "specobstime", default="12"),
        _p("timeslice", (str,), allowed=("single", "user", "snapshot", "obsid"), default="single"),
        _p("grades", (str,), "specgrades", allowed=_GRADES, default="all"),
        *(_p(f"{kind}{i}", (str,)) for i in range(1, 5) for kind in ("rname", "gti")),
        _p("specStem", (str,), "specstem", default="interval0"),
        _p("doNotFit", (bool,), default=0),
        _p("galactic", (bool,), default=0),
        _p("models", (list, tuple), default=["powerlaw"]),
        _p("deltaFitStat", (float,), "dchi", default="2.706"),
        _p("srcrad", (int,)),
    ),
    need_pars=("hasRedshift", "deltaFitStat"),
    need_globals=("centroid",),
    deps={
        "whichData": {"user": ("useObs",), "hours": ("incHours",)},
        "hasRedshift": {"True": ("redshift",)},
    },
    triggers=(
        Trigger("redshift", ANY, (("hasRedshift", True), ("galactic", True))),
        Trigger("redshift", NONE, (("hasRedshift", False),)),
        Trigger("hasRedshift", when=True, sets=(("galactic", True),)),
        *_use_obs_triggers(),
        Trigger("doNotFit", when=True, sets=(("hasRedshift", False),)),
    ),
    presets={"deltaFitStat": 2.706},
)

_POSITION_SHARED: Final = {
    "whichData": "posobs",
    "useObs": "useposobs",
    "incHours": "posobstime",
    "posRadius": "posRadius",
    "detOrCent": "detornot",
    "centMeth": "detMeth",
}


def _position(short: str, long: str, description: str, pars: tuple[Par, ...] = ()) -> Product:
    return Product(short, long, description, f"do{short}", pars=pars, use_globals=_POSITION_SHARED)


STANDARD_POS: Final = _position("psf", "StandardPos", "standard position")
ENHANCED_POS: Final = _position("enh", "EnhancedPos", "enhanced position")
ASTROM_POS: Final = _position(
    "xastrom",
    "AstromPos",
    "astrometric position",
    (_p("useAllObs", (bool,), "allxastrom", default=0),),
)

IMAGE: Final = Product(
    "image",
    "Image",
    "image",
    "image",
    pars=(
        _p("energies", (str,), "imen", default="0.3-10,0.3-1.5,1.51-10"),
        _p("whichData", (str,), "imobs", allowed=("all", "user"), default="all"),
        _p("useObs", (str,), "useimobs"),
    ),
    deps=_USER_NEEDS_OBS,
    triggers=_use_obs_triggers(),
)

SOURCE_DET: Final = Product(
    "sourceDet",
    "SourceDet",
    "source detection",
    "sourceDet",
    pars=(
        _p("whichData", (str,), "detobs", allowed=("all", "user"), default="all"),
        _p("useObs", (str,), "usedetobs"),
        _p("whichBands", (str,), "detbands", allowed=("total", "all"), default="total"),
        _p("fitStrayLight", (bool,), default=1),
    ),
    need_pars=("whichData",),
    deps=_USER_NEEDS_OBS,
    triggers=_use_obs_triggers(),
    skip_globals_if_alone=("RA", "Dec", "centroid", "useSXPS"),
)

PRODUCTS: Final[tuple[Product, ...]] = (
    LIGHT_CURVE,
    SPECTRUM,
    STANDARD_POS,
    ENHANCED_POS,
    ASTROM_POS,
    IMAGE,
    SOURCE_DET,
)
_BY_ANY_NAME: Final = {n: p for p in PRODUCTS for n in (p.short, p.long)}
PRODUCT_BY_FLAG: Final = {p.flag: p for p in PRODUCTS}
DOWNLOAD_FORMATS: Final = ("zip", "tar", "tar.gz")


def product(what: str) -> Product:
    """The product for a long (``LightCurve``) or short (``lc``) name."""
    try:
        return _BY_ANY_NAME[what]
    except KeyError:
        raise ParameterError(f"The product type {what} does not exist.") from None


# ---- value formats and energy limits (seed "How to request products") ---------------------
# Times: a number (Swift MET, or seconds since T0; negative before T0) or a calendar date
# with an optional time of day. A start-stop value joins two times with "-"; the regex
# backtracks over the hyphens inside dates.
_NUMBER: Final = r"-?(?:\d+(?:\.\d*)?|\.\d+)"
_DATE: Final = r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d*)?)?)?"
_TIME: Final = rf"(?:{_DATE}|{_NUMBER})"
_INTERVAL: Final = rf"\s*{_TIME}\s*-\s*{_TIME}\s*"
_OBSIDS: Final = re.compile(r"\s*\d{11}\s*(?:,\s*\d{11}\s*)*")
_INTERVALS: Final = re.compile(rf"{_INTERVAL}(?:,{_INTERVAL})*")
_BAND: Final = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*-\s*(\d+(?:\.\d*)?|\.\d+)\s*")
XRT_BAND_KEV: Final = (0.3, 10.0)  # the XRT's band: the limits of minEnergy/maxEnergy

USE_OBS_FORMAT: Final = "a list of Swift obsIDs, or a comma-separated list of start-stop values"
GTI_FORMAT: Final = "a comma-separated list of start-stop values"
ENERGIES_FORMAT: Final = "a comma-separated list of energy bands, each lo-hi in keV within 0.3-10"


def is_use_obs(text: str) -> bool:
    """``useObs``: 11-digit obsIDs, or start-stop times, each list comma-separated."""
    return bool(_OBSIDS.fullmatch(text) or _INTERVALS.fullmatch(text))


def is_gti(text: str) -> bool:
    """A GTI expression: one or more start-stop times, comma-separated."""
    return bool(_INTERVALS.fullmatch(text))


def is_energies(text: str) -> bool:
    """Image bands (``"0.3-10,0.3-1.5,1.51-10"``): each lo < hi inside the XRT band."""
    low, high = XRT_BAND_KEV
    for band in text.split(","):
        match = _BAND.fullmatch(band)
        if match is None:
            return False
        lo, hi = float(match.group(1)), float(match.group(2))
        if not low <= lo < hi <= high:
            return False
    return True


FORMATS: Final = {
    "useObs": (is_use_obs, USE_OBS_FORMAT),
    "useposobs": (is_use_obs, USE_OBS_FORMAT),
    **{f"gti{i}": (is_gti, GTI_FORMAT) for i in range(1, 5)},
    "energies": (is_energies, ENERGIES_FORMAT),
}
# (band edge, limit, relation): softLo/hardLo >= minEnergy, softHi/hardHi <= maxEnergy.
ENERGY_LIMITS: Final = (
    ("softLo", "minEnergy", ">="),
    ("softHi", "maxEnergy", "<="),
    ("hardLo", "minEnergy", ">="),
    ("hardHi", "maxEnergy", "<="),
)
