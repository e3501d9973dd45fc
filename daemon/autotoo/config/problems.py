"""Configuration problems, reported all at once as ``file:line:col: dotted.path: message``.

ConfigError            root of the config subsystem: carries every problem found
└── (no subclasses)    one class is enough: callers only print and exit 78
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    file: str
    line: int  # 1-based
    col: int  # 1-based
    path: str  # dotted path into the document ("" for the document itself)
    message: str

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{self.file}:{self.line}:{self.col}: {where}{self.message}"


class ConfigError(Exception):
    """A config or rule file is invalid. ``problems`` lists every problem, in file order."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.file, p.line, p.col, p.path))
        super().__init__("\n".join(str(p) for p in self.problems))
