"""YAML loading that keeps where every value was written.

ruamel.yaml in round-trip mode reads YAML 1.2 (``ra: 12:30:00`` stays a string, ``off`` stays
a string), refuses duplicate keys, and records line/column for every mapping key and sequence
item. We convert its node types to plain Python values (so pydantic sees ordinary dicts, lists
and scalars) and keep a side table from path tuples to positions for error messages.

A leading-zero integer such as ``0123`` or a target ID ``00945521`` is kept as the string the
user wrote: YAML 1.2 would read it as 123, silently dropping digits that matter to a human.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.scalarint import ScalarInt

from autotoo.config.problems import ConfigError, ConfigProblem

PathKey = tuple[str | int, ...]


@dataclass(slots=True)
class YamlDocument:
    """Plain data plus positions: ``value_pos[path]`` is where the value starts,
    ``key_pos[path]`` where its mapping key is written (1-based line and column)."""

    file: str
    data: Any
    value_pos: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    key_pos: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    text: str = ""  # the source text, to place problems inside multi-line strings

    def position(self, path: PathKey, *, prefer_key: bool = False) -> tuple[int, int]:
        """Best position for ``path``: the node itself, else its nearest written ancestor."""
        for end in range(len(path), -1, -1):
            sub = path[:end]
            table = (self.key_pos, self.value_pos) if prefer_key else (self.value_pos,)
            for positions in table:
                if sub in positions:
                    return positions[sub]
        return (1, 1)

    def problem(self, path: PathKey, message: str, *, prefer_key: bool = False) -> ConfigProblem:
        line, col = self.position(path, prefer_key=prefer_key)
        return ConfigProblem(self.file, line, col, dotted(path), message)

    def position_in_string(self, path: PathKey, value: str, offset: int) -> tuple[int, int]:
        """Where character ``offset`` of the string ``value`` at ``path`` is written in the file.

        An expression checker reports offsets into the parsed string, but YAML may have
        folded lines (``>``), stripped indentation (``|``) or added quotes. The visible
        characters are the same in both, so we count the non-blank characters before
        ``offset`` and walk the file text to the same count. Escapes in double-quoted
        strings can shift the result by a column or two; the line stays right.
        """
        line, col = self.position(path)
        lines = self.text.splitlines()
        if not lines or line > len(lines):
            return line, col
        visible = [i for i, ch in enumerate(value) if not ch.isspace()]
        wanted = sum(1 for i in visible if i < offset)
        past_end = wanted >= len(visible)  # e.g. "unexpected end of input"
        wanted = min(wanted, len(visible) - 1)
        row, column = line - 1, col - 1
        head = lines[row][column : column + 1]
        if head in {">", "|"}:
            row, column = row + 1, 0  # block scalar: the text starts on the next line
        elif head in {"'", '"'}:
            column += 1
        seen = 0
        while row < len(lines) and wanted >= 0:
            text = lines[row]
            while column < len(text):
                if not text[column].isspace():
                    if seen == wanted:
                        return row + 1, column + 1 + int(past_end)
                    seen += 1
                column += 1
            row, column = row + 1, 0
        return line, col


def dotted(path: PathKey) -> str:
    return ".".join(str(p) for p in path)


def _plain(node: Any, path: PathKey, doc: YamlDocument) -> Any:
    if isinstance(node, CommentedMap):
        out: dict[Any, Any] = {}
        for key, value in node.items():
            sub = (*path, str(key))
            line, col, vline, vcol = node.lc.data[key]
            doc.key_pos[sub] = (line + 1, col + 1)
            doc.value_pos[sub] = (vline + 1, vcol + 1)
            out[str(key) if not isinstance(key, (int, float, bool)) else key] = _plain(
                value, sub, doc
            )
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for index, value in enumerate(node):
            sub = (*path, index)
            line, col = node.lc.data[index]
            doc.value_pos[sub] = (line + 1, col + 1)
            items.append(_plain(value, sub, doc))
        return items
    if isinstance(node, ScalarInt):
        width = getattr(node, "_width", None)
        if width and type(node) is ScalarInt and len(str(int(node))) < width:
            return str(int(node)).zfill(width)  # "0123" stays "0123"
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    if isinstance(node, datetime):
        plain = datetime(*node.timetuple()[:6], node.microsecond, tzinfo=node.tzinfo)
        return plain if plain.tzinfo else plain.replace(tzinfo=UTC)  # zone-less means UTC
    if isinstance(node, date):
        return date(node.year, node.month, node.day)
    return node


def load_yaml_text(text: str, file: str) -> YamlDocument:
    """Parse YAML text; raise :class:`ConfigError` with a located problem on bad YAML."""
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        raw = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = " ".join(str(exc.problem or exc.context or "invalid YAML").split())
        path = ""
        duplicate = re.match(r'found duplicate key "(.*?)" with value', message)
        if duplicate:
            path = duplicate.group(1)
            first = exc.context_mark.line + 1 if exc.context_mark else "?"
            message = f"duplicate key (the mapping starting at line {first} already has it)"
        raise ConfigError([ConfigProblem(file, line, col, path, message)]) from None
    except YAMLError as exc:
        raise ConfigError([ConfigProblem(file, 1, 1, "", f"invalid YAML: {exc}")]) from None
    doc = YamlDocument(file=file, data=None, text=text)
    doc.data = _plain(raw, (), doc)
    return doc


def load_yaml_file(path: Path) -> YamlDocument:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([ConfigProblem(str(path), 1, 1, "", "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError([ConfigProblem(str(path), 1, 1, "", f"cannot read: {reason}")]) from None
    return load_yaml_text(text, str(path))
