"""Rules that name an account the config does not have: an error, found at load.

A rule's ``account`` names whose Swift credentials (and UKSSDC user id) send its requests.
The rules and the config are separate files, validated apart, so the check that the name
exists is made here, once both are loaded: ``autotoo run``, ``check-config`` and a reload
refuse the set with the rule's ``file:line:col`` (exit 78 at start; a reload keeps the
running set), rather than parking every request of the rule at its first submission.
"""

from __future__ import annotations

from autotoo.config.models import Config
from autotoo.config.problems import ConfigProblem
from autotoo.rules.compiled import RuleSet


def unknown_account_problems(config: Config, rules: RuleSet) -> list[ConfigProblem]:
    """One problem per rule whose ``account`` is neither ``default`` nor in ``accounts``."""
    known = config.account_names()
    problems = []
    for rule in rules.rules:
        account = rule.spec.account
        if account in known or rule.account_at is None:
            continue
        line, col, path = rule.account_at
        problems.append(
            ConfigProblem(
                rule.file,
                line,
                col,
                path,
                f"unknown account {account!r}: the config has {', '.join(known)} "
                "(add it under `accounts:` with its credentials)",
            )
        )
    return problems
