"""Deciding which rules an alert triggers, and rendering their actions.

Pure functions: no I/O and no clock reads (``now`` is passed in). The pipeline calls
:func:`evaluate` once per alert with the earlier alerts of its event, and
:func:`render_actions` for each matched decision; what happens next (settling, budgets,
idempotency, submission) is the pipeline's, driven by the rule's ``settle``, ``once_per`` and
``budget`` keys.

Order of checks per rule, cheapest first: ``enabled``, the ``match`` filters, test/mock
alerts (``accept_test``), then the ``when`` condition. Each :class:`Decision` says which
check decided, so ``autotoo replay`` can explain every non-match.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import structlog

from autotoo.alerts.model import NormalizedAlert
from autotoo.alerts.topics import normalize_topic
from autotoo.rules.compiled import CompiledRule, RuleSet
from autotoo.rules.context import AlertContext
from autotoo.rules.cover import Covered, cover
from autotoo.rules.errors import RenderError
from autotoo.rules.fields import TOO_FIELDS, XRT_GLOBALS, XRT_PRODUCT_PARAMS, format_uvot_mode
from autotoo.rules.models import ExplicitPosition
from autotoo.rules.templates import Value

log = structlog.get_logger("autotoo.rules")

Stage = Literal["disabled", "filtered", "test_alert", "condition", "error", "matched"]


@dataclass(slots=True)
class Decision:
    """One rule's verdict on one alert.

    ``stage`` is the check that decided; ``reason`` says it in words; ``clause`` is the part
    of the condition that was false or failed; ``error`` is set when the condition could not
    be evaluated (which counts as no match: fail closed). Not frozen only because frozen
    dataclasses are several times slower to create, and a Decision is made per rule per
    alert; treat it as read-only.
    """

    rule: str
    stage: Stage
    reason: str
    clause: str | None = None
    error: str | None = None
    digest: str = ""

    @property
    def matched(self) -> bool:
        return self.stage == "matched"

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "matched": self.matched,
            "stage": self.stage,
            "reason": self.reason,
            "clause": self.clause,
            "error": self.error,
            "digest": self.digest,
        }


def _prefilter(rule: CompiledRule, alert: NormalizedAlert, topic: str | None) -> Decision | None:
    """The cheap checks, or None when the rule goes on to its condition."""
    spec = rule.spec
    if not spec.enabled:
        return Decision(spec.name, "disabled", "rule is disabled", digest=rule.digest)
    rejected = rule.matcher.reject(alert, topic)
    if rejected is not None:
        return Decision(spec.name, "filtered", rejected, digest=rule.digest)
    if alert.is_test and not spec.accept_test:
        reason = "test or mock alert (set accept_test: true to act on it)"
        return Decision(spec.name, "test_alert", reason, digest=rule.digest)
    if rule.condition is None:
        return Decision(spec.name, "matched", "no condition", digest=rule.digest)
    return None


def _condition(rule: CompiledRule, alert: NormalizedAlert, activation: Any) -> Decision:
    assert rule.condition is not None
    name = rule.spec.name
    outcome = rule.condition.evaluate(activation)
    if outcome.error is not None:
        log.warning(
            "rule condition failed; counted as no match",
            rule=name,
            clause=outcome.clause,
            error=outcome.error,
            group_key=alert.group_key,
        )
        reason = f"condition error: {outcome.error}"
        return Decision(name, "error", reason, outcome.clause, outcome.error, digest=rule.digest)
    if outcome.matched:
        return Decision(name, "matched", "condition is true", digest=rule.digest)
    reason = "condition is false"
    if outcome.measured is not None:  # what the clause's region functions gave
        reason += f": {outcome.measured}"
    return Decision(name, "condition", reason, outcome.clause, digest=rule.digest)


def evaluate(
    ruleset: RuleSet,
    alert: NormalizedAlert,
    earlier: Sequence[NormalizedAlert] = (),
    *,
    now: datetime,
    explain: bool = False,
    context: AlertContext | None = None,
) -> list[Decision]:
    """Decide every rule for ``alert``; never raises for anything in the alert.

    ``earlier`` are the alerts of the same event received before this one, oldest first.
    With ``explain=False`` (the daemon's hot path) disabled rules, and rules the topic and
    mission index excludes (see :mod:`.compiled`), are skipped without a Decision; every
    other rule gets one. ``explain=True`` (replay) returns a Decision for every rule.
    """
    ctx = context if context is not None else AlertContext(alert, earlier, now)
    topic = normalize_topic(alert.topic) if alert.topic is not None else None
    if explain:
        rules, needs = ruleset.rules, ruleset.all_needs
    else:
        rules, needs = ruleset.candidates(topic, alert.mission)
    activation: Any = None
    broken: str | None = None
    decisions = []
    for rule in rules:
        decision = _prefilter(rule, alert, topic)
        if decision is None:
            if activation is None and broken is None:  # built once, when first needed
                try:
                    activation = ctx.activation(needs)
                except Exception as exc:  # noqa: BLE001 fail closed, as for a condition error
                    broken = f"cannot build the evaluation context: {exc}"
            if broken is not None:
                decision = Decision(rule.name, "error", broken, None, broken, rule.digest)
            else:
                decision = _condition(rule, alert, activation)
        decisions.append(decision)
    return decisions


@dataclass(frozen=True, slots=True)
class PlannedActions:
    """The rendered actions of one matched rule, as plain JSON-ready values.

    ``too`` is the request (field -> value, with ``ra``/``dec``/``poserr``), for the Swift
    client's model to validate; ``too_policy`` holds what is not a request field. ``xrt``
    holds ``submit``, ``globals``, ``products`` and ``retry`` (seconds).

    With ``cover: auto`` (:mod:`.cover`): ``too_targets`` lists every TOO body to send, best
    first (one for a single pointing or a tiling, up to ``max_targets`` galaxies), and
    ``too`` is its first; ``coverage`` is the plan: ``choice`` (``single`` | ``tiling`` |
    ``galaxies``), ``explanation`` (one line, for replays and notices), ``area90_deg2``,
    ``ra``/``dec``/``tiles``/``prob`` of a pointing, and ``targets`` (``name``, ``ra``,
    ``dec``, ``distance_mpc``, ``score``, ``prob_in_fov``), parallel to ``too_targets``.
    Without it, ``too_targets`` is ``[too]`` when there is a TOO and ``coverage`` is None.
    """

    rule: str
    digest: str
    group_key: str
    too: dict[str, Any] | None = None
    too_policy: dict[str, Any] | None = None
    xrt: dict[str, Any] | None = None
    notify: list[dict[str, Any]] = field(default_factory=list)
    too_targets: list[dict[str, Any]] = field(default_factory=list)
    coverage: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "digest": self.digest,
            "group_key": self.group_key,
            "too": self.too,
            "too_policy": self.too_policy,
            "xrt": self.xrt,
            "notify": self.notify,
            "too_targets": self.too_targets,
            "coverage": self.coverage,
        }


class _Renderer:
    def __init__(self, rule: CompiledRule, ctx: AlertContext) -> None:
        self.rule = rule
        self.ctx = ctx
        self.problems: dict[str, str] = {}
        self.covered: Covered | None = None
        self.vars = {**ctx.template_variables(rule.template_names), "rule": rule.name}

    def one(self, path: str, value: Value, spec: Any) -> Any:
        try:
            return value.render(self.vars, spec)
        except ValueError as exc:
            self.problems[path] = str(exc)
            return None

    def many(self, path: str, values: dict[str, Value], specs: dict[str, Any]) -> dict[str, Any]:
        return {name: self.one(f"{path}.{name}", v, specs.get(name)) for name, v in values.items()}

    def position(self) -> tuple[float, float, float] | None:
        too = self.rule.spec.too
        if too is not None and isinstance(too.position, ExplicitPosition):
            coords = self.many("too.position", self.rule.position, {})
            if any(v is None for v in coords.values()):
                return None
            return float(coords["ra"]), float(coords["dec"]), float(coords["poserr"])
        source = self.ctx.best if too is not None and too.position == "best" else self.ctx.alert
        if source is None or source.ra is None or source.dec is None:
            self.problems["too.position"] = "the alert has no position"
            return None
        # degrees to arcmin in binary floating point adds noise (0.05096604 deg becomes
        # 3.0579623999999996'); ten significant digits send what the alert said (3.0579624)
        return source.ra, source.dec, float(f"{(source.error_deg or 0.0) * 60.0:.10g}")

    def too(self) -> tuple[dict[str, Any], dict[str, Any]]:
        spec = self.rule.spec.too
        assert spec is not None
        request = self.many("too", self.rule.too, TOO_FIELDS)
        if isinstance(request.get("uvot_mode"), int | str):
            request["uvot_mode"] = format_uvot_mode(request["uvot_mode"])
        if spec.cover is not None:
            source = (self.ctx.best if spec.position == "best" else None) or self.ctx.alert
            try:
                self.covered = cover(request, spec, self.rule.galaxies, source)
                request = self.covered.bodies[0]
            except (ValueError, ArithmeticError) as exc:  # fail closed, as a template does
                self.problems["too.cover"] = str(exc)
        else:
            where = self.position()
            if where is not None:
                request["ra"], request["dec"], request["poserr"] = where
        policy = {
            "position": spec.position if isinstance(spec.position, str) else "explicit",
            "on_reject": spec.on_reject.model_dump(exclude_none=True),
            "check_uvot_mode": spec.check_uvot_mode,
            "uvot_fallback": format_uvot_mode(
                spec.uvot_fallback if not isinstance(spec.uvot_fallback, float | bool) else 0x9999
            ),
            "server_validate": spec.server_validate,
            "debug": spec.debug,
            "if_swift_on_target": spec.if_swift_on_target,
            "on_target_radius_arcmin": spec.on_target_radius_arcmin,
            "visibility": {
                "within": spec.visibility.within.total_seconds(),
                "otherwise_urgency": spec.visibility.otherwise_urgency,
            }
            if spec.visibility is not None
            else None,
            # flown pointings count from shortly before it (pipeline.presend)
            "trigger_time": trigger.isoformat()
            if (trigger := self.ctx.alert.trigger_time)
            else None,
        }
        return request, policy

    def xrt(self, too: dict[str, Any] | None) -> dict[str, Any]:
        spec = self.rule.spec.xrt_products
        assert spec is not None
        rendered = self.many("xrt_products.globals", self.rule.xrt_globals, XRT_GLOBALS)
        if not rendered.get("getCoords") and ("RA" not in rendered or "Dec" not in rendered):
            if too is not None and "ra" in too:
                rendered.setdefault("RA", too["ra"])
                rendered.setdefault("Dec", too["dec"])
            elif self.ctx.alert.has_position:
                rendered.setdefault("RA", self.ctx.alert.ra)
                rendered.setdefault("Dec", self.ctx.alert.dec)
        products = {
            name: self.many(f"xrt_products.products.{name}", params, XRT_PRODUCT_PARAMS[name])
            for name, params in self.rule.xrt_products.items()
        }
        return {
            "submit": spec.submit,
            "globals": rendered,
            "products": products,
            "retry": {
                "every": spec.retry.every.total_seconds(),
                "for": spec.retry.for_.total_seconds(),
            },
        }

    def notify(self) -> list[dict[str, Any]]:
        out = []
        for index, (channel, text) in enumerate(
            zip(self.rule.spec.channels(), self.rule.notify_texts, strict=True)
        ):
            rendered = self.one(f"notify.{index}.text", text, None) if text is not None else None
            out.append({"channel": channel.channel, "text": rendered})
        return out


def render_actions(rule: CompiledRule, context: AlertContext) -> PlannedActions:
    """Render the actions of a matched rule; raise RenderError naming every failed field."""
    renderer = _Renderer(rule, context)
    too, policy = renderer.too() if rule.spec.too is not None else (None, None)
    xrt = renderer.xrt(too) if rule.spec.xrt_products is not None else None
    notify = renderer.notify()
    if renderer.problems:
        raise RenderError(rule.name, renderer.problems)
    covered = renderer.covered
    return PlannedActions(
        rule=rule.name,
        digest=rule.digest,
        group_key=context.alert.group_key,
        too=too,
        too_policy=policy,
        xrt=xrt,
        notify=notify,
        too_targets=covered.bodies if covered is not None else [too] if too is not None else [],
        coverage=covered.plan if covered is not None else None,
    )
