"""Swift TOO API client (both protocol generations) for the pipeline and for library use.

``make_client(protocol, url, ...)`` picks the class the config names; both share
:class:`~autotoo.swift.base.SwiftClient`'s methods and :mod:`autotoo.swift.errors`.
"""

from __future__ import annotations

from typing import Unpack

from autotoo.swift.base import ClientOptions, SwiftClient
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
from autotoo.swift.v1 import DEFAULT_URL as V1_URL
from autotoo.swift.v1 import SwiftV1Client
from autotoo.swift.v2 import DEFAULT_URL as V2_URL
from autotoo.swift.v2 import SwiftV2Client
from autotoo.swift.validation import Validated, validate_request


def make_client(
    protocol: str,
    url: str | None = None,
    *,
    poll_interval: float = 1.0,
    **options: Unpack[ClientOptions],
) -> SwiftClient:
    """The client for ``swift.protocol`` (``v2`` REST, or ``v1`` JWT "API 1.2");
    ``poll_interval`` is v1's pause between polls of a queued job."""
    if protocol == "v2":
        return SwiftV2Client(url or V2_URL, **options)
    if protocol == "v1":
        return SwiftV1Client(url or V1_URL, poll_interval=poll_interval, **options)
    raise ValueError(f"unknown Swift TOO API protocol {protocol!r} (expected v1 or v2)")


__all__ = [
    "CalendarEntry",
    "ClientOptions",
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
