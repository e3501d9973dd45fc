"""What conditions and templates see: ``alert``, ``event``, ``raw``, ``now`` and the helpers.

One :class:`AlertContext` is built per alert and shared by every rule, and each part is built
on first use: the CEL activation only when some rule reaches its condition, the ``event``
view only when a condition or template reads it, astropy only when a helper is called.

``alert`` holds the normalized fields (times as timestamps, ``ellipse`` and ``references`` as
maps, ``flags``, ``classification``, ``properties``) plus ``group_key``, ``has_position`` and
``raw``. ``event`` covers every alert of the same event *including this one*: ``key``,
``count``, ``alerts`` (oldest first, without ``raw``), ``first``, ``latest`` (this alert),
``previous`` (the one before, or null), ``best`` (smallest error radius among those with a
position, or null), ``has_retraction`` and ``transient``: the transient the event belongs to
(``key``, ``events`` and ``missions`` of all its events so far, ``joined``: this event joined
an earlier one's transient, ``reason``: why). ``alert.skymap`` refers to the alert's sky map
for the region functions (:mod:`.regions`), which decode it on first use.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from autotoo.alerts.model import NormalizedAlert
from autotoo.rules import sky
from autotoo.rules.conditions import make_activation
from autotoo.rules.needs import Needs
from autotoo.rules.regions import REGION_HELPERS, make_region_helpers, skymap_field

_INT64 = (-(2**63), 2**63 - 1)
_PLAIN_FIELDS = tuple(
    f.name
    for f in dataclasses.fields(NormalizedAlert)
    if f.name not in {"raw", "skymap_b64", "ellipse", "references"}
)


def plain_value(value: Any) -> Any:
    """A JSON-like value CEL can hold: huge ints become floats, unknown types become text."""
    # Exact types first: what json.loads gives, which is nearly everything (this runs for
    # every value of every alert's view, and an isinstance chain costs several times more).
    kind = type(value)
    if kind is str or kind is float or kind is bool or value is None:
        return value
    if kind is dict:
        return {k if type(k) is str else str(k): plain_value(v) for k, v in value.items()}
    if kind is list:
        return [plain_value(v) for v in value]
    return _plain_other(value)


def _plain_other(value: Any) -> Any:
    if isinstance(value, bool | str | float | bytes):
        return value
    if isinstance(value, int):
        return value if _INT64[0] <= value <= _INT64[1] else float(value)
    if isinstance(value, dict):
        return {str(k): plain_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_value(v) for v in value]
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return str(value)


_DERIVED: dict[str, Callable[[NormalizedAlert], Any]] = {
    "ellipse": lambda a: dataclasses.asdict(a.ellipse) if a.ellipse else None,
    "references": lambda a: [{"target": r.target, "cite": r.cite} for r in a.references],
    "group_key": lambda a: a.group_key,
    "has_position": lambda a: a.has_position,
    "skymap": skymap_field,  # a reference, never decoded here (see .regions)
}
VIEW_FIELDS = frozenset(_PLAIN_FIELDS) | _DERIVED.keys()


def field_value(alert: NormalizedAlert, name: str) -> Any:
    derive = _DERIVED.get(name)
    return derive(alert) if derive is not None else getattr(alert, name)


def alert_view(alert: NormalizedAlert, *, with_raw: bool) -> dict[str, Any]:
    view = {name: getattr(alert, name) for name in _PLAIN_FIELDS}
    for name, derive in _DERIVED.items():
        view[name] = derive(alert)
    if with_raw:
        view["raw"] = plain_value(alert.raw)
    return view


def best_positioned(alerts: Sequence[NormalizedAlert]) -> NormalizedAlert | None:
    """The alert with the smallest error radius (a later one wins a tie; no error: last)."""
    best: NormalizedAlert | None = None
    for candidate in alerts:
        if not candidate.has_position:
            continue
        if best is None or _error_key(candidate) <= _error_key(best):
            best = candidate
    return best


def _error_key(alert: NormalizedAlert) -> float:
    return alert.error_deg if alert.error_deg is not None else float("inf")


def _position_of(args: tuple[Any, ...], helper: str) -> tuple[float, float]:
    if len(args) == 2:
        return float(args[0]), float(args[1])
    if len(args) == 1 and isinstance(args[0], dict):
        ra, dec = args[0].get("ra"), args[0].get("dec")
        if ra is None or dec is None:
            raise ValueError(f"{helper}: the alert has no position")
        return float(ra), float(dec)
    raise ValueError(f"{helper} takes an alert (or any map with ra, dec) or ra, dec in degrees")


def _trigger_time(arg: Any) -> datetime:
    value = arg.get("trigger_time") if isinstance(arg, dict) else arg
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise ValueError("since_trigger: the alert has no trigger time")  # noqa: TRY004 CEL reports it
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def make_helpers(now: datetime, sky_time: datetime | None = None) -> dict[str, Callable[..., Any]]:
    """Helper functions for conditions and templates, bound to the evaluation time ``now``
    and, for the Sun and Moon, to ``sky_time`` (the alert's time; ``now`` if not given).

    Why the alert's time for the Sun and Moon: it makes a decision a property of the alert.
    The daemon, ``autotoo replay`` and the demo then decide the same alert the same way on
    any day they run; for a live alert the difference from the wall clock is seconds (the
    Moon moves about 0.5 degree an hour, the Sun 1 degree a day), and alerts older than
    ``max_alert_age`` are not acted on at all. Swift checks the constraints itself when it
    receives the TOO (a rejection goes through the rule's ``on_reject``)."""
    sky_at = sky_time or now

    def galactic_latitude(*args: Any) -> float:
        return sky.galactic(*_position_of(args, "galactic_latitude"))[1]

    def galactic_longitude(*args: Any) -> float:
        return sky.galactic(*_position_of(args, "galactic_longitude"))[0]

    def sun_distance(*args: Any) -> float:
        ra, dec = _position_of(args, "sun_distance")
        return sky.angular_separation(ra, dec, *sky.sun_position(sky_at))

    def moon_distance(*args: Any) -> float:
        ra, dec = _position_of(args, "moon_distance")
        return sky.angular_separation(ra, dec, *sky.moon_position(sky_at))

    def separation(*args: Any) -> float:
        if len(args) == 2:
            a, b = _position_of(args[:1], "separation"), _position_of(args[1:], "separation")
        elif len(args) == 4:
            a, b = _position_of(args[:2], "separation"), _position_of(args[2:], "separation")
        else:
            raise ValueError(
                "separation takes two alerts (maps with ra, dec) or ra1, dec1, ra2, dec2"
            )
        return sky.angular_separation(*a, *b)

    def since_trigger(arg: Any) -> float:
        return (now - _trigger_time(arg)).total_seconds()

    def error_arcmin(arg: Any) -> float:
        error = arg.get("error_deg") if isinstance(arg, dict) else None
        if error is None:
            raise ValueError("error_arcmin: the alert has no error radius")
        return float(error) * 60.0

    def absolute(value: Any) -> Any:
        return abs(value)

    return {
        "galactic_latitude": galactic_latitude,
        "galactic_longitude": galactic_longitude,
        "sun_distance": sun_distance,
        "moon_distance": moon_distance,
        "separation": separation,
        "since_trigger": since_trigger,
        "error_arcmin": error_arcmin,
        "abs": absolute,
    }


def alert_time(alert: NormalizedAlert) -> datetime | None:
    """When the alert was issued (else its trigger time): the time its Sun and Moon are at."""
    when = alert.issued_time or alert.trigger_time
    if when is None:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


#: Every function a condition or template may call (names only).
HELPER_NAMES = frozenset(make_helpers(datetime(2000, 1, 1, tzinfo=UTC))) | REGION_HELPERS


def _alone(alert: NormalizedAlert) -> dict[str, Any]:
    """The transient of an event evaluated without association (e.g. a unit of its own)."""
    return {
        "key": f"T:{alert.group_key}",
        "events": [alert.group_key],
        "missions": [alert.mission],
        "joined": False,
        "reason": "",
    }


class AlertContext:
    """The evaluation context of one alert and the earlier alerts of its event."""

    def __init__(
        self,
        alert: NormalizedAlert,
        earlier: Sequence[NormalizedAlert],
        now: datetime,
        transient: Mapping[str, Any] | None = None,
    ) -> None:
        self.alert = alert
        self.earlier = tuple(earlier)
        self.now = now
        self.transient = transient
        self._activations: dict[Needs, Any] = {}

    @cached_property
    def position_helpers(self) -> dict[str, Callable[..., Any]]:
        return make_helpers(self.now, alert_time(self.alert))

    @cached_property
    def helpers(self) -> dict[str, Callable[..., Any]]:
        """Every helper: templates get these, conditions only what they call (``needs``)."""
        regions = make_region_helpers(self.now, (*self.earlier, self.alert))
        return self.position_helpers | regions

    @cached_property
    def alert_view(self) -> dict[str, Any]:
        return alert_view(self.alert, with_raw=True)

    @cached_property
    def best(self) -> NormalizedAlert | None:
        return best_positioned((*self.earlier, self.alert))

    @cached_property
    def event_view(self) -> dict[str, Any]:
        # Each view is converted once and then referred to from first/latest/previous/best
        # (the structure is read-only to conditions and the sandboxed templates).
        views = [plain_value(alert_view(a, with_raw=False)) for a in self.earlier]
        latest = plain_value({k: v for k, v in self.alert_view.items() if k != "raw"})
        views.append(latest)
        everyone = (*self.earlier, self.alert)
        best_index = next((i for i, a in enumerate(everyone) if a is self.best), None)
        return {
            "key": self.alert.group_key,
            "count": len(views),
            "alerts": views,
            "first": views[0],
            "latest": latest,
            "previous": views[-2] if len(views) > 1 else None,
            "best": views[best_index] if best_index is not None else None,
            "has_retraction": any(a.kind == "retraction" for a in everyone),
            "transient": plain_value(dict(self.transient or _alone(self.alert))),
        }

    def template_variables(self, names: frozenset[str]) -> dict[str, Any]:
        """What templates reading ``names`` see (rendered only for matched rules), built
        only for the names read: the event's view and the raw payload's conversion into
        the values conditions see cost per alert, and most templates read a field or two."""
        out: dict[str, Any] = {}
        if "alert" in names or "raw" in names:
            view = self.alert_view
            out["alert"], out["raw"] = view, view["raw"]
        if "event" in names:
            out["event"] = self.event_view
        if "now" in names:
            out["now"] = self.now
        if helpers := names & HELPER_NAMES:
            every = self.helpers if helpers & REGION_HELPERS else self.position_helpers
            out.update({name: every[name] for name in helpers})
        return out

    def _raw(self, keys: frozenset[str] | None) -> Any:
        raw = self.alert.raw
        if keys is None or not isinstance(raw, dict):
            return self.alert_view["raw"]
        return {key: plain_value(raw[key]) for key in keys if key in raw}

    def activation(self, needs: Needs) -> Any:
        """The CEL activation holding what ``needs`` asks for (see :mod:`.needs`), built
        once per alert for the union of the rules that reach their condition."""
        found = self._activations.get(needs)
        if found is None:
            if needs.fields is None:
                view = alert_view(self.alert, with_raw=False)
            else:  # only what the rules read: conversion into CEL costs per value
                names = needs.fields & VIEW_FIELDS
                view = {name: field_value(self.alert, name) for name in names}
            variables: dict[str, Any] = {"alert": view, "now": self.now}
            if needs.alert_raw or needs.top_raw:
                raw = self._raw(needs.raw_keys)
                if needs.alert_raw:
                    view["raw"] = raw
                if needs.top_raw:
                    variables["raw"] = raw
            if needs.event:
                variables["event"] = self.event_view
            # plain_value: whatever a parser left in a field, CEL must be able to hold it.
            variables["alert"] = plain_value(view)
            functions = self.helpers if needs.regions else self.position_helpers
            found = self._activations[needs] = make_activation(variables, functions)
        return found
