"""Rules: rule files, CEL conditions, Jinja2 action templates, and the decisions they make.

Public API for the pipeline::

    ruleset = load_rules(config.rules)                       # ConfigError on any problem
    if ruleset.uses_astropy:                                 # at start, off the event loop
        await asyncio.to_thread(warm_up, now)
    if ruleset.uses_skymaps:                                 # likewise numpy, for sky maps
        await asyncio.to_thread(warm_up_skymaps)
    ctx = AlertContext(alert, earlier, now)                  # once per alert
    for decision in evaluate(ruleset, alert, earlier, now=now, context=ctx):
        if decision.matched:
            rule = ruleset.get(decision.rule)
            planned = render_actions(rule, ctx)              # RenderError if a field fails
"""

from autotoo.rules.compiled import CompiledRule, RuleSet
from autotoo.rules.context import AlertContext
from autotoo.rules.engine import Decision, PlannedActions, evaluate, render_actions
from autotoo.rules.errors import RenderError, RulesError
from autotoo.rules.loader import load_documents, load_rules
from autotoo.rules.models import Rule, RuleFile
from autotoo.rules.regions import warm_up_skymaps
from autotoo.rules.sky import warm_up


def rules_json_schema() -> dict[str, object]:
    """JSON Schema of a rule file (for ``autotoo schema`` and editor completion)."""
    schema = RuleFile.model_json_schema(by_alias=True)
    schema["title"] = "autotoo rule file"
    return schema


__all__ = [
    "AlertContext",
    "CompiledRule",
    "Decision",
    "PlannedActions",
    "RenderError",
    "Rule",
    "RuleFile",
    "RuleSet",
    "RulesError",
    "evaluate",
    "load_documents",
    "load_rules",
    "render_actions",
    "rules_json_schema",
    "warm_up",
    "warm_up_skymaps",
]
