"""Pydantic pieces shared by the JSON wire models (gcn-schema and IGWN).

Statistics are lenient (a wrong type or NaN is absent, so a typo in a secondary number does
not hide an alert from the rules); :func:`validate` turns the first validation error into a
one-line :class:`AlertParseError` that names the field.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ValidationError

from autotoo.alerts.errors import AlertParseError
from autotoo.alerts.values import optional_finite

ModelT = TypeVar("ModelT", bound=BaseModel)


def finite_scores(value: object) -> dict[str, float]:
    """A ``{name: number}`` map keeping only string keys with finite numeric values."""
    if not isinstance(value, dict):
        return {}
    return {
        k: n
        for k, v in value.items()
        if isinstance(k, str) and (n := optional_finite(v)) is not None
    }


LenientFloat = Annotated[float | None, BeforeValidator(optional_finite)]
Scores = Annotated[dict[str, float], BeforeValidator(finite_scores)]


def validate(model: type[ModelT], obj: dict[str, Any], label: str) -> ModelT:
    try:
        return model.model_validate(obj)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "payload"
        raise AlertParseError(f"{label} field {where}: {error['msg']}") from None
