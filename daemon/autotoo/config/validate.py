"""Validate a located YAML document with a pydantic model; map every error to file:line:col."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from autotoo.config.problems import ConfigError, ConfigProblem
from autotoo.config.yamlfile import PathKey, YamlDocument

M = TypeVar("M", bound=BaseModel)


def _has(node: Any, seg: str | int) -> bool:
    if isinstance(node, dict):
        return seg in node
    return isinstance(node, list) and isinstance(seg, int) and 0 <= seg < len(node)


def _data_path(data: Any, loc: tuple[str | int, ...]) -> tuple[PathKey, bool]:
    """Follow pydantic's ``loc`` through the data. Segments that are not in the data (a
    discriminated union's tag, ``function-after[...]`` wrappers) are skipped; the result says
    whether the whole path exists (False: a missing key, reported at its parent)."""
    path: list[str | int] = []
    node = data
    for index, seg in enumerate(loc):
        if _has(node, seg):
            path.append(seg)
            node = node[seg]
        elif index == len(loc) - 1:
            return (*path, seg), False
    return tuple(path), True


def problems_from_validation(doc: YamlDocument, exc: ValidationError) -> list[ConfigProblem]:
    problems = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        bad_key = loc[-1:] == ("[key]",)  # a dict key failed (e.g. an unknown product name)
        path, exists = _data_path(doc.data, loc[:-1] if bad_key else loc)
        if not exists and err["type"] not in {"missing", "extra_forbidden"}:
            # Only a missing key is absent from the data; any other absent last segment is
            # a union member's tag (``literal['mqtt','webhook']``): report at the value.
            path, exists = path[:-1], True
        message = str(err["msg"])
        if err["type"] == "extra_forbidden":
            message = "unknown key"
        elif err["type"] == "missing":
            message = "required key is missing"
        if exists or err["type"] == "extra_forbidden":
            at_key = bad_key or err["type"] == "extra_forbidden"
            problems.append(doc.problem(path, message, prefer_key=at_key))
        else:
            line, col = doc.position(path[:-1])
            problems.append(ConfigProblem(doc.file, line, col, ".".join(map(str, path)), message))
    return problems


def validate_document(model: type[M], doc: YamlDocument, *, context: Any = None) -> M:
    """Validate ``doc`` against ``model``; raise :class:`ConfigError` listing every problem."""
    try:
        return model.model_validate(doc.data, context=context)
    except ValidationError as exc:
        raise ConfigError(problems_from_validation(doc, exc)) from None
