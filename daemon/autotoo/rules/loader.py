"""Load rule files: every problem in every file reported at once, each at file:line:col.

Three passes per file: YAML (duplicate keys refused), the pydantic models (typos, types,
durations), then compilation of what the models cannot check: CEL conditions (syntax,
unknown names and functions, placed at the column inside a multi-line ``when:``), Jinja2
templates, literal values against the TOO/XRT field tables, the TOO fields no request can do
without, the XRT request through the UKSSDC client's own check, and rule names unique across
all files (reported at the second occurrence). A rule that passes the model pass is still
compiled when another rule of its file does not.
"""

from __future__ import annotations

import copy as copy_module
import glob
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from autotoo.alerts.galaxies import Catalogue, CatalogueError, read_catalogue
from autotoo.config.problems import ConfigError, ConfigProblem
from autotoo.config.validate import problems_from_validation
from autotoo.config.yamlfile import PathKey, YamlDocument, dotted, load_yaml_file
from autotoo.rules.compiled import CompiledRule, Matcher, RuleSet, rule_digest
from autotoo.rules.conditions import CelCondition, Condition
from autotoo.rules.context import HELPER_NAMES
from autotoo.rules.errors import ConditionSyntaxError, TemplateCompileError
from autotoo.rules.fields import (
    TOO_FIELDS,
    TOO_ONE_OF,
    TOO_REQUIRED,
    XRT_GLOBALS,
    XRT_PRODUCT_PARAMS,
    FieldSpec,
    FieldType,
    coerce,
)
from autotoo.rules.models import ExplicitPosition, Rule, RuleFile, TooActionBase, too_fields
from autotoo.rules.needs import NOTHING, condition_needs
from autotoo.rules.references import condition_unknown_fields
from autotoo.rules.regions import REGION_HELPERS
from autotoo.rules.suggest import with_suggestions
from autotoo.rules.templates import Value, compile_value
from autotoo.xrtrequest.check import validate as check_xrt_request


def expand_paths(patterns: Iterable[str | Path]) -> tuple[list[Path], list[ConfigProblem]]:
    """Files named by paths or glob patterns, in the given order, each once."""
    files: list[Path] = []
    problems: list[ConfigProblem] = []
    for pattern in patterns:
        text = str(pattern)
        if glob.has_magic(text):
            found = [Path(p) for p in sorted(glob.glob(text))]  # noqa: PTH207 patterns are user text
            if not found:
                problems.append(ConfigProblem(text, 1, 1, "", "no rule file matches this pattern"))
        else:
            found = [Path(text)]
        files.extend(p for p in found if p not in files)
    return files, problems


class _FileCompiler:
    """Compiles the rules of one document, collecting located problems."""

    def __init__(self, doc: YamlDocument) -> None:
        self.doc = doc
        self.problems: list[ConfigProblem] = []

    def at(self, path: PathKey, message: str, *, key: bool = False) -> None:
        self.problems.append(self.doc.problem(path, message, prefer_key=key))

    def at_offset(self, path: PathKey, text: str, offset: int, message: str) -> None:
        line, col = self.doc.position_in_string(path, text, offset)
        self.problems.append(ConfigProblem(self.doc.file, line, col, dotted(path), message))

    def value(self, path: PathKey, raw: Any, spec: FieldSpec | None) -> Value | None:
        try:
            return compile_value(raw, spec)
        except TemplateCompileError as exc:
            lines = str(raw).split("\n")
            offset = sum(len(line) + 1 for line in lines[: exc.line - 1])
            self.at_offset(path, str(raw), offset, exc.message)
        except ValueError as exc:
            self.at(path, str(exc))
        return None

    def values(
        self, base: PathKey, raw: dict[str, Any], specs: dict[str, FieldSpec], what: str
    ) -> dict[str, Value]:
        out: dict[str, Value] = {}
        for name, item in raw.items():
            spec = specs.get(name)
            if spec is None:
                self.at((*base, name), f"unknown {what}", key=True)
                continue
            compiled = self.value((*base, name), item, spec)
            if compiled is not None:
                out[name] = compiled
        return out

    def condition(self, base: PathKey, rule: Rule) -> Condition | None:
        if rule.when is None:
            return None
        try:
            condition = CelCondition(rule.when, extra_functions=HELPER_NAMES)
        except ConditionSyntaxError as exc:
            self.at_offset((*base, "when"), rule.when, exc.offset, exc.message)
            return None
        misspelt = condition_unknown_fields(rule.when)
        for unknown in misspelt:
            self.at_offset((*base, "when"), rule.when, unknown.at, unknown.message)
        return None if misspelt else condition

    def xrt(
        self, base: PathKey, rule: Rule
    ) -> tuple[dict[str, Value], dict[str, dict[str, Value]]]:
        xrt = rule.xrt_products
        if xrt is None:
            return {}, {}
        where = (*base, "xrt_products")
        before = len(self.problems)
        globals_ = self.values((*where, "globals"), xrt.globals_, XRT_GLOBALS, "XRT global")
        products: dict[str, dict[str, Value]] = {
            name: self.values(
                (*where, "products", name), params, XRT_PRODUCT_PARAMS[name], f"{name} parameter"
            )
            for name, params in xrt.products.items()
        }
        after = xrt.submit == "after_observation"
        if after and rule.too is None:
            self.at(
                (*where, "submit"),
                "after_observation needs a too action in the same rule: its observation "
                "releases the job",
            )
        if len(self.problems) == before:
            # The UKSSDC request builder's own check (mandatory and dependent parameters).
            # The pipeline fills in the job name, RA/Dec from the position and, after an
            # observation, the target ID; templates count as set.
            runtime = {"name", "RA", "Dec", *(["targ"] if after else [])}
            found = check_xrt_request(
                _sample(globals_, XRT_GLOBALS),
                {name: _sample(v, XRT_PRODUCT_PARAMS[name]) for name, v in products.items()},
                runtime_globals=runtime,
            )
            for problem in found:
                self.at(where, f"XRT request: {problem}", key=True)
        return globals_, products

    def coverage(
        self, where: PathKey, too: TooActionBase, given: dict[str, Any]
    ) -> Catalogue | None:
        """Check the ``cover`` keys of a TOO and read its galaxy catalogue (once, here)."""
        if too.cover is None:
            for key in ("galaxies", "max_targets", "tile_patterns", "weight_by_proxy"):
                if key in too.model_fields_set:
                    self.at((*where, key), f"{key} is used only with cover: auto", key=True)
            return None
        if isinstance(too.position, ExplicitPosition):
            self.at((*where, "position"), "cover: auto plans the position itself", key=True)
        for name in ("tiling", "number_of_tiles"):
            if name in given:
                self.at((*where, name), f"cover: auto sets {name} itself", key=True)
        if "exposure_time_per_tile" not in given:
            self.at((*where, "cover"), "cover: auto needs exposure_time_per_tile (if it tiles)")
        if too.galaxies is None:
            return None
        path = Path(too.galaxies).expanduser()
        if not path.is_absolute() and Path(self.doc.file).is_file():
            path = Path(self.doc.file).parent / path
        try:
            return read_catalogue(path)
        except CatalogueError as exc:
            self.at((*where, "galaxies"), f"galaxy catalogue: {exc}")
            return None

    def rule(self, index: int, rule: Rule) -> CompiledRule | None:
        before = len(self.problems)
        base: PathKey = ("rules", index)
        condition = self.condition(base, rule)
        compiled_too: dict[str, Value] = {}
        position: dict[str, Value] = {}
        catalogue: Catalogue | None = None
        if rule.too is not None:
            given = too_fields(rule.too)
            for name in TOO_REQUIRED:
                if name not in given:
                    self.at((*base, "too"), f"a TOO needs {name}", key=True)
            for group in TOO_ONE_OF:
                if not any(name in given for name in group):
                    self.at((*base, "too"), "a TOO needs one of " + ", ".join(group), key=True)
            compiled_too = self.values((*base, "too"), given, TOO_FIELDS, "TOO field")
            if isinstance(rule.too.position, ExplicitPosition):
                coords = rule.too.position.model_dump()
                position = self.values(
                    (*base, "too", "position"), coords, _POSITION_SPECS, "position key"
                )
            self.value(
                (*base, "too", "uvot_fallback"), rule.too.uvot_fallback, TOO_FIELDS["uvot_mode"]
            )
            catalogue = self.coverage((*base, "too"), rule.too, given)
        xrt_globals, xrt_products = self.xrt(base, rule)
        texts = tuple(
            self.value((*base, "notify", i, "text"), c.text, None) if c.text is not None else None
            for i, c in enumerate(rule.channels())
        )
        if rule.too is None and rule.xrt_products is None and not rule.notify:
            self.at(base, "the rule has no action: give too, xrt_products or notify")
        if len(self.problems) > before:
            return None
        return CompiledRule(
            spec=rule,
            file=self.doc.file,
            line=self.doc.position(base)[0],
            digest=rule_digest(rule, catalogue),
            matcher=Matcher.build(rule),
            condition=condition,
            too=compiled_too,
            position=position,
            xrt_globals=xrt_globals,
            xrt_products=xrt_products,
            notify_texts=texts,
            galaxies=catalogue,
            needs=(
                condition_needs(rule.when, HELPER_NAMES, REGION_HELPERS)
                if rule.when is not None
                else NOTHING
            ),
            topics_at=tuple(
                (topic, *self.doc.position(where), dotted(where))
                for i, topic in enumerate(rule.match.topics)
                for where in [(*base, "match", "topics", i)]
            ),
            account_at=(*self.doc.position((*base, "account")), dotted((*base, "account")))
            if "account" in rule.model_fields_set
            else None,
        )


def _sample(values: dict[str, Value], specs: dict[str, FieldSpec]) -> dict[str, Any]:
    """Values as the XRT request builder will see them: literals coerced, templates replaced
    by a valid value of their type (their real value is known only per alert)."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        spec = specs[name]
        if value.template is None:
            out[name] = coerce(spec, value.literal)
        elif spec.choices:
            out[name] = spec.choices[0]
        else:
            out[name] = {
                FieldType.BOOL: True,
                FieldType.INT: 1,
                FieldType.FLOAT: 1.0,
            }.get(spec.kind, "x")
    return out


_POSITION_SPECS = {
    "ra": FieldSpec(FieldType.FLOAT, "RA, degrees"),
    "dec": FieldSpec(FieldType.FLOAT, "Dec, degrees"),
    "poserr": FieldSpec(FieldType.FLOAT, "error radius, arcmin"),
}


@dataclass(frozen=True, slots=True)
class _Salvaged:
    """A rule that failed the model, validated again without the keys that failed: compiled
    only to report the problems those keys did not cause (a CEL error, a bad ``obs_type``
    beside an unknown key), never run."""

    index: int
    rule: Rule
    removed: tuple[str, ...]  # dotted paths of the keys taken out

    def covers(self, problem: ConfigProblem) -> bool:
        """Whether ``problem`` may be an effect of a removed key (at it, under it, or at an
        ancestor, such as 'a TOO needs urgency' after a bad urgency was taken out)."""
        path = problem.path
        return any(
            path == r or r.startswith(path + ".") or path.startswith(r + ".") for r in self.removed
        )


def _without_failing_keys(
    item: Any, errors: list[tuple[str | int, ...]]
) -> tuple[Any, list[tuple[str | int, ...]]] | None:
    """A copy of ``item`` without the dict key nearest to each error (a list element's error
    takes out the whole list: its indexes must not shift); None when an error is at the rule
    itself (a missing ``name``), which no removal can fix."""
    copy = copy_module.deepcopy(item)
    removed: list[tuple[str | int, ...]] = []
    for loc in errors:
        node, parent, key = copy, None, None
        for seg in loc:
            if isinstance(node, dict) and isinstance(seg, str) and seg in node:
                parent, key = node, seg
                node = node[seg]
            elif isinstance(node, list) and isinstance(seg, int) and 0 <= seg < len(node):
                node = node[seg]
            else:
                break
        if parent is None or key is None:
            return None
        path = _key_path(copy, parent)
        if path is None:
            continue  # an ancestor was removed already
        del parent[key]
        removed.append((*path, key))
    return copy, removed


def _key_path(root: Any, target: Any) -> tuple[str | int, ...] | None:
    """The path of the dict ``target`` inside ``root`` (identity), or None."""
    if root is target:
        return ()
    if isinstance(root, dict):
        items: Iterable[tuple[str | int, Any]] = root.items()
    else:
        items = enumerate(root) if isinstance(root, list) else ()
    for key, value in items:
        if isinstance(value, dict | list):
            sub = _key_path(value, target)
            if sub is not None:
                return (key, *sub)
    return None


def _salvage(index: int, item: Any, exc: ValidationError) -> _Salvaged | None:
    """Take out the failing keys (up to three rounds: a removal can uncover another error)."""
    current, removed_all = item, []
    errors = [tuple(e["loc"][2:]) for e in exc.errors() if e["loc"][:2] == ("rules", index)]
    for _round in range(3):
        stripped = _without_failing_keys(current, errors)
        if stripped is None:
            return None
        current, removed = stripped
        removed_all += removed
        try:
            rule = Rule.model_validate(current)
        except ValidationError as again:
            errors = [tuple(e["loc"]) for e in again.errors()]
            continue
        dotted_removed = tuple(dotted(("rules", index, *path)) for path in removed_all)
        return _Salvaged(index, rule, dotted_removed)
    return None


def _validated_rules(
    doc: YamlDocument, problems: list[ConfigProblem]
) -> tuple[list[tuple[int, Rule]], list[_Salvaged]]:
    """Rules of the document that pass the model, even when others in the file do not; and
    those that do not, salvaged for the problems the model cannot see."""
    if doc.data is None:
        return [], []
    try:
        return list(enumerate(RuleFile.model_validate(doc.data).rules)), []
    except ValidationError as exc:
        found = _one_per_place(problems_from_validation(doc, exc))
        problems.extend(with_suggestions(RuleFile, found))
        bad = {
            err["loc"][1]
            for err in exc.errors()
            if len(err["loc"]) > 1 and err["loc"][0] == "rules"
        }
        failed = exc
    items = doc.data.get("rules") if isinstance(doc.data, dict) else None
    if not isinstance(items, list):
        return [], []
    good = [(i, Rule.model_validate(item)) for i, item in enumerate(items) if i not in bad]
    salvaged = [
        s
        for i in sorted(b for b in bad if isinstance(b, int) and b < len(items))
        if (s := _salvage(i, items[i], failed)) is not None
    ]
    return good, salvaged


def load_documents(docs: Iterable[YamlDocument]) -> RuleSet:
    """Compile already-parsed rule documents (tests and ``check-config`` share this)."""
    problems: list[ConfigProblem] = []
    rules: list[CompiledRule] = []
    first_seen: dict[str, str] = {}
    files: list[str] = []
    for doc in docs:
        files.append(doc.file)
        compiler = _FileCompiler(doc)
        good, salvaged = _validated_rules(doc, problems)
        for partial in salvaged:
            scratch = _FileCompiler(doc)
            scratch.rule(partial.index, partial.rule)
            problems.extend(p for p in scratch.problems if not partial.covers(p))
        for index, rule in good:
            where = doc.position(("rules", index, "name"))
            if rule.name in first_seen:
                compiler.at(
                    ("rules", index, "name"),
                    f"duplicate rule name {rule.name!r} (first defined at {first_seen[rule.name]})",
                )
            else:
                first_seen[rule.name] = f"{doc.file}:{where[0]}:{where[1]}"
            compiled = compiler.rule(index, rule)
            if compiled is not None:
                rules.append(compiled)
        problems.extend(compiler.problems)
    if problems:
        raise ConfigError(problems)
    return RuleSet(tuple(rules), tuple(files))


def load_rules(patterns: Iterable[str | Path]) -> RuleSet:
    """Load every rule file named by ``patterns`` (paths or globs); raise ConfigError listing
    every problem in every file."""
    files, problems = expand_paths(patterns)
    docs: list[YamlDocument] = []
    for path in files:
        try:
            docs.append(load_yaml_file(path))
        except ConfigError as exc:
            problems.extend(exc.problems)
    try:
        ruleset = load_documents(docs)
    except ConfigError as exc:
        problems.extend(exc.problems)
    if problems:
        raise ConfigError(problems)
    return ruleset


def _one_per_place(problems: list[ConfigProblem]) -> list[ConfigProblem]:
    """One model problem per place: a union (``notify: [pager]``) fails every alternative."""
    seen: set[tuple[str, int, int, str]] = set()
    out = []
    for problem in problems:
        place = (problem.file, problem.line, problem.col, problem.path)
        if place not in seen:
            seen.add(place)
            out.append(problem)
    return out
