"""When a remote service says "not now, come back in N seconds" (429 or 503 with Retry-After).

Both services' clients use this. A 429 (too many requests), or a 503 that names a time to come
back, is the service declining the request before acting on it, so sending the same request
again after that time creates nothing twice, even for a submission. The clients wait and resend
at most :data:`MAX_RETRIES` times, and only when the wait is at most :data:`MAX_WAIT_S` and
fits in the call's own deadline; otherwise the reply is handled as before (a 429 means nothing
was sent; a 503 without ``Retry-After`` on a submission stays ambiguous, since a server in
trouble may have acted).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Final

RETRYABLE: Final = frozenset({429, 503})
MAX_RETRIES: Final = 3
MAX_WAIT_S: Final = 60.0


def retry_after_s(headers: Mapping[str, str], *, now: datetime | None = None) -> float | None:
    """``Retry-After`` in seconds (delta-seconds or an HTTP date), None if absent or unreadable."""
    value = headers.get("Retry-After")
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def wait_before_retry(
    status: int, headers: Mapping[str, str], *, attempt: int, budget_s: float | None = None
) -> float | None:
    """Seconds to wait before resending, or None when this reply is not to be retried.

    ``attempt`` counts the sends so far (1 for the first); ``budget_s`` is what remains of the
    caller's deadline, if it has one.
    """
    if status not in RETRYABLE or attempt > MAX_RETRIES:
        return None
    delay = retry_after_s(headers)
    if delay is None or delay > MAX_WAIT_S:
        return None
    if budget_s is not None and delay >= budget_s:
        return None
    return delay
