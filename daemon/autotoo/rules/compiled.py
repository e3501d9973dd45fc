"""Loaded rules: the validated model plus everything compiled from it, and the rule set index.

The index exists for throughput: an alert is checked only against the rules whose exact
topic list contains its topic, the rules without topics whose mission list contains its
mission, and the rules that cannot be indexed (topic wildcards, or neither filter). Most
of a large rule set is therefore never looked at for a given alert.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field

from autotoo.alerts.galaxies import Catalogue
from autotoo.alerts.model import NormalizedAlert
from autotoo.alerts.topics import normalize_topic, topic_matches
from autotoo.config.models import DEFAULT_ACCOUNT
from autotoo.rules.conditions import Condition
from autotoo.rules.models import Rule
from autotoo.rules.needs import NOTHING, Needs, blank_strings, calls_any
from autotoo.rules.regions import REGION_HELPERS
from autotoo.rules.sky import ASTROPY_HELPERS
from autotoo.rules.templates import Value


def _listing(values: frozenset[str] | tuple[str, ...]) -> str:
    return "[" + ", ".join(sorted(values)) + "]"


def _is_pattern(topic: str) -> bool:
    return "+" in topic.split(".") or topic.endswith(".#") or topic == "#"


def _lower(values: list[str]) -> frozenset[str]:
    return frozenset(v.lower() for v in values)


@dataclass(frozen=True, slots=True)
class Matcher:
    """The cheap ``match`` filters, normalised once at load."""

    topics: tuple[str, ...] = ()
    exact_topics: frozenset[str] = frozenset()
    topic_patterns: tuple[str, ...] = ()  # MQTT-style: + is one level, a final # the rest
    missions: frozenset[str] = frozenset()
    notice_types: frozenset[str] = frozenset()
    kinds: frozenset[str] = frozenset()
    instruments: frozenset[str] = frozenset()
    listings: dict[str, str] = field(default_factory=dict)  # for reasons, formatted once

    @classmethod
    def build(cls, rule: Rule) -> Matcher:
        topics = tuple(normalize_topic(t) for t in rule.match.topics)
        patterns = tuple(t for t in topics if _is_pattern(t))
        exact = frozenset(t for t in topics if not _is_pattern(t))
        return cls(
            topics=topics,
            exact_topics=exact,
            topic_patterns=patterns,
            missions=_lower(rule.match.missions),
            notice_types=_lower(rule.match.notice_types),
            kinds=frozenset(rule.match.kinds),
            instruments=_lower(rule.match.instruments),
            listings={
                name: _listing(tuple(values))
                for name, values in (
                    ("topics", topics),
                    ("missions", _lower(rule.match.missions)),
                    ("notice_types", _lower(rule.match.notice_types)),
                    ("kinds", frozenset(rule.match.kinds)),
                    ("instruments", _lower(rule.match.instruments)),
                )
            },
        )

    @property
    def indexable(self) -> bool:
        """True when the rule can only ever match one of its exact topics."""
        return bool(self.exact_topics) and not self.topic_patterns

    def reject(self, alert: NormalizedAlert, topic: str | None) -> str | None:
        """Why the alert is filtered out (``"missions: ..."``), or None when it passes."""
        if self.topics:
            if topic is None:
                return "topics: the alert came without a topic"
            if topic not in self.exact_topics and not any(
                topic_matches(p, topic) for p in self.topic_patterns
            ):
                return f"topics: {topic} not in {self.listings['topics']}"
        if self.missions and alert.mission.lower() not in self.missions:
            return f"missions: {alert.mission} not in {self.listings['missions']}"
        if self.notice_types and alert.notice_type.lower() not in self.notice_types:
            return f"notice_types: {alert.notice_type} not in {self.listings['notice_types']}"
        if self.kinds and alert.kind not in self.kinds:
            return f"kinds: {alert.kind} not in {self.listings['kinds']}"
        if self.instruments and (alert.instrument or "").lower() not in self.instruments:
            return f"instruments: {alert.instrument} not in {self.listings['instruments']}"
        return None


@dataclass(frozen=True, slots=True)
class CompiledRule:
    spec: Rule
    file: str
    line: int
    digest: str  # content hash: records say which version of a rule decided
    matcher: Matcher
    condition: Condition | None
    too: dict[str, Value] = field(default_factory=dict)
    position: dict[str, Value] = field(default_factory=dict)  # explicit ra/dec/poserr
    xrt_globals: dict[str, Value] = field(default_factory=dict)
    xrt_products: dict[str, dict[str, Value]] = field(default_factory=dict)
    notify_texts: tuple[Value | None, ...] = ()
    galaxies: Catalogue | None = None  # the TOO's galaxy catalogue (cover: auto), read at load
    needs: Needs = NOTHING  # what the condition reads of the alert (see .needs)
    # Where each of match.topics is written: (topic, line, col, dotted path), for warnings.
    topics_at: tuple[tuple[str, int, int, str], ...] = ()
    # Where `account` is written (line, col, dotted path); None: not written (the default).
    account_at: tuple[int, int, str] | None = None
    # (uses_astropy, uses_skymaps), worked out once: scanning every text of a rule took
    # ~0.1 ms, and the processor asked for each rule of each alert (bench.skymap_path's
    # profile: ~8 ms of every alert's path with 101 rules).
    _uses: tuple[bool, bool] = field(init=False, repr=False, compare=False)
    # Every name the rule's templates read: rendering builds only those (an event's view
    # and the raw payload's conversion cost per matched rule, and most templates read
    # a field or two of the alert).
    template_names: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        skymaps = self.spec.too is not None and self.spec.too.cover is not None
        uses = (self._calls(ASTROPY_HELPERS), skymaps or self._calls(REGION_HELPERS))
        object.__setattr__(self, "_uses", uses)
        names = frozenset().union(*(v.names for v in self._values()))
        object.__setattr__(self, "template_names", names)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    @property
    def uses_astropy(self) -> bool:
        return self._uses[0]

    @property
    def uses_skymaps(self) -> bool:
        """Whether the condition or a template may call a region function, or the TOO plans
        its coverage (numpy either way)."""
        return self._uses[1]

    def _calls(self, names: frozenset[str]) -> bool:
        """Whether a name is called (``name(``) outside the condition's string literals or in
        any template (conservative: a false positive only warms a module up for nothing)."""
        when = blank_strings(self.spec.when or "")
        texts = [when, *(str(v.literal) for v in self._values() if v.template)]
        return any(calls_any(text, names) for text in texts)

    def _values(self) -> list[Value]:
        nested = [v for params in self.xrt_products.values() for v in params.values()]
        notify = [v for v in self.notify_texts if v is not None]
        return [
            *self.too.values(),
            *self.position.values(),
            *self.xrt_globals.values(),
            *nested,
            *notify,
        ]


def rule_digest(rule: Rule, catalogue: Catalogue | None = None) -> str:
    """SHA-256 of the rule's canonical JSON: the same rule text in any layout, same digest
    (and the galaxy catalogue's digest with it: new galaxies, a new version of the rule)."""
    data = rule.model_dump(mode="json", by_alias=True)
    if data.get("account") == DEFAULT_ACCOUNT:
        del data["account"]  # added in schema 7: the rules that do not name one keep their digest
    canonical = json.dumps(data, sort_keys=True)
    if catalogue is not None:
        canonical += catalogue.digest
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


class RuleSet:
    """Loaded rules in file order, with a topic index for the hot path."""

    def __init__(self, rules: tuple[CompiledRule, ...], files: tuple[str, ...] = ()) -> None:
        self.rules = rules
        self.files = files
        self._by_name = {r.name: r for r in rules}
        self._by_topic: dict[str, list[int]] = {}
        self._by_mission: dict[str, list[int]] = {}
        self._unindexed: list[int] = []
        for index, rule in enumerate(rules):
            matcher = rule.matcher
            if not rule.spec.enabled:
                continue
            if matcher.indexable:
                for topic in matcher.exact_topics:
                    self._by_topic.setdefault(topic, []).append(index)
            elif matcher.missions and not matcher.topics:
                for mission in matcher.missions:
                    self._by_mission.setdefault(mission, []).append(index)
            else:
                self._unindexed.append(index)
        self._candidates: dict[tuple[str | None, str], tuple[tuple[CompiledRule, ...], Needs]] = {}
        self.all_needs = _union(rules)
        self._uses_astropy = any(rule.uses_astropy for rule in rules)
        self._uses_skymaps = any(rule.uses_skymaps for rule in rules)

    def __len__(self) -> int:
        return len(self.rules)

    def __iter__(self) -> Iterator[CompiledRule]:
        return iter(self.rules)

    def get(self, name: str) -> CompiledRule | None:
        return self._by_name.get(name)

    @functools.cached_property
    def priorities(self) -> dict[str, int]:
        """Each rule's ``priority`` (arbitration between rules of one transient)."""
        return {rule.name: rule.spec.priority for rule in self.rules}

    @property
    def uses_astropy(self) -> bool:
        """Whether any condition or template may call an astropy-backed helper (then the
        daemon should call :func:`autotoo.rules.warm_up` at start, off the event loop)."""
        return self._uses_astropy

    @property
    def uses_skymaps(self) -> bool:
        """Whether any condition or template may call a region function (then the daemon
        should call :func:`autotoo.rules.warm_up_skymaps` at start, off the event loop);
        asked by the processor's every round."""
        return self._uses_skymaps

    @property
    def digest(self) -> str:
        joined = ",".join(f"{r.name}={r.digest}" for r in self.rules)
        return hashlib.sha256(joined.encode()).hexdigest()[:16]

    def candidates(self, topic: str | None, mission: str) -> tuple[tuple[CompiledRule, ...], Needs]:
        """Enabled rules that might match an alert on ``topic`` from ``mission``, in file
        order, and what their conditions read (memoised: there are few distinct pairs)."""
        key = (topic, mission)
        found = self._candidates.get(key)
        if found is None:
            indices = sorted(
                {
                    *self._by_topic.get(topic or "", ()),
                    *self._by_mission.get(mission.lower(), ()),
                    *self._unindexed,
                }
            )
            rules = tuple(self.rules[i] for i in indices)
            found = (rules, _union(rules))
            if len(self._candidates) < 4096:  # a bound against an endless stream of topics
                self._candidates[key] = found
        return found


def _union(rules: tuple[CompiledRule, ...]) -> Needs:
    needs = NOTHING
    for rule in rules:
        needs |= rule.needs
    return needs
