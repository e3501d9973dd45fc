"""Client of the UKSSDC XRT product generator (swifttools' ``xrt_prods`` wire protocol, 1.12).

Build a request with :class:`XrtRequest` (pure, synchronous), send it with
:class:`UkssdcClient` (async, injectable aiohttp session), pace status queries with
:class:`JobPoller` and :class:`ActiveJobCap`. Decisions: docs/xrt-products.md.
"""

from autotoo.ukssdc.client import UkssdcClient
from autotoo.ukssdc.poller import ActiveJobCap, JobPoller
from autotoo.ukssdc.rebin import RebinClient, RebinStatus
from autotoo.ukssdc.results import JobStatus, Position, SubmitResult
from autotoo.xrtrequest.check import validate
from autotoo.xrtrequest.errors import (
    AmbiguousError,
    BadReplyError,
    NotSentError,
    RejectedError,
    TransportError,
    UkssdcError,
)
from autotoo.xrtrequest.request import XrtRequest

__all__ = [
    "ActiveJobCap",
    "AmbiguousError",
    "BadReplyError",
    "JobPoller",
    "JobStatus",
    "NotSentError",
    "Position",
    "RebinClient",
    "RebinStatus",
    "RejectedError",
    "SubmitResult",
    "TransportError",
    "UkssdcClient",
    "UkssdcError",
    "XrtRequest",
    "validate",
]
