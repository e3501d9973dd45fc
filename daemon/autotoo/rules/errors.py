"""Errors of the rules subsystem.

RulesError                 root: anything the rules subsystem raises on purpose
├── ConditionSyntaxError   a ``when`` condition does not compile (``offset`` into its text)
├── TemplateCompileError   a template does not compile (``line`` within the template)
└── RenderError            actions of a matched rule could not be rendered for this alert
                           (``problems`` lists every field that failed)

Loading never raises these directly: :func:`autotoo.rules.engine.load_rules` turns them into
located :class:`autotoo.config.problems.ConfigError` problems, like every other file error.
Evaluation never raises at all: an error in a condition is a non-match (fail closed).
"""

from __future__ import annotations


class RulesError(Exception):
    """Root of the rules subsystem's errors."""


class ConditionSyntaxError(RulesError):
    def __init__(self, message: str, offset: int) -> None:
        self.message = message
        self.offset = offset
        super().__init__(message)


class TemplateCompileError(RulesError):
    def __init__(self, message: str, line: int) -> None:
        self.message = message
        self.line = line
        super().__init__(message)


class RenderError(RulesError):
    """``problems`` maps a dotted field path (``too.source_name``) to what went wrong."""

    def __init__(self, rule: str, problems: dict[str, str]) -> None:
        self.rule = rule
        self.problems = problems
        detail = "; ".join(f"{path}: {msg}" for path, msg in problems.items())
        super().__init__(f"rule {rule}: cannot render actions: {detail}")
