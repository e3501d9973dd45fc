"""One small object per remote API, held by the submitter and the tracker.

The two APIs differ in what they are sent, how an earlier submission is found in the remote
listing, how often they are polled and the words their status notices use; the submitter's
and the tracker's state machines are the same for both. So each worker holds
``remotes[row.api]`` and asks it, instead of asking ``row.api`` at every step.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar, Generic, TypeVar

from autotoo.config.models import DEFAULT_ACCOUNT
from autotoo.pipeline.ports import NotConfiguredError, TooPort, XrtPort
from autotoo.pipeline.settings import PipelineSettings
from autotoo.store.rows import Api, SubmissionRow
from autotoo.store.specs import TooSpec, XrtSpec


@dataclass(frozen=True, slots=True)
class Reply:
    """What the service answered to the one POST."""

    remote_id: str
    url: str | None = None  # where the results will be (XRT jobs)
    warnings: tuple[str, ...] = ()
    debug: bool = False  # a debug submission: acknowledged, and nothing was created


P = TypeVar("P")


class Remote(abc.ABC, Generic[P]):
    """A remote API as the workers see it (the port behind it may be absent: then its
    methods raise ``NotConfiguredError``, a RemoteNotSentError)."""

    api: ClassVar[Api]
    missing: ClassVar[str]  # why nothing can be sent when no client is configured
    accepted: ClassVar[str]  # the notice state of a request the service took
    refused: ClassVar[str]  # ... of one it refused
    id_field: ClassVar[str]  # the notice field that names the remote id

    def __init__(self, port: Callable[[str], P | None]) -> None:
        self._port = port  # account -> client, looked up at each call: a test may replace it

    def configured(self, account: str = DEFAULT_ACCOUNT) -> bool:
        """Whether a client for this API is configured for ``account``."""
        return self._port(account) is not None

    def why_missing(self, account: str) -> str:
        """Why nothing can be sent for ``account`` (its name, unless the default)."""
        if account == DEFAULT_ACCOUNT:
            return self.missing
        return f"{self.missing} for account {account!r}"

    def port(self, account: str = DEFAULT_ACCOUNT) -> P:
        """``account``'s client, or :class:`NotConfiguredError` (a typed error, not an
        assert: ``python -O`` removes asserts, and callers handle it as a remote failure).
        A row's account is its request's (``spec.account``), so a restart polls and lists
        with the credentials that sent it."""
        if (port := self._port(account)) is None:
            raise NotConfiguredError(self.why_missing(account))
        return port

    @abc.abstractmethod
    def poll_every(self, settings: PipelineSettings) -> timedelta:
        """How long after a submission or a poll the next poll is due."""

    @abc.abstractmethod
    async def send(self, row: SubmissionRow, settings: PipelineSettings) -> Reply:
        """The one POST of ``row``'s request."""

    @abc.abstractmethod
    async def find(self, row: SubmissionRow) -> str | None:
        """Reconcile: the remote id of ``row``'s earlier submission, if the listing has it."""


class TooRemote(Remote[TooPort]):
    api = Api.TOO
    missing = "no Swift TOO client is configured"
    accepted = "accepted"
    refused = "rejected"
    id_field = "too_id"

    def poll_every(self, settings: PipelineSettings) -> timedelta:
        return settings.swift_poll

    async def send(self, row: SubmissionRow, settings: PipelineSettings) -> Reply:
        spec = too_spec(row)
        debug = settings.mode == "debug" or spec.debug
        receipt = await self.port(spec.account).submit(spec.body, marker=spec.marker, debug=debug)
        return Reply(receipt.too_id, warnings=receipt.warnings, debug=receipt.debug)

    async def find(self, row: SubmissionRow) -> str | None:
        spec = too_spec(row)
        return await self.port(spec.account).find(spec.marker, spec.body)


class XrtRemote(Remote[XrtPort]):
    api = Api.XRT
    missing = "no UKSSDC client is configured"
    accepted = "submitted"
    refused = "failed"
    id_field = "job_id"

    def poll_every(self, settings: PipelineSettings) -> timedelta:
        return settings.xrt_poll

    async def send(self, row: SubmissionRow, settings: PipelineSettings) -> Reply:  # noqa: ARG002 one signature for both APIs
        spec = xrt_spec(row)
        request = {"globals": spec.globals, "products": spec.products}
        remote_id, url = await self.port(spec.account).submit(request, name=spec.name)
        return Reply(remote_id, url=url)

    async def find(self, row: SubmissionRow) -> str | None:
        spec = xrt_spec(row)
        return await self.port(spec.account).find(spec.name)


def too_spec(row: SubmissionRow) -> TooSpec:
    """The TOO spec of a row of the Swift TOO API (a typed error, not an assert: ``-O``)."""
    if not isinstance(row.spec, TooSpec):
        raise TypeError(f"submission {row.id} is not a Swift TOO")
    return row.spec


def xrt_spec(row: SubmissionRow) -> XrtSpec:
    """The XRT spec of a row of the UKSSDC XRT API."""
    if not isinstance(row.spec, XrtSpec):
        raise TypeError(f"submission {row.id} is not an XRT job")
    return row.spec


KINDS: dict[Api, type[Remote[Any]]] = {Api.TOO: TooRemote, Api.XRT: XrtRemote}
"""The class of each API's remote, for what needs only its words (e.g. a notice's id field)."""
