"""Rule conditions: a tiny :class:`Condition` protocol and its CEL implementation.

CEL (``common-expression-language``, Rust via PyO3) was chosen for speed, a safe non-Turing
complete language and loud errors on misspelt fields (docs/architecture.md says why). It
is wrapped here so a pure-Python CEL (celpy, the same language) could replace it.

Explanations: a condition ``a && b && c`` is compiled as a whole *and* as its top-level
conjuncts; evaluation runs the conjuncts in order, so a non-match names the first false one,
exactly as ``&&`` short-circuits. A condition whose top level is ``||`` or a ternary is
evaluated whole. Fail closed: any error, and any non-boolean result, is a non-match that
carries the error text and the clause that produced it.

A false clause that calls a region function (``area``, ``prob_in_fov``, ``distance``,
``contains``, ``prob_above_horizon``) also says what each call gave, e.g.
``distance(alert).mean = 390.2``: an astronomer reading a decision sees why without
re-running it. The calls (with any ``.field`` after them) are compiled apart with the
clause, and evaluated again only when the clause is false; a call that cannot be evaluated
alone (a macro's variable) is left out.
"""

from __future__ import annotations

import difflib
import importlib.machinery
import importlib.util
import re
import sys
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any, NamedTuple, Protocol

from autotoo.rules.errors import ConditionSyntaxError


def _load_cel() -> ModuleType:
    """The compiled CEL binding, ``cel.cel``, without running ``cel/__init__.py``.

    That ``__init__`` imports ``cel.cli``, the package's command-line tool, and with it typer,
    Rich and prompt_toolkit: 60-130 ms of every daemon start, for nothing the daemon uses.
    ``Context`` and ``compile`` live in the extension module itself. It is registered as
    ``cel.cel``, so a later ``import cel`` (tests, the ``cel`` tool) reuses it.
    """
    loaded = sys.modules.get("cel.cel")
    if loaded is not None:
        return loaded
    package = importlib.util.find_spec("cel")  # finds the package without importing it
    locations = package.submodule_search_locations if package else None
    spec = importlib.machinery.PathFinder.find_spec("cel.cel", locations)
    if spec is None or spec.loader is None:  # an unexpected layout: import it the usual way
        return importlib.import_module("cel.cel")
    module = importlib.util.module_from_spec(spec)
    sys.modules["cel.cel"] = module
    spec.loader.exec_module(module)
    return module


cel = _load_cel()

#: The variables a condition may read (see ``docs/rules.md``).
CONTEXT_VARIABLES = frozenset({"alert", "event", "raw", "now", "optional"})

#: CEL built-in functions of the installed binding (checked by a test against the binding).
BUILTIN_FUNCTIONS = frozenset(
    {
        "size", "contains", "startsWith", "endsWith", "matches",
        "int", "uint", "double", "string", "bytes", "type", "dyn",
        "timestamp", "duration", "of",
        "getFullYear", "getMonth", "getDate", "getDayOfMonth", "getDayOfWeek",
        "getDayOfYear", "getHours", "getMinutes", "getSeconds", "getMilliseconds",
    }
)  # fmt: skip

_MACRO_VAR = re.compile(r"\.\s*(?:all|exists|exists_one|map|filter)\s*\(\s*([A-Za-z_]\w*)\s*,")
_CEL_POSITION = re.compile(r"<input>:(\d+):(\d+):\s*(.*)")


class Outcome(NamedTuple):
    """Result of one condition: ``clause`` is the deciding part of the source when known.

    A NamedTuple: immutable (a true condition returns one shared instance) and the cheapest
    record to create, once per rule per alert.
    """

    matched: bool
    clause: str | None = None
    error: str | None = None
    measured: str | None = None  # what the clause's region functions gave, when false


class Condition(Protocol):
    source: str

    @property
    def variables(self) -> frozenset[str]: ...

    def evaluate(self, activation: Any) -> Outcome: ...


def make_activation(variables: dict[str, Any], functions: dict[str, Callable[..., Any]]) -> Any:
    """The per-alert evaluation context, built once and shared by every rule."""
    return cel.Context(variables=variables, functions=functions)


def _offset(source: str, line: int, col: int) -> int:
    lines = source.split("\n")
    return sum(len(text) + 1 for text in lines[: line - 1]) + col - 1


def _compile(source: str, base: int = 0) -> Any:
    try:
        return cel.compile(source)
    except ValueError as exc:
        text = str(exc)
        found = _CEL_POSITION.search(text)
        if found is None:
            raise ConditionSyntaxError(f"invalid condition: {text.splitlines()[0]}", base) from None
        line, col, message = int(found.group(1)), int(found.group(2)), found.group(3)
        message = message.replace("Syntax error: ", "")
        if len(message) > 120:  # CEL lists every expected token; the position says enough
            message = message.split(" expecting ")[0]
        raise ConditionSyntaxError(
            f"condition syntax error: {message}", base + _offset(source, line, col)
        ) from None


def _skip_string(source: str, i: int) -> int:
    """Index just past the string literal starting at ``source[i]`` (a quote character)."""
    raw = i > 0 and source[i - 1] in "rR"
    quote = source[i : i + 3] if source[i : i + 3] in {'"""', "'''"} else source[i]
    j = i + len(quote)
    while j < len(source):
        if not raw and source[j] == "\\":
            j += 2
            continue
        if source.startswith(quote, j):
            return j + len(quote)
        j += 1
    return j


def split_top_level(source: str, operator: str) -> list[tuple[int, str]]:
    """Split at ``operator`` (``&&`` or ``||``) outside brackets and strings.

    Returns ``[(offset, text)]``; a single element when the operator does not appear at top
    level, or when a top-level ternary makes splitting change the meaning.
    """
    parts: list[tuple[int, str]] = []
    depth, start, i = 0, 0, 0
    while i < len(source):
        ch = source[i]
        if ch in "\"'":
            i = _skip_string(source, i)
            continue
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0 and ch == "?":
            return [(0, source)]
        elif depth == 0 and source.startswith(operator, i):
            parts.append((start, source[start:i]))
            start = i + len(operator)
            i = start
            continue
        i += 1
    parts.append((start, source[start:]))
    return parts


def did_you_mean(name: str, known: list[str]) -> str:
    """`` (did you mean 'x'?)`` for a near miss, else nothing."""
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _first_identifier_offset(source: str, name: str) -> int:
    found = re.search(rf"(?<![\w.]){re.escape(name)}\b", source)
    return found.start() if found else 0


_PATH = re.compile(r"(?<![\w.])(?:alert|event|raw)(?:\s*\.\s*[A-Za-z_]\w*)+")


def _null_fields(clause: str, activation: Any) -> list[str]:
    """The ``alert.x.y`` paths of a clause that are null in this activation (error path only:
    reading ``variables`` converts the context back to Python)."""
    try:
        variables = activation.variables
    except Exception:  # noqa: BLE001 only an explanation: never fail because of it
        return []
    nulls = []
    for found in _PATH.finditer(clause):
        path = [part.strip() for part in found.group(0).split(".")]
        node: Any = variables
        for part in path:
            node = node.get(part, ...) if isinstance(node, dict) else ...
        if node is None:
            nulls.append(".".join(path))
    return list(dict.fromkeys(nulls))


def _short_error(exc: Exception, clause: str, activation: Any) -> str:
    if isinstance(exc, KeyError):
        return f"no such field {exc.args[0]!r}" if exc.args else "no such field"
    text = str(exc).split(". ")[0]
    if text.startswith(("No such overload", "Unsupported")):  # a type mismatch
        nulls = _null_fields(clause, activation)
        if nulls:
            return f"{', '.join(nulls)} {'is' if len(nulls) == 1 else 'are'} null"
        if text.startswith("Unsupported"):
            return f"{text} (CEL does not mix int and double: write 2.0, or double(x))"
        return (
            "operands of incompatible types (e.g. a list or text compared with a number, "
            "or int with double: write 2.0)"
        )
    return text


#: The functions whose values a false clause reports (see the module docstring).
MEASURED_FUNCTIONS = ("area", "prob_in_fov", "distance", "contains", "prob_above_horizon")
_MEASURED_CALL = re.compile(r"(?<![\w.])(?:" + "|".join(MEASURED_FUNCTIONS) + r")\s*\(")
_FIELDS_AFTER = re.compile(r"(?:\s*\.\s*[A-Za-z_]\w*(?!\w|\s*\())*")


def measured_calls(clause: str) -> list[str]:
    """The region function calls of a clause, outermost only, each with the ``.field``
    accessors that follow it (``distance(alert).mean``), in order."""
    calls: list[str] = []
    i = 0
    while i < len(clause):
        if clause[i] in "\"'":
            i = _skip_string(clause, i)
            continue
        found = _MEASURED_CALL.match(clause, i)
        if found is None or (i > 0 and (clause[i - 1].isalnum() or clause[i - 1] in "_.")):
            i += 1
            continue
        depth, j = 1, found.end()
        while j < len(clause) and depth:
            if clause[j] in "\"'":
                j = _skip_string(clause, j)
                continue
            depth += {"(": 1, ")": -1}.get(clause[j], 0)
            j += 1
        if depth:
            break
        fields = _FIELDS_AFTER.match(clause, j)
        end = fields.end() if fields else j
        calls.append(clause[i:end].strip())
        i = end
    return calls


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_shown(v)}" for k, v in value.items()) + "}"
    return repr(value)[:60]


def _measure(probes: tuple[tuple[str, Any], ...], activation: Any) -> str | None:
    """``call = value`` for each probe that evaluates (explanation only: never raises)."""
    shown = []
    for text, program in probes:
        try:
            value = program.execute(activation)
        except Exception:  # noqa: BLE001, S112 a call that needs a macro's variable, or fails
            continue
        shown.append(f"{text} = {_shown(value)}")
    return ", ".join(shown) or None


def _probes(clause: str) -> tuple[tuple[str, Any], ...]:
    probes = []
    for call in dict.fromkeys(measured_calls(clause)):
        try:
            probes.append((call, cel.compile(call)))
        except ValueError:  # not an expression on its own: it is left out of explanations
            continue
    return tuple(probes)


class CelCondition:
    """A compiled CEL condition; see the module docstring for clause explanations."""

    def __init__(self, source: str, *, extra_functions: Iterable[str] = ()) -> None:
        self.source = source
        self._program = _compile(source)
        self._variables = frozenset(self._program.variables())
        self._check_names(frozenset(extra_functions))
        # && binds tighter than ||: with a top-level ||, "a && b || c" is "(a && b) || c",
        # so only a condition without one is split into conjuncts.
        has_or = len(split_top_level(source, "||")) > 1
        conjuncts = [(0, source)] if has_or else split_top_level(source, "&&")
        # The steps evaluate() runs in order: the conjuncts (same text, parsed separately, so
        # syntax errors were already excluded by compiling the whole), or the whole condition.
        steps: tuple[tuple[str, Any], ...] = (
            tuple((text.strip(), _compile(text, at)) for at, text in conjuncts)
            if len(conjuncts) > 1
            else ((source.strip(), self._program),)
        )
        # Each step with the region function calls whose values a false one reports.
        self._steps = tuple((text, program, _probes(text)) for text, program in steps)

    @property
    def variables(self) -> frozenset[str]:
        return self._variables

    def _check_names(self, helpers: frozenset[str]) -> None:
        bound = set(_MACRO_VAR.findall(self.source))
        for name in sorted(self._variables - CONTEXT_VARIABLES - bound):
            readable = sorted(CONTEXT_VARIABLES - {"optional"})
            raise ConditionSyntaxError(
                f"unknown name {name!r}{did_you_mean(name, readable)}: a condition can read "
                + ", ".join(readable),
                _first_identifier_offset(self.source, name),
            )
        for name in self._program.functions():
            if name[0] in "_@!" or name in BUILTIN_FUNCTIONS or name in helpers:
                continue
            known = sorted(BUILTIN_FUNCTIONS | helpers)
            raise ConditionSyntaxError(
                f"unknown function {name!r}{did_you_mean(name, known)}",
                _first_identifier_offset(self.source, name),
            )

    def evaluate(self, activation: Any) -> Outcome:
        # Hot path (once per rule per alert): no helper calls, shared result when true.
        for text, program, probes in self._steps:
            try:
                result = program.execute(activation)
            except Exception as exc:  # noqa: BLE001 fail closed: any error is a non-match
                error = _short_error(exc, text, activation)
                return Outcome(matched=False, clause=text, error=error)
            if result is not True:
                if result is False:
                    measured = _measure(probes, activation) if probes else None
                    return Outcome(matched=False, clause=text, measured=measured)
                shown = repr(result)[:60]
                return Outcome(matched=False, clause=text, error=f"not a boolean: {shown}")
        return _TRUE


_TRUE = Outcome(matched=True)
