"""Field names a condition or template reads, checked against the normalized alert at load.

``{{ alert.event_ky }}`` used to pass check-config and fail at run time (a template error for
every matching alert, found during the burst it was written for). The fields of ``alert``,
``event`` and the alerts inside ``event`` are known from the normalized alert's view
(:mod:`autotoo.rules.context`), so a name that is none of them is refused at load, with the
nearest field as a suggestion. Only what follows these roots directly is checked: the payload
under ``raw`` differs per mission and stays free.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from jinja2 import nodes

from autotoo.rules.conditions import did_you_mean
from autotoo.rules.context import VIEW_FIELDS
from autotoo.rules.needs import ROOTS, blank_strings, member_at

ALERT_FIELDS = VIEW_FIELDS | {"raw"}
EVENT_FIELDS = frozenset(
    {
        "key",
        "count",
        "alerts",
        "first",
        "latest",
        "previous",
        "best",
        "has_retraction",
        "transient",
    }
)
# Alerts inside ``event`` (first, latest, previous, best) are views without ``raw``.
EVENT_ALERTS = frozenset({"first", "latest", "previous", "best"})
# Methods a sandboxed template may call on a mapping.
_DICT_METHODS = frozenset({"get", "items", "keys", "values"})


@dataclass(frozen=True, slots=True)
class UnknownField:
    """``what``: ``alert``, ``event`` or ``event.first`` ...; ``at``: an offset (conditions)
    or a 1-based line (templates) of the unknown name."""

    what: str
    name: str
    at: int

    @property
    def message(self) -> str:
        known = _known(self.what)
        hint = did_you_mean(self.name, sorted(known))
        return f"{self.what} has no field {self.name!r}{hint}"


def _known(what: str) -> frozenset[str]:
    if what == "alert":
        return ALERT_FIELDS
    if what == "event":
        return EVENT_FIELDS
    return VIEW_FIELDS  # event.first and the like


def condition_unknown_fields(source: str) -> list[UnknownField]:
    """``alert.X``, ``event.X`` and ``event.first.X`` in a CEL condition whose X is no field
    (string literals are blanked first, so text inside quotes is never read as a name)."""
    text = blank_strings(source)
    found = []
    for root in ROOTS.finditer(text):
        what = root.group(1)
        if what == "raw":
            continue
        name, after = member_at(text, root.end())
        if name is None:
            continue
        offset = text.index(name, root.end())
        if name not in _known(what):
            found.append(UnknownField(what, name, offset))
        elif what == "event" and name in EVENT_ALERTS:
            inner, _ = member_at(text, after)
            if inner is not None and inner not in VIEW_FIELDS:
                found.append(UnknownField(f"event.{name}", inner, text.index(inner, after)))
    return found


def template_unknown_fields(tree: nodes.Template) -> list[UnknownField]:
    """The same for a parsed Jinja template (``alert.x`` and ``alert['x']``)."""
    return list(_walk(tree))


def _attr(node: nodes.Node) -> tuple[nodes.Expr, str] | None:
    if isinstance(node, nodes.Getattr):
        return node.node, node.attr
    if (
        isinstance(node, nodes.Getitem)
        and isinstance(node.arg, nodes.Const)
        and isinstance(node.arg.value, str)
    ):
        return node.node, node.arg.value
    return None


def _walk(tree: nodes.Node) -> Iterator[UnknownField]:
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        step = _attr(node)
        if step is None:
            continue
        base, name = step
        what = None
        if isinstance(base, nodes.Name) and base.name in {"alert", "event"}:
            what = base.name
        else:
            inner = _attr(base)
            if (
                inner is not None
                and isinstance(inner[0], nodes.Name)
                and inner[0].name == "event"
                and inner[1] in EVENT_ALERTS
            ):
                what = f"event.{inner[1]}"
        if what is None or name in _DICT_METHODS or name in _known(what):
            continue
        yield UnknownField(what, name, node.lineno)
