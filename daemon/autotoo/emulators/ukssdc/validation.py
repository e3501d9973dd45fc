"""Server-side checks of a submission and the ``jobPars`` echo.

The messages are the real service's where they are known ("The following parameters are
needed, but were not supplied:", "poserr is 0.01, but must be between 1 and 6"); the others
follow the same pattern and are listed in docs/xrt-products.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from autotoo.xrtrequest.params import GLOBALS, PRODUCT_BY_FLAG, PRODUCTS, Par, Product

PROBLEMS: Final = "There were problems with the parameters you supplied."
NEEDED_LABEL: Final = "The following parameters are needed, but were not supplied:"
INVALID_LABEL: Final = "The following parameters have invalid values:"

# Keys the reference client may send under a spelling the server does not use.
SERVER_ALIASES: Final = {"pcmaxGap": "pcmaxgap", "wtmaxGap": "wtmaxgap", "sinceT0": "SinceT0"}
_RANGES: Final = {
    "poserr": (1, 6),
    "RA": (0, 360),
    "Dec": (-90, 90),
    "minen": (0.3, 10),
    "maxen": (0.3, 10),
    "zval": (0, 20),
    "posRadius": (1, 600),
    "maxCentTries": (1, 100),
}
_MODELS: Final = ("powerlaw", "apec", "blackbody")
# Formats, written here rather than imported from the client so that the emulator can catch a
# client that builds malformed values. Times are numbers (MET or seconds since T0) or dates.
_NUM: Final = r"-?(?:\d+(?:\.\d*)?|\.\d+)"
_TIME: Final = rf"(?:\d{{4}}-\d\d-\d\d(?:[T ]\d\d:\d\d(?::\d\d(?:\.\d*)?)?)?|{_NUM})"
_SPAN: Final = rf"\s*{_TIME}\s*-\s*{_TIME}\s*"
_SPANS: Final = re.compile(rf"{_SPAN}(?:,{_SPAN})*")
_OBSIDS: Final = re.compile(r"\s*\d{11}\s*(?:,\s*\d{11}\s*)*")
_BAND: Final = re.compile(r"\s*(\d*\.?\d+)\s*-\s*(\d*\.?\d+)\s*")
_USE_OBS: Final = "a list of Swift obsIDs, or a comma-separated list of start-stop values"
_FORMAT_KEYS: Final = {
    **dict.fromkeys(("uselcobs", "usespecobs", "useimobs", "usedetobs", "useposobs"), "obs"),
    **{f"gti{i}": "gti" for i in range(1, 5)},
    "imen": "energies",
}
# Band edges and the limit each must respect: soft1/hard1 >= minen, soft2/hard2 <= maxen.
_EDGES: Final = (("soft1", "minen", 1), ("soft2", "maxen", -1), ("hard1", "minen", 1),
                 ("hard2", "maxen", -1))  # fmt: skip
_ENERGY_DEFAULTS: Final = {"minen": 0.3, "maxen": 10.0}
_KNOWN: Final = {p.json: p for p in GLOBALS} | {p.json: p for prod in PRODUCTS for p in prod.pars}


def truthy(value: Any) -> bool:
    return value is True or value in (1, "1", "yes")


def requested_products(body: Mapping[str, Any]) -> list[Product]:
    return [prod for flag, prod in PRODUCT_BY_FLAG.items() if truthy(body.get(flag))]


@dataclass(slots=True)
class Problems:
    needed: list[str] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)

    def need(self, body: Mapping[str, Any], *names: str) -> None:
        for name in names:
            if name not in body and name not in self.needed:
                self.needed.append(name)

    def list_err(self) -> list[dict[str, Any]]:
        out = []
        if self.needed:
            out.append({"label": NEEDED_LABEL, "list": self.needed})
        if self.invalid:
            out.append({"label": INVALID_LABEL, "list": self.invalid})
        return out


def _range_problem(key: str, value: Any) -> str | None:
    low, high = _RANGES[key]
    try:
        number = float(value)
    except (TypeError, ValueError):
        return f"{key} is {value}, but must be a number"
    if not low <= number <= high:
        return f"{key} is {value}, but must be between {low} and {high}"
    return None


def _positive_int(value: Any) -> bool:
    try:
        return int(str(value)) > 0
    except ValueError:
        return False


def _bands_ok(text: str) -> bool:
    for band in text.split(","):
        match = _BAND.fullmatch(band)
        if match is None or not 0.3 <= float(match.group(1)) < float(match.group(2)) <= 10:
            return False
    return True


def _format_problem(key: str, value: Any) -> str | None:
    kind = _FORMAT_KEYS[key]
    text = str(value)
    if kind == "obs" and not (_OBSIDS.fullmatch(text) or _SPANS.fullmatch(text)):
        return f"{key} is {value}, but must be {_USE_OBS}"
    if kind == "gti" and not _SPANS.fullmatch(text):
        return f"{key} is {value}, but must be a comma-separated list of start-stop values"
    if kind == "energies" and not _bands_ok(text):
        return f"{key} is {value}, but must be a comma-separated list of energy bands"
    return None


def _value_problem(key: str, value: Any, body: Mapping[str, Any]) -> str | None:
    par = _KNOWN.get(key)
    if par is None:
        return None
    problem: str | None = None
    if key in _FORMAT_KEYS:
        problem = _format_problem(key, value)
    elif key in _RANGES:
        if key != "poserr" or truthy(body.get("cent")):
            problem = _range_problem(key, value)
    elif par.allowed and str(value).lower() not in par.allowed:
        problem = f"{key} is {value}, but must be one of: {', '.join(par.allowed)}"
    elif key.startswith("rname") and not re.fullmatch(r"[A-Za-z0-9]+", str(value)):
        problem = f"{key} is {value}, but must be alphanumeric"
    elif key in ("pccounts", "wtcounts", "mincmin") and not _positive_int(value):
        problem = f"{key} is {value}, but must be a positive integer"
    elif key == "targ" and not re.fullmatch(r"\d{1,11}(,\d{1,11})*", str(value)):
        problem = f"targ is {value}, but must be a list of targetIDs"
    elif key == "models":
        models = value if isinstance(value, list) else [value]
        if any(str(m).lower() not in _MODELS for m in models):
            shown = ",".join(map(str, models))
            problem = f"models is {shown}, but must be from: {', '.join(_MODELS)}"
    return problem


def _check_values(body: Mapping[str, Any], problems: Problems) -> None:
    for key, value in body.items():
        problem = _value_problem(key, value, body)
        if problem is not None:
            problems.invalid.append(problem)
    for lo, hi in (("minen", "maxen"), ("soft1", "soft2"), ("hard1", "hard2")):
        try:
            if lo in body and hi in body and float(body[lo]) >= float(body[hi]):
                problems.invalid.append(f"{lo} is {body[lo]}, but must be less than {hi}")
        except (TypeError, ValueError):
            continue  # already reported as not a number
    # The band edges need no range of their own: minen/maxen have one (0.3-10 keV).
    for edge, limit, sign in _EDGES:
        if edge not in body:
            continue
        try:
            value = float(body[edge])
        except (TypeError, ValueError):
            problems.invalid.append(f"{edge} is {body[edge]}, but must be a number")
            continue
        try:
            bound = float(body.get(limit, _ENERGY_DEFAULTS[limit]))
        except (TypeError, ValueError):
            continue  # already reported as not a number
        if (value - bound) * sign < 0:
            relation = "≥" if sign > 0 else "≤"
            problems.invalid.append(
                f"{edge} is {body[edge]}, but must be {relation}{limit} ({bound:g})"
            )


_ALWAYS_NEEDED: Final = {"lc": ("binMeth",), "spec": ("specz",), "sourceDet": ("detobs",)}
# (products, key, value that triggers the need, needed keys); "1" compares via truthy().
_CONDITIONAL_NEEDS: Final = (
    (("lc",), "binMeth", "counts", ("pccounts", "wtcounts", "dynamic")),
    (("lc",), "lcobs", "user", ("uselcobs",)),
    (("spec",), "specz", "1", ("zval",)),
    (("spec",), "specobs", "user", ("usespecobs",)),
    (("spec",), "timeslice", "user", ("rname1", "gti1")),
    (("image",), "imobs", "user", ("useimobs",)),
    (("sourceDet",), "detobs", "user", ("usedetobs",)),
    (("psf", "enh", "xastrom"), "posobs", "user", ("useposobs",)),
)


def check_submission(body: Mapping[str, Any], products: list[Product]) -> Problems:
    """Missing and invalid parameters, as the server lists them (JSON names)."""
    problems = Problems()
    shorts = {p.short for p in products}
    problems.need(body, "name")
    if not truthy(body.get("getTargs")):
        problems.need(body, "targ")
    if shorts != {"sourceDet"}:
        if not truthy(body.get("getCoords")):
            problems.need(body, "RA", "Dec")
        problems.need(body, "cent")
        if truthy(body.get("cent")):
            problems.need(body, "poserr")
    for short in shorts:
        problems.need(body, *_ALWAYS_NEEDED.get(short, ()))
    for prods, key, when, needed in _CONDITIONAL_NEEDS:
        value = body.get(key)
        hit = truthy(value) if when == "1" else str(value).lower() == when
        if shorts & set(prods) and hit:
            problems.need(body, *needed)
    _check_values(body, problems)
    return problems


def _echo(par: Par, value: Any) -> Any:
    """Server spellings: flags as int 0/1, numbers as int-castable or float-castable text."""
    if bool in par.types:
        return int(truthy(value))
    if isinstance(value, int | float):
        return str(value)
    return value


def job_pars(body: Mapping[str, Any], products: list[Product], *, job_id: int) -> dict[str, Any]:
    """What the server echoes: the request, normalised, plus defaults and internal keys."""
    pars: dict[str, Any] = {}
    shorts = {p.short for p in products}
    position = bool(shorts & {"psf", "enh", "xastrom"})
    for par in GLOBALS:
        if par.default is not None and (position or par.name not in _POSITION_GLOBALS):
            pars[par.json] = par.default
    for prod in products:
        pars[prod.flag] = 1
        for par in prod.pars:
            if par.default is not None:
                pars[par.json] = par.default
    for sent, value in body.items():
        key = SERVER_ALIASES.get(sent, sent)
        if key in _KNOWN:
            par = _KNOWN[key]
            pars[key] = str(value).lower() if par.allowed else _echo(par, value)
    pars["sinceT0"] = pars.pop("SinceT0", 0)
    if "xastrom" in shorts:
        pars["dopsf"] = 1  # the server switches the standard position on for astrometry
    pars.update(
        {
            "api_name": body.get("api_name", "xrt_prods"),
            "api_version": body.get("api_version", "1.12"),
            "UserID": body.get("UserID"),
            "outdir": f"USERPROD_{job_id}",
            "whatSXPS": "LSXPS",
            "do3col": 0,
            "pcmaxbin": "100000000",
            "wtmaxbin": "100000000",
            "enh": int("enh" in shorts),
        }
    )
    return pars


_POSITION_GLOBALS: Final = ("posRadius", "posobs", "posobstime", "detMeth", "detornot")
