"""Near-miss suggestions for unknown keys in rule files (``urgancy`` -> ``urgency``).

A typo'd key is the most common rule-file mistake; pydantic says only "unknown key". The
allowed keys at that place follow from the models, so we walk them along the problem's path.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

from autotoo.config.problems import ConfigProblem


def _members(tp: Any) -> list[Any]:
    """The alternatives of a union (``X | None``), Annotated unwrapped."""
    if get_origin(tp) is Annotated:
        return _members(get_args(tp)[0])
    if get_origin(tp) in {Union, types.UnionType}:
        return [m for arg in get_args(tp) for m in _members(arg)]
    return [tp]


def _step(tp: Any, segment: str) -> list[Any]:
    out: list[Any] = []
    for member in _members(tp):
        origin = get_origin(member)
        if segment.isdigit() and origin is list:
            out.append(get_args(member)[0])
        elif origin is dict:
            out.append(get_args(member)[1])
        elif isinstance(member, type) and issubclass(member, BaseModel):
            for name, info in member.model_fields.items():
                if segment in {name, info.alias}:
                    out.append(info.annotation)
    return out


def allowed_keys(model: type[BaseModel], dotted_path: str) -> list[str]:
    """The keys a mapping at ``dotted_path`` (e.g. ``rules.0.too``) may have."""
    current: list[Any] = [model]
    for segment in filter(None, dotted_path.split(".")):
        current = [found for tp in current for found in _step(tp, segment)]
    keys: list[str] = []
    for tp in current:
        for member in _members(tp):
            if isinstance(member, type) and issubclass(member, BaseModel):
                keys += [info.alias or name for name, info in member.model_fields.items()]
    return keys


def with_suggestions(model: type[BaseModel], problems: list[ConfigProblem]) -> list[ConfigProblem]:
    out = []
    for problem in problems:
        if problem.message == "unknown key":
            parent, _, key = problem.path.rpartition(".")
            close = difflib.get_close_matches(key, allowed_keys(model, parent), n=1, cutoff=0.7)
            if close:
                problem = dataclasses.replace(  # noqa: PLW2901 the suggested copy replaces it
                    problem, message=f"unknown key (did you mean {close[0]!r}?)"
                )
        out.append(problem)
    return out
