"""Literal-or-template values of actions: sandboxed Jinja2, compiled at load.

A string value containing ``{{``, ``{%`` or ``{#`` is a template; anything else is a literal
and is never parsed (so a ``%`` in a justification needs no escaping). Templates run in
Jinja2's :class:`~jinja2.sandbox.ImmutableSandboxedEnvironment` (no ``__class__`` walks, and
no ``dict.update``: every rule of an alert shares one context, which no template may change) with
:class:`~jinja2.StrictUndefined` (a misspelt field is an error, never an empty string) and
autoescaping off (the output is request text, not HTML). They see the same ``alert``,
``event``, ``raw``, ``now`` and helper functions as conditions, plus ``rule`` (the rule name).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, meta
from jinja2.sandbox import ImmutableSandboxedEnvironment

from autotoo.rules.conditions import did_you_mean
from autotoo.rules.context import HELPER_NAMES
from autotoo.rules.errors import TemplateCompileError
from autotoo.rules.fields import CoercionError, FieldSpec, coerce
from autotoo.rules.references import template_unknown_fields

TEMPLATE_VARIABLES = frozenset({"alert", "event", "raw", "now", "rule"})
_MARKERS = ("{{", "{%", "{#")


def _swift_time(value: Any) -> str:
    """``2026-04-30T02:32:47.999Z`` style UTC text, the form the Swift TOO API takes."""
    if not isinstance(value, datetime):
        raise TemplateError(f"swift_time needs a timestamp, got {value!r}")
    return value.strftime("%Y-%m-%dT%H:%M:%S")


def _environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True
    )
    env.filters["swift_time"] = _swift_time
    return env


ENV = _environment()


def is_template(value: object) -> bool:
    return isinstance(value, str) and any(marker in value for marker in _MARKERS)


@dataclass(frozen=True, slots=True)
class Value:
    """One action value: a literal, or a compiled template plus the names it reads."""

    literal: object
    template: Any = None  # jinja2.Template when the literal is template text
    names: frozenset[str] = frozenset()  # the variables and helpers the template reads
    # A literal as read for the field it was compiled for (most action values are literals,
    # and coercing them again cost every matched rule of every alert ~3 us a field).
    literal_as: tuple[FieldSpec, object] | None = None

    def render(self, variables: dict[str, Any], spec: FieldSpec | None) -> object:
        """Render and coerce to the field's type; raise ValueError (with the reason)."""
        if self.template is None:
            if self.literal_as is not None and self.literal_as[0] is spec:
                return self.literal_as[1]
            out = self.literal
        else:
            try:
                out = self.template.render(variables)
            except TemplateError as exc:
                raise ValueError(f"template error: {exc.message or exc}") from None
            except (ArithmeticError, TypeError, ValueError, LookupError) as exc:
                raise ValueError(f"template error: {exc}") from None
        if spec is None:
            return out
        try:
            return coerce(spec, out)
        except CoercionError as exc:
            raise ValueError(str(exc)) from None


def compile_value(value: object, spec: FieldSpec | None) -> Value:
    """Compile a template (or check a literal against ``spec``) at load time.

    Raises TemplateCompileError for template syntax errors and unknown names, ValueError
    for a literal of the wrong type.
    """
    if not is_template(value):
        if spec is None:
            return Value(literal=value)
        # raises CoercionError (a ValueError) with the reason
        return Value(literal=value, literal_as=(spec, coerce(spec, value)))
    assert isinstance(value, str)
    try:
        parsed = ENV.parse(value)
        template = ENV.from_string(parsed)
    except TemplateSyntaxError as exc:
        raise TemplateCompileError(f"template syntax error: {exc.message}", exc.lineno) from None
    names = meta.find_undeclared_variables(parsed)
    unknown = sorted(names - TEMPLATE_VARIABLES - HELPER_NAMES)
    if unknown:
        readable = ", ".join(sorted(TEMPLATE_VARIABLES))
        raise TemplateCompileError(
            f"unknown name {unknown[0]!r}{did_you_mean(unknown[0], sorted(TEMPLATE_VARIABLES))} "
            f"in template: templates can read {readable}",
            _line_of(value, unknown[0]),
        )
    misspelt = template_unknown_fields(parsed)
    if misspelt:
        first = misspelt[0]
        raise TemplateCompileError(f"{first.message} in template", first.at)
    # A plain dict instead of jinja's ChainMap of the environment's globals: every render
    # copies the globals, and copying a ChainMap costs ~5 us against ~0.3 us for a dict.
    # Nothing changes the environment's globals after start.
    template.globals = dict(template.globals)
    return Value(literal=value, template=template, names=frozenset(names))


def _line_of(text: str, name: str) -> int:
    for number, line in enumerate(text.splitlines(), start=1):
        if name in line:
            return number
    return 1
