"""Which parts of the alert a condition reads, so the per-alert CEL context stays small.

The CEL binding converts every value of its context from Python up front, at a few
microseconds per value: handing it the whole normalized alert plus its raw payload costs
~100-200 us per alert, more than all the rules' evaluations together. So each condition is
scanned at load for the names it reads (``alert.error_deg``, ``alert.raw.net_count_rate``,
``raw.SNR``, ``event...``) and the context holds only the union over the rules that reach
their condition.

The scan is conservative: anything it cannot follow (``alert[...]``, ``alert`` passed to a
function that is not one of our helpers, a method called on ``alert.raw``) means "all of
it". Getting it wrong can only make the context larger, never drop a field a rule reads;
an unknown field stays an error (fail closed) because it is not in the full view either.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: The alert fields our helpers read when given ``alert`` (or any other alert map): the
#: position helpers' and the region functions' (``rules/regions.py``: ``REGION_FIELDS``).
HELPER_FIELDS = frozenset(
    {"ra", "dec", "error_deg", "trigger_time", "error_confidence", "ellipse", "skymap"}
)

ROOTS = re.compile(r"(?<![\w.])(alert|raw|event)\b")
_MEMBER = re.compile(r"\s*\.\s*([A-Za-z_]\w*)")
_CALL_BEFORE = re.compile(r"([A-Za-z_]\w*)\s*\(\s*(?:[^()]*,\s*)?$")


@dataclass(frozen=True, slots=True)
class Needs:
    """``None`` means everything; ``alert_raw``/``top_raw`` say whether ``alert.raw`` and
    the ``raw`` variable are read, ``raw_keys`` which of their top-level keys; ``regions``
    whether a region function may be called (binding them costs ~2 us per alert)."""

    fields: frozenset[str] | None = frozenset()
    raw_keys: frozenset[str] | None = frozenset()
    alert_raw: bool = False
    top_raw: bool = False
    event: bool = False
    regions: bool = False

    def __or__(self, other: Needs) -> Needs:
        def union(a: frozenset[str] | None, b: frozenset[str] | None) -> frozenset[str] | None:
            return None if a is None or b is None else a | b

        return Needs(
            fields=union(self.fields, other.fields),
            raw_keys=union(self.raw_keys, other.raw_keys),
            alert_raw=self.alert_raw or other.alert_raw,
            top_raw=self.top_raw or other.top_raw,
            event=self.event or other.event,
            regions=self.regions or other.regions,
        )


NOTHING = Needs()
EVERYTHING = Needs(
    fields=None, raw_keys=None, alert_raw=True, top_raw=True, event=True, regions=True
)


def blank_strings(source: str) -> str:
    """The source with every string literal's content replaced by spaces (offsets kept)."""
    out = list(source)
    i = 0
    while i < len(source):
        if source[i] in "\"'":
            quote = source[i : i + 3] if source[i : i + 3] in {'"""', "'''"} else source[i]
            raw = i > 0 and source[i - 1] in "rR"
            j = i + len(quote)
            while j < len(source) and not source.startswith(quote, j):
                j += 2 if (not raw and source[j] == "\\") else 1
            for k in range(i + len(quote), min(j, len(source))):
                out[k] = " "
            i = j + len(quote)
            continue
        i += 1
    return "".join(out)


def member_at(text: str, at: int) -> tuple[str | None, int]:
    """``.name`` at ``at`` (not a method call): the name and the offset after it."""
    found = _MEMBER.match(text, at)
    if found is None:
        return None, at
    after = found.end()
    if text[after:].lstrip().startswith("("):
        return None, at  # a method or macro on the container: we cannot follow it
    return found.group(1), after


def calls_any(text: str, names: frozenset[str]) -> bool:
    """Whether ``text`` (string literals blanked) calls one of ``names`` as a function."""
    return any(re.search(rf"(?<![\w.]){re.escape(name)}\s*\(", text) for name in names)


def condition_needs(
    source: str, helpers: frozenset[str], region_functions: frozenset[str] = frozenset()
) -> Needs:
    text = blank_strings(source)
    fields: set[str] | None = set()
    raw_keys: set[str] | None = set()
    alert_raw = top_raw = event = False
    for root in ROOTS.finditer(text):
        name, at = root.group(1), root.end()
        if name == "event":
            event = True
            continue
        if name == "alert":
            field, at = member_at(text, at)
            if field is None:
                call = _CALL_BEFORE.search(text, 0, root.start())
                if call is not None and call.group(1) in helpers and fields is not None:
                    fields |= HELPER_FIELDS
                else:
                    fields, raw_keys, alert_raw = None, None, True
                continue
            if fields is not None:
                fields.add(field)
            if field != "raw":
                continue
            alert_raw = True
        else:
            top_raw = True
        key, _ = member_at(text, at)
        if key is None:
            raw_keys = None
        elif raw_keys is not None:
            raw_keys.add(key)
    return Needs(
        fields=None if fields is None else frozenset(fields),
        raw_keys=None if raw_keys is None else frozenset(raw_keys),
        alert_raw=alert_raw,
        top_raw=top_raw,
        event=event,
        regions=calls_any(text, region_functions),
    )
