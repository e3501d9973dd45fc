"""Load-time check of a rule's XRT product request (pure: nothing is sent).

The rule loader calls :func:`validate` with the rule's ``globals`` and ``products`` so that a
misspelt parameter or a missing mandatory one is reported when the rules are loaded, not when
the first alert fires.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from autotoo.xrtrequest.errors import ParameterError, ParameterTypeError, ProductError
from autotoo.xrtrequest.request import XrtRequest


def validate(
    globals_: Mapping[str, Any],
    products: Mapping[str, Mapping[str, Any]],
    *,
    runtime_globals: Iterable[str] = (),
) -> list[str]:
    """Problems of a rule's product request, one line each; empty means valid.

    ``runtime_globals`` names the globals the pipeline fills in when the rule fires (``name``,
    ``targ``, ``RA``/``Dec``...), so their absence in the rule file is not a problem.
    """
    req = XrtRequest("rule-check@example.org")
    problems: list[str] = []
    try:
        req.set_globals(**globals_)
    except (ParameterError, ParameterTypeError) as exc:
        problems.append(str(exc))
    for name, pars in products.items():
        try:
            req.add_product(name, **pars)
        except (ParameterError, ParameterTypeError, ProductError) as exc:
            problems.append(f"{name}: {exc}")
    if problems:
        return problems
    ok, report = req.is_valid(assume_set=runtime_globals)
    if ok:
        return []
    return _report_lines(report)


def _report_lines(report: str) -> list[str]:
    lines: list[str] = []
    section = ""
    for line in report.splitlines()[1:]:
        if line.endswith(" problems:"):
            section = line.removesuffix(" problems:")
        elif line.startswith("* "):
            text = line.removeprefix("* ")
            lines.append(f"{section}: {text}" if section else text)
    return list(dict.fromkeys(lines))
