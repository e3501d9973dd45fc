"""What the pipeline needs from the outside world, as protocols the core owns.

The Swift and UKSSDC clients have richer APIs; adapters in ``autotoo.adapters`` narrow them to
these ports and translate their errors into :class:`RemoteError`'s subclasses, so the pipeline
decides retries from one small, explicit taxonomy:

    RemoteError               root: a remote call did not give us what we asked
    ├── RemoteNotSentError         provably never reached the service (connect refused, DNS, a
    │                         login that failed before the POST): safe to send again later
    ├── RemoteAmbiguousError       may or may not have been acted on (timeout after sending, 5xx,
    │                         a reply we cannot read): never resent before reconciliation
    ├── RemoteRejectedError        the service said no; ``kind`` (a RejectionKind) classifies
    │                         why for the rules' policies, ``refusal`` holds its words
    └── RemoteAuthError            our credentials were refused: a human must fix them
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


class RejectionKind(enum.StrEnum):
    """Why a service said no, as the rules' ``on_reject`` policies name it."""

    CONSTRAINED = "constrained"  # the target is not observable in time
    DUPLICATE = "duplicate"  # the service already has this request
    NO_DATA = "no_data"  # no data for the target (yet): the UKSSDC before an observation
    INVALID = "invalid"  # the request itself is wrong
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Refusal:
    """What the service said when it refused a request, verbatim."""

    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


class RemoteError(Exception):
    pass


class RemoteNotSentError(RemoteError):
    pass


class NotConfiguredError(RemoteNotSentError):
    """No client for this API is configured (a config without it, or a reload removed it):
    nothing was sent, and nothing can be until one is."""


class RemoteAmbiguousError(RemoteError):
    pass


class RemoteRejectedError(RemoteError):
    def __init__(
        self,
        message: str,
        *,
        kind: RejectionKind = RejectionKind.OTHER,
        refusal: Refusal | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.refusal = refusal or Refusal()


class RemoteAuthError(RemoteError):
    pass


class Message(Protocol):
    """A received message (``autotoo.sources.base.Received`` has this shape)."""

    @property
    def raw(self) -> bytes: ...
    @property
    def identity(self) -> str: ...
    @property
    def topic(self) -> str: ...
    @property
    def received_at(self) -> datetime: ...
    @property
    def source(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Observed:
    target_id: str
    obsid: str
    start: str | None = None
    end: str | None = None
    exposure_s: float | None = None


@dataclass(frozen=True, slots=True)
class TooProgress:
    """What the Swift side says about one TOO."""

    status: str  # the service's own word (e.g. 'Accepted', 'Approved', 'Rejected')
    decided: bool = False  # the TOO was approved or rejected by the duty scientist
    approved: bool = False
    observations: tuple[Observed, ...] = ()
    complete: bool = False  # nothing more will be observed for it
    target_id: int | None = None  # the target ID Swift gave it, once known
    urgency: int | None = None


@dataclass(frozen=True, slots=True)
class TooReceipt:
    """The service's answer to a TOO it accepted."""

    too_id: str
    status: str | None = None
    warnings: tuple[str, ...] = ()
    debug: bool = False  # a debug submission: acknowledged, and no TOO was created
    jobnumber: int | None = None


@dataclass(frozen=True, slots=True)
class ListedToo:
    """A TOO request in the service's listing near a position."""

    too_id: str
    target_name: str | None
    requested_at: datetime | None  # UTC
    target_id: int | None = None
    ours: bool = False  # it carries the marker asked about: this row's own request
    ra: float | None = None
    dec: float | None = None  # it carries the marker asked about: this row's own request


@dataclass(frozen=True, slots=True)
class Pointing:
    """One segment of Swift's timeline near a position: planned (PPST) or flown (AFST), its
    times in UTC (the timelines are in spacecraft time; the adapter converts them)."""

    target_id: int | None
    obs_id: str | None
    target_name: str | None
    begin: datetime | None
    end: datetime | None
    ra: float | None = None  # the pointing
    dec: float | None = None


class TooPort(Protocol):
    async def submit(self, body: dict[str, Any], *, marker: str, debug: bool) -> TooReceipt:
        """Submit one TOO carrying ``marker``."""
        ...

    async def find(self, marker: str, body: dict[str, Any]) -> str | None:
        """Reconcile: the too_id of our earlier submission carrying ``marker``, if any."""
        ...

    async def prepare(
        self,
        body: dict[str, Any],
        *,
        check_uvot_mode: bool,
        uvot_fallback: str | None,
        server_validate: bool,
    ) -> tuple[dict[str, Any], list[str]]:
        """Checks before the submission, which create nothing remotely: the UVOT mode (an
        unknown one is replaced by ``uvot_fallback``) and server-side validation. Returns the
        body to send and notes on what changed; raises RemoteRejectedError when the service's
        validation refuses the request, RemoteNotSentError when it could not be asked."""
        ...

    async def progress(self, too_id: str) -> TooProgress: ...

    # Reads before a submission (pipeline.presend); each raises RemoteNotSentError when it
    # could not be asked (the service failed, or the protocol has no such query).
    async def requests_near(
        self,
        ra: float,
        dec: float,
        *,
        radius_deg: float,
        since: datetime,
        until: datetime,
        marker: str,
    ) -> tuple[ListedToo, ...]:
        """TOO requests made between ``since`` and ``until`` within ``radius_deg`` (others'
        once approved, ours also while pending; ``ours``: carrying ``marker``)."""
        ...

    async def pointings_near(
        self, ra: float, dec: float, *, radius_deg: float, begin: datetime, flown: bool
    ) -> tuple[Pointing, ...]:
        """Swift's planned (``flown=False``: PlanQuery) or flown (ObsQuery) segments within
        ``radius_deg`` that end after ``begin``."""
        ...

    async def visibility(
        self, ra: float, dec: float, *, begin: datetime, end: datetime
    ) -> tuple[tuple[datetime, datetime], ...]:
        """The windows (UTC) in which Swift may observe the position (VisQuery)."""
        ...


@dataclass(frozen=True, slots=True)
class XrtProgress:
    codes: dict[str, int]  # product -> the service's status code (-4..5)
    terminal: bool  # every product finished (complete is not success)
    succeeded: tuple[str, ...] = ()
    no_data: bool = False  # the service has no data for the target (yet)
    url: str | None = None


class XrtPort(Protocol):
    async def submit(self, request: dict[str, Any], *, name: str) -> tuple[str, str | None]:
        """Submit a product job named ``name``; return (job id, results URL)."""
        ...

    async def find(self, name: str) -> str | None:
        """Reconcile: the job id of our earlier job named ``name``, if any."""
        ...

    async def progress(self, job_id: str, products: tuple[str, ...]) -> XrtProgress: ...

    async def retrieve(self, job_id: str, products: tuple[str, ...]) -> dict[str, Any]:
        """Results of finished products: {kind: JSON-ready data}. Position kinds
        (``position_standard|enhanced|astrometric``) carry ``ra``, ``dec``, ``err90_arcsec``."""
        ...

    async def cancel(self, job_id: str, products: tuple[str, ...]) -> None: ...

    async def active_jobs(self) -> int: ...


class PublishPort(Protocol):
    async def publish(self, channel: str, topic: str, payload: str, *, retain: bool) -> None:
        """Deliver one status message; raise on failure (it is retried from the store)."""
        ...


class SkymapPort(Protocol):
    """Sky maps published by URL, fetched into the on-disk cache the rules read
    (``autotoo.alerts.skymaps``) before the alerts naming them are evaluated."""

    timeout_s: float  # the longest one fetch takes, download and decode together

    async def fetch(self, url: str) -> str | None:
        """Fetch the map at ``url`` into the cache unless it is there already; return within
        ``timeout_s``. ``None`` when the map is ready to read, otherwise why it is not (the
        reason is also kept in the cache, where the rules and replays find it). Never raises
        for what the remote or the map did wrong."""
        ...


@dataclass(frozen=True, slots=True)
class AccountPorts:
    """The clients of one named account (config ``accounts``), beside the default account's
    ``too`` and ``xrt`` the workers are given: None where the account has none."""

    too: TooPort | None = None
    xrt: XrtPort | None = None
