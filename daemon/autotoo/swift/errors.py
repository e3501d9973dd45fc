"""Errors of the Swift TOO API client.

The classes say what the caller may safely do next, because a duplicate TOO wastes spacecraft
time::

    SwiftError                      root: everything this package raises on purpose
    ├── SwiftNotSentError           failed before the request left: safe to retry as is
    │   └── SwiftValidationError    the request failed client-side validation (lists every problem)
    ├── SwiftAmbiguousError         the request may have reached the service (timeout after
    │                               sending, connection lost, 5xx): NEVER resend blindly; reconcile
    │                               against the TOO listing first (``find_submission``)
    │   └── SwiftBadReplyError      a reply arrived but could not be understood (non-JSON, wrong
    │                               shape); keeps the request it answered, for the log
    ├── SwiftRejectedError          the service answered and refused; carries its errors/warnings
    └── SwiftAuthError              login or signature refused (401, or v1's non-JSON reply)

The request content is kept on the exceptions that need it (never the shared secret).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class SwiftError(Exception):
    """Root of the Swift client's exceptions."""


class SwiftNotSentError(SwiftError):
    """Nothing reached the service (connection refused, DNS, login impossible): safe to retry."""


class SwiftValidationError(SwiftNotSentError):
    """The request is incomplete or inconsistent; ``errors`` lists every problem at once."""

    def __init__(self, errors: Sequence[str], warnings: Sequence[str] = ()) -> None:
        self.errors = list(errors)
        self.warnings = list(warnings)
        super().__init__("; ".join(self.errors) or "invalid TOO request")


class SwiftAmbiguousError(SwiftError):
    """The outcome is unknown: the service may have acted on the request.

    ``request`` is the wire body that was sent (form fields or decoded JWT payload), kept so the
    caller can log it and reconcile against the listing before anything is resent.
    """

    def __init__(self, message: str, *, request: Mapping[str, object] | None = None) -> None:
        self.request = request
        super().__init__(message)


class SwiftBadReplyError(SwiftAmbiguousError):
    """A reply arrived but is not one the protocol allows (non-JSON, unknown shape)."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        body: str,
        request: Mapping[str, object] | None = None,
    ) -> None:
        self.status = status
        self.body = body[:2000]  # enough to diagnose, bounded for the log
        super().__init__(f"{message} (HTTP {status}): {self.body[:200]!r}", request=request)


class SwiftRejectedError(SwiftError):
    """The service refused the request; ``errors`` are its own messages, verbatim."""

    def __init__(
        self,
        errors: Sequence[str],
        *,
        warnings: Sequence[str] = (),
        status: str = "Rejected",
        http_status: int | None = None,
        too_id: int | None = None,
    ) -> None:
        self.errors = list(errors)
        self.warnings = list(warnings)
        self.status = status
        self.http_status = http_status
        self.too_id = too_id
        super().__init__("; ".join(self.errors) or f"request {status}")

    @property
    def constrained(self) -> bool:
        """The target is unobservable now (resubmitting at urgency 3-4 is the usual remedy)."""
        return any("currently constrained" in e for e in self.errors)

    @property
    def duplicate(self) -> bool:
        """The service already holds a recent, matching TOO ("TOO already recently submitted.")."""
        return any("already recently submitted" in e for e in self.errors)


class SwiftAuthError(SwiftError):
    """Username or shared secret refused."""
