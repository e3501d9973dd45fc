"""The XRT product request builder: parameters, triggers, validity check and the submit JSON.

It does what swifttools' ``XRTProductRequest`` does before anything touches the network, with
the same parameter names, automatic settings and messages (the UKSSDC's "How to request
products"), so that a request built here and one built with swifttools produce the same
submit body. It is pure and synchronous; :mod:`autotoo.ukssdc.client` does the I/O.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from autotoo.xrtrequest.errors import ParameterError, ParameterTypeError, ProductError
from autotoo.xrtrequest.params import (
    ALT_GLOBALS,
    ANY,
    API_NAME,
    API_VERSION,
    DELETE,
    ENERGY_LIMITS,
    FORMATS,
    GLOBAL_BY_JSON,
    GLOBAL_BY_NAME,
    GLOBAL_DEPS,
    GLOBAL_TRIGGERS,
    GLOBALS,
    MAKE_WORK_GLOBALS,
    NEEDED_GLOBALS,
    NONE,
    PRODUCT_BY_FLAG,
    PRODUCTS,
    SHARED_GLOBALS,
    Par,
    Product,
    Trigger,
    Value,
    product,
)

UPDATE_WARNING = "The job was submitted OK, but an error occured updating the parameters."
_SERVER_ALIASES = {"sinceT0": "SinceT0"}  # the server echoes SinceT0 in lower case
# Lookups built once: a submission reads ~60 jobPars keys back and writes every parameter.
_GLOBAL_BY_REPLY_KEY: Final = {
    **GLOBAL_BY_JSON,
    **{alias: GLOBAL_BY_JSON[json] for alias, json in _SERVER_ALIASES.items()},
}
_PARS_BY_JSON: Final = {p.short: {par.json: par for par in p.pars} for p in PRODUCTS}
_PARS_BY_NAME: Final = {p.short: {par.name: par for par in reversed(p.pars)} for p in PRODUCTS}
_TRIGGERED_BY: Final = {p.short: frozenset(t.par for t in p.triggers) for p in PRODUCTS}
_GLOBAL_TRIGGERED: Final = frozenset(t.par for t in GLOBAL_TRIGGERS)


@dataclass(frozen=True, slots=True)
class SubmittedJob:
    job_id: int
    url: str
    job_pars: dict[str, Any]


def _check_type(par: Par, value: object) -> None:
    if not isinstance(value, par.types):
        raise ParameterTypeError(
            f"{par.name} should be a {par.types} but you supplied a {type(value)}."
        )


def _apply_triggers(
    pars: dict[str, Any], triggers: Iterable[Trigger], name: str, value: object
) -> list[str]:
    """Value-specific triggers first, then ANY, then NONE (the reference client's order).

    Returns the notes the reference client prints ("Also setting hasRedshift = True").
    """
    mine = [t for t in triggers if t.par == name]
    notes: list[str] = []
    if not mine:  # most parameters have no triggers
        return notes
    removed = value is None
    for stage in ("value", ANY, NONE):
        for trig in mine:
            if stage == "value":
                hit = trig.when not in (ANY, NONE) and trig.when == value
            else:
                hit = trig.when == stage and (removed if stage == NONE else not removed)
            if not hit:
                continue
            for target, new in trig.sets:
                if new is DELETE:
                    pars.pop(target, None)
                else:
                    pars[target] = new
                notes.append(f"Also setting {target} = {None if new is DELETE else new}")
    return notes


def _cast(par: Par, value: Any) -> Any:
    """jobPars values come back as ints and numeric strings; cast to the preferred type."""
    if bool in par.types and not isinstance(value, bool):
        return value in (1, "1", "yes")
    if isinstance(value, par.types) and not isinstance(value, bool):
        return value
    preferred = par.types[0]
    if preferred is list and isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return preferred(value)


class XrtRequest:
    """One product request: global parameters plus up to one of each of the seven products."""

    def __init__(self, user_id: str) -> None:
        self.user_id = user_id
        self._globals: dict[str, Any] = {}
        self._products: dict[str, dict[str, Any]] = {}
        self.job: SubmittedJob | None = None
        self.update_warning: str | None = None
        # What the reference client prints as it goes ("Successfully created a light curve",
        # "Also setting hasRedshift = True"): kept for logs instead of printed.
        self.notes: list[str] = []

    def __repr__(self) -> str:
        return f"XrtRequest(products={self.products})"

    @property
    def products(self) -> list[str]:
        """Short names of the requested products, in the order they were added."""
        return list(self._products)

    @property
    def submitted(self) -> bool:
        return self.job is not None

    def _editable(self, message: str) -> None:
        if self.submitted:
            raise ProductError(message)

    # ---- globals ---------------------------------------------------------------------------
    def set_globals(self, **pars: Value) -> None:
        """Set global parameters by Python (``centroid``) or JSON (``cent``) name."""
        for name, value in pars.items():
            par = GLOBAL_BY_NAME.get(name) or GLOBAL_BY_JSON.get(name)
            if par is None:
                raise ParameterError(f"{name} is not a recognised global parameter")
            _check_type(par, value)
            if par.allowed and value not in par.allowed:
                raise ParameterError(
                    f"'{value}' is not a valid value for {par.name}. "
                    f"Options are: {','.join(par.allowed)}."
                )
            self._globals[par.name] = value
            if par.name in _GLOBAL_TRIGGERED:
                self.notes += _apply_triggers(self._globals, GLOBAL_TRIGGERS, par.name, value)

    def get_globals(
        self, name: str = "all", *, omit_shared: bool = True, show_unset: bool = False
    ) -> Any:
        """One global's value (None if unset), or a dict of them (``name='all'``)."""
        if name != "all":
            if name not in GLOBAL_BY_NAME:
                raise ParameterError(f"`{name}` is not a recognised global parameter")
            return self._globals.get(name)
        return {
            p.name: self._globals.get(p.name)
            for p in GLOBALS
            if (p.name in self._globals or show_unset)
            and not (omit_shared and p.name in SHARED_GLOBALS)
        }

    # ---- products --------------------------------------------------------------------------
    def has_product(self, what: str) -> bool:
        return product(what).short in self._products

    def _have(self, what: str, message: str) -> Product:
        prod = product(what)
        if prod.short not in self._products:
            raise ProductError(message.format(prod.description))
        return prod

    def add_product(self, what: str, *, clobber: bool = False, **pars: Value) -> None:
        self._editable(
            "You cannot add a product after request is successfully submitted; "
            "you must create a new request"
        )
        prod = product(what)
        if prod.short in self._products and not clobber:
            raise ProductError(
                f"Can't add a {prod.description} as you already have one."
                "Remove it or set clobber=True to remove it."
            )
        if prod.short in self._products:
            self.notes.append(f"Deleting old {prod.description} request")
        self._products[prod.short] = {}
        self.notes.append(f"Successfully created a {prod.description}")
        if prod.presets:
            self._set_product_pars(prod, dict(prod.presets))
        if pars:
            self._set_product_pars(prod, pars)

    def remove_product(self, what: str) -> None:
        self._editable(
            "You cannot remove a product from a request after it has been successfully "
            "submitted; did you want to call cancelProducts()"
        )
        prod = self._have(what, "Can't remove a {} as you don't have one!")
        del self._products[prod.short]
        self.notes.append(f"Successfully removed {prod.description}")

    def set_product_pars(self, what: str, **pars: Value) -> None:
        self._editable(
            "You cannot edit product properties after the request has been successfully "
            "submitted; you must create a new job"
        )
        prod = self._have(what, "Can't set the parameters for a {} as you don't have one!")
        self._set_product_pars(prod, pars)

    def _set_product_pars(self, prod: Product, pars: Mapping[str, Any]) -> None:
        mine = self._products[prod.short]
        to_globals: dict[str, Any] = {}
        for given, raw in pars.items():
            name = prod.deprecated.get(given, given)
            if name != given:
                self.notes.append(f"WARNING: {given} is deprecated, replaced with {name}")
            value = raw
            if name in prod.use_globals:
                to_globals[prod.use_globals[name]] = value
                continue
            if name in prod.use_globals.values():
                to_globals[name] = value
                continue
            par = prod.par(name)
            if par is None:
                raise ParameterError(f"{name} is not a recognised {prod.short} parameter")
            _check_type(par, value)
            if par.allowed:
                value = str(value).lower()
                if value not in par.allowed:
                    raise ParameterError(
                        f"'{value}' is not a valid value for {par.name}. "
                        f"Options are: {','.join(par.allowed)}."
                    )
            mine[par.name] = value
            self.notes += _apply_triggers(mine, prod.triggers, par.name, value)
        if to_globals:
            self.set_globals(**to_globals)

    def get_product_pars(self, what: str, name: str = "all", *, show_unset: bool = False) -> Any:
        prod = self._have(what, "Can't get the parameters for a {} as you don't have one!")
        mine = self._products[prod.short]
        if name in prod.use_globals:
            return self._globals.get(prod.use_globals[name])
        if name != "all":
            par = prod.par(name)
            if par is None:
                raise ParameterError(f"`{name}` is not a recognised {prod.description} parameter")
            return mine.get(par.name)
        out = {p.name: mine.get(p.name) for p in prod.pars if p.name in mine or show_unset}
        for local, glob in prod.use_globals.items():
            if glob in self._globals or show_unset:
                out[local] = self._globals.get(glob)
        return out

    def remove_product_par(self, what: str, name: str) -> None:
        self._editable(
            "You cannot edit product properties after the request has been successfully "
            "submitted; you must create a new job"
        )
        prod = self._have(what, "Can't remove a parameter from a {} as you don't have one!")
        if name in prod.use_globals:
            self._globals.pop(prod.use_globals[name], None)
            return
        par = prod.par(name)
        if par is None:
            raise ParameterError(f"{name} is not a recognised {prod.short} parameter")
        mine = self._products[prod.short]
        if par.name in mine:
            self.notes += _apply_triggers(mine, prod.triggers, par.name, None)
            del mine[par.name]

    def all_pars(self, *, show_unset: bool = False) -> dict[str, Any]:
        """Globals (without the shared ones) plus one dict per product long name."""
        out: dict[str, Any] = self.get_globals()
        for short in self._products:
            out[product(short).long] = self.get_product_pars(short, show_unset=show_unset)
        return out

    # ---- validity -----------------------------------------------------------------------
    def _global_is_set(self, name: str, assumed: frozenset[str]) -> str:
        alt = ALT_GLOBALS.get(name)
        have = self._globals
        if name in have or name in assumed:
            return ""
        if alt is not None and (alt in have or alt in assumed):
            return ""
        tail = f", and nor is the alternative: `{alt}`" if alt else ""
        return f"* Global parameter `{name}` is not set{tail}.\n"

    def _product_report(self, prod: Product, assumed: frozenset[str]) -> str:
        mine = self._products[prod.short]
        report = "".join(self._global_is_set(g, assumed) for g in prod.need_globals)
        needed = list(prod.need_pars)
        for key, by_value in prod.deps.items():
            if key in mine:
                needed.extend(by_value.get(str(mine[key]), ()))
                needed.extend(by_value.get(ANY, ()))
        report += "".join(
            f"* The {prod.description} parameter `{p}` is not set.\n"
            for p in needed
            if p not in mine
        )
        return report + "".join(
            f"* The {prod.description} parameter `{problem}.\n"
            for problem in _value_problems(prod, mine)
        )

    def is_valid(
        self, what: str | Iterable[str] = "all", *, assume_set: Iterable[str] = ()
    ) -> tuple[bool, str]:
        """``(ok, report)`` with the reference client's exact texts.

        ``assume_set`` names globals to treat as set (rule files: filled in at run time).
        """
        assumed = frozenset(assume_set)
        report = ""
        if isinstance(what, str):
            if what != "all":
                raise ParameterError(f"what should be 'all' or a list/tuple, not `{what}`")
            names = list(self._products)
            if not names:
                report = "* No products have been requested.\n"
            alone = product(names[0]).skip_globals_if_alone if len(names) == 1 else ()
            report += "".join(
                self._global_is_set(g, assumed) for g in NEEDED_GLOBALS if g not in alone
            )
            for key, by_value in GLOBAL_DEPS.items():
                if key in self._globals:
                    needs = by_value.get(str(self._globals[key]), ())
                    report += "".join(self._global_is_set(g, assumed) for g in needs)
            used = self._globals.get("useposobs")
            if isinstance(used, str) and not FORMATS["useposobs"][0](used):
                report += (
                    f"* Global parameter `useposobs` is {used}, "
                    f"but must be {FORMATS['useposobs'][1]}.\n"
                )
        else:
            names = list(what)
        for name in names:
            prod = product(name)
            if prod.short in self._products:
                problems = self._product_report(prod, assumed)
            else:
                problems = f"* You have not requested a {prod.description}."
            if problems:
                report += f"\n{prod.description} problems:\n" + problems
        if report:
            return False, "The following problems were found:\n" + report
        return True, ""

    # ---- JSON --------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The submit body: api fields, UserID, set globals, then each product's flag + pars."""
        body: dict[str, Any] = {
            "api_name": API_NAME,
            "api_version": API_VERSION,
            "UserID": self.user_id,
        }
        for name, value in self._globals.items():
            body[GLOBAL_BY_NAME[name].json] = _wire(value)
        for short, pars in self._products.items():
            prod = product(short)
            body[prod.flag] = 1
            by_name = _PARS_BY_NAME[short]
            for name, value in pars.items():
                par = by_name.get(name) or prod.par(name)
                assert par is not None
                body[par.json] = _wire(value)
        return body

    @classmethod
    def from_json(
        cls, user_id: str, data: Mapping[str, Any], *, from_server: bool = False
    ) -> XrtRequest:
        """A new request from a submit body or a server's ``jobPars``."""
        req = cls(user_id)
        for flag, prod in PRODUCT_BY_FLAG.items():
            value = data.get(flag)
            if value is True or (type(value) is int and value == 1):
                req._products[prod.short] = {}
        req.update_from_json(data, from_server=from_server)
        return req

    def update_from_json(self, data: Mapping[str, Any], *, from_server: bool = True) -> None:
        """Take over values from ``jobPars``: cast, re-validate enumerations, apply triggers.

        Unknown keys (``UserID``, ``api_*``, the server's internal keys) are ignored. With
        ``from_server`` the "ask the server" switches become False, so that resubmitting
        reuses what the server resolved (targets, position, T0).
        """
        by_key = _GLOBAL_BY_REPLY_KEY
        for key, raw in data.items():
            par = by_key.get(key)
            if par is None:
                continue
            value = _cast(par, raw)
            if par.allowed and value not in par.allowed:
                raise ParameterError(f"'{value}' is not a valid value for {par.name}.")
            self._globals[par.name] = (
                False if from_server and par.name in MAKE_WORK_GLOBALS else value
            )
        for short, mine in self._products.items():
            prod = product(short)
            by_json, triggered = _PARS_BY_JSON[short], _TRIGGERED_BY[short]
            if not by_json:  # the position products keep their parameters in the globals
                continue
            for key, raw in data.items():
                par = by_json.get(key)
                if par is None:
                    continue
                value = _cast(par, raw)
                if par.allowed and value not in par.allowed:
                    raise ParameterError(
                        f"'{value}' is not a valid value for {prod.short} parameter {par.name}."
                    )
                mine[par.name] = value
                if par.name in triggered:
                    _apply_triggers(mine, prod.triggers, par.name, value)

    def mark_submitted(self, job: SubmittedJob, *, update_pars: bool = True) -> None:
        """Record a successful submission and (by default) adopt the server's parameters."""
        self.job = job
        if not update_pars:
            return
        for name in MAKE_WORK_GLOBALS:
            self._globals.pop(name, None)
        try:
            self.update_from_json(job.job_pars, from_server=True)
        except (ParameterError, ValueError, TypeError):
            self.update_warning = UPDATE_WARNING

    def copy_from(self, other: XrtRequest, what: Iterable[str] | None = None) -> None:
        """Copy globals (when ``what`` is None) and products (all, or those named) by value."""
        self._editable("You cannot copy into a request after it has been successfully submitted")
        if what is None:
            self._globals = copy.deepcopy(other._globals)
            names: Iterable[str] = other.products
        else:
            names = [product(w).short for w in what]
        for short in names:
            source = other._have(short, "You have not added a {} to this request!")
            self._products[source.short] = copy.deepcopy(other._products[source.short])


def _value_problems(prod: Product, mine: Mapping[str, Any]) -> list[str]:
    """Values the server would refuse: malformed ``useObs``/``gti``/``energies`` strings, and
    band edges outside ``minEnergy``/``maxEnergy`` (the server's defaults when unset). Each
    reads ``name` is value, but must be ...`` after the report's usual prefix."""
    out = []
    for name, value in mine.items():
        check = FORMATS.get(name)
        if check is not None and isinstance(value, str) and not check[0](value):
            out.append(f"{name}` is {value}, but must be {check[1]}")
    if prod.short == "lc":
        by_name = _PARS_BY_NAME["lc"]
        for edge, limit, relation in ENERGY_LIMITS:
            if edge not in mine:
                continue
            bound = float(mine.get(limit, by_name[limit].default))
            value = float(mine[edge])
            if value < bound if relation == ">=" else value > bound:
                sign = "≥" if relation == ">=" else "≤"
                out.append(f"{edge}` is {mine[edge]}, but must be {sign}{limit} ({bound:g})")
    return out


def _wire(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, tuple):
        return list(value)
    return value


__all__ = ["PRODUCTS", "SubmittedJob", "XrtRequest"]
