"""Errors of the UKSSDC XRT product client.

The split follows the one question the pipeline must answer after a failed call: *may I simply
send it again?*

UkssdcError                   root: anything this package raises on purpose
├── RequestError              the request was built wrongly (nothing was sent)
│   ├── ParameterError        unknown parameter or invalid value (also a ValueError)
│   ├── ParameterTypeError    a value of the wrong Python type (also a TypeError)
│   └── ProductError          product missing / already present / request already submitted
├── TransportError            the call did not produce a usable answer
│   ├── NotSentError          the request never reached the server: safe to retry
│   └── AmbiguousError        it may have been acted on (timeout after sending, 5xx on submit):
│                             reconcile with ``listOldJobs`` before sending it again
├── RejectedError             the server answered OK=0 (``ERROR`` and optional ``listErr``)
└── BadReplyError             HTTP 200 but not the JSON the protocol promises

For calls that only read (status, positions, light curves...) every TransportError is safe to
retry; only ``submit`` (and ``cancel``) turn "sent but no answer" into AmbiguousError.
"""

from __future__ import annotations

from dataclasses import dataclass


class UkssdcError(Exception):
    """Root of the UKSSDC client's errors."""


class RequestError(UkssdcError):
    """The request is not usable as built; nothing was sent."""


class ParameterError(RequestError, ValueError):
    """Unknown parameter name, or a value outside the allowed set."""


class ParameterTypeError(RequestError, TypeError):
    """A parameter value of the wrong type (e.g. an int ``RA``)."""


class ProductError(RequestError):
    """Adding a product twice, using one that was not added, or editing after submission."""


class TransportError(UkssdcError):
    """No usable answer from the server."""


class NotSentError(TransportError):
    """The request did not reach the server (connection refused, DNS...): retrying is safe."""


class AmbiguousError(TransportError):
    """The server may have acted on the request; its outcome is unknown."""


@dataclass(frozen=True, slots=True)
class ErrorList:
    """One ``listErr`` entry: a label and its items, as the server sent them."""

    label: str
    items: tuple[str, ...]


class RejectedError(UkssdcError):
    """The server refused the call (``OK`` 0). ``text`` is formatted like swifttools' message."""

    def __init__(self, error: str, list_err: tuple[ErrorList, ...] = (), text: str = "") -> None:
        self.error = error
        self.list_err = list_err
        self.text = text or error
        super().__init__(self.text)


class BadReplyError(UkssdcError):
    """The reply was not the JSON structure the protocol specifies (missing keys, not JSON)."""
