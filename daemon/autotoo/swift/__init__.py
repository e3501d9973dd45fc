"""Swift TOO API client (both protocol generations) for the pipeline and for library use.

``make_client(protocol, url, ...)`` picks the class the config names; both share
:class:`~autotoo.swift.base.SwiftClient`'s methods and :mod:`autotoo.swift.errors`.
"""

from __future__ import annotations

from typing import Any

from autotoo.swift.base import SwiftClient
from autotoo.swift.errors import (
    SwiftAmbiguousError,
    SwiftAuthError,
    SwiftBadReplyError,
    SwiftError,
    SwiftNotSentError,
    SwiftRejectedError,
    SwiftValidationError,
)
from autotoo.swift.model import TooRequest
from autotoo.swift.results import (
    CalendarEntry,
    ResolveResult,
    SubmitResult,
    TooRecord,
    UvotFilter,
    UvotModeResult,
)
from autotoo.swift.v1 import SwiftV1Client
from autotoo.swift.v2 import SwiftV2Client
from autotoo.swift.validation import Validated, validate_request


def make_client(protocol: str, url: str | None = None, **kwargs: Any) -> SwiftClient:
    """The client for ``swift.protocol`` (``v2`` REST, or ``v1`` JWT "API 1.2")."""
    if protocol == "v2":
        return SwiftV2Client(url, **kwargs) if url else SwiftV2Client(**kwargs)
    if protocol == "v1":
        return SwiftV1Client(url, **kwargs) if url else SwiftV1Client(**kwargs)
    raise ValueError(f"unknown Swift TOO API protocol {protocol!r} (expected v1 or v2)")


__all__ = [
    "CalendarEntry",
    "ResolveResult",
    "SubmitResult",
    "SwiftAmbiguousError",
    "SwiftAuthError",
    "SwiftBadReplyError",
    "SwiftClient",
    "SwiftError",
    "SwiftNotSentError",
    "SwiftRejectedError",
    "SwiftV1Client",
    "SwiftV2Client",
    "SwiftValidationError",
    "TooRecord",
    "TooRequest",
    "UvotFilter",
    "UvotModeResult",
    "Validated",
    "make_client",
    "validate_request",
]
