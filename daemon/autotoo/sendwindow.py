"""The last moment a request that creates something (a TOO, an XRT job) may leave.

Why: several instances on one database fence the move to 'submitting' with a lease
(store/leases.py), but the remote services do not check our tokens. Between that commit and
the request's bytes a client may still log in, wait out a 429's Retry-After, or log in again
after a 401; an instance paused or slowed there past its lease has had its row taken over,
and a request sent then could be the second one. The submitter opens a window that closes at
half the lease; each client checks it right before it writes a creating request, and a closed
window is "not sent" (nothing left this host). What no check can close is a pause between the
check and the write itself: microseconds, not the seconds of a login or a Retry-After.

A leaf module: the clients read it, the pipeline sets it, neither imports the other.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_CLOSES_AT: ContextVar[float | None] = ContextVar("autotoo_send_window", default=None)


@contextmanager
def open_until(closes_at: float | None) -> Iterator[None]:
    """Requests made inside (this task and what it awaits) may leave until ``closes_at``
    (``time.monotonic()``); None: no window (one instance)."""
    token = _CLOSES_AT.set(closes_at)
    try:
        yield
    finally:
        _CLOSES_AT.reset(token)


def closed() -> bool:
    """Whether a creating request must not leave now."""
    closes_at = _CLOSES_AT.get()
    return closes_at is not None and time.monotonic() > closes_at


REASON = "not sent: the lease ran short before the request could leave"
