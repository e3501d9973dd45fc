"""What the processor, submitter and tracker share: the work loop and row notices."""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from autotoo.config.models import DEFAULT_ACCOUNT
from autotoo.logs import bind, get_logger, unbind
from autotoo.pipeline.notices import status_notices
from autotoo.pipeline.ports import AccountPorts, TooPort, XrtPort
from autotoo.pipeline.remotes import KINDS, Remote, TooRemote, XrtRemote
from autotoo.pipeline.settings import Clock, PipelineSettings, system_clock
from autotoo.store.errors import ConflictError, StorageUnavailableError
from autotoo.store.repository import Repository
from autotoo.store.rows import Api, Notice, SubmissionRow, SubmissionState

log = get_logger("autotoo.worker")

T = TypeVar("T")


class Worker(abc.ABC):
    """Rounds of :meth:`step` until drained. A round that did work is followed at once by
    another; otherwise the loop sleeps until woken (new work) or ``idle_seconds`` pass (work
    that became due by the clock). ``drain`` lets the round in hand finish and takes no other:
    each row reaches a durable state before the process stops.

    A round the disk refused (StorageUnavailableError: nothing of its failed write is
    stored) pauses the worker until the store can write again, then it carries on from the
    store as after a restart; it never ends the process."""

    intake = False
    name: str
    repo: Repository

    def __init__(self, wake: asyncio.Event | None = None) -> None:
        self.wake = wake or asyncio.Event()
        self.stopping = False
        self._idle = asyncio.Event()
        self._idle.set()

    @abc.abstractmethod
    async def step(self) -> int:
        """One round; return how much work was done."""

    @abc.abstractmethod
    def idle_seconds(self) -> float: ...

    async def start(self) -> None:  # noqa: B027 a hook: most workers need no start-up
        """Runs once before the first round (e.g. recovery after a crash)."""

    @property
    def busy(self) -> bool:
        """In a round, or woken for one that has not begun yet."""
        return not self._idle.is_set() or self.wake.is_set()

    def again(self, worked: int) -> bool:
        """Whether another round should follow at once: by default whenever this one did
        work (more may have become due meanwhile). A wake-up during the round always does."""
        return worked > 0

    async def _paused(self, exc: StorageUnavailableError) -> None:
        log.warning("paused until the state store can write", worker=self.name, reason=exc.reason)
        await self.repo.db.storage.wait()
        log.info("resumed", worker=self.name)

    async def run(self) -> None:
        while True:
            try:
                await self.start()
                break
            except StorageUnavailableError as exc:
                await self._paused(exc)
        while not self.stopping:
            self._idle.clear()
            self.wake.clear()  # before the round: a wake-up during it is not lost
            try:
                worked = await self.step()
            except StorageUnavailableError as exc:
                self._idle.set()
                await self._paused(exc)
                continue
            finally:
                self._idle.set()
            if (self.wake.is_set() or self.again(worked)) and not self.stopping:
                # Let the workers this round woke (the submitter, after the processor
                # planned) run before the next round: a step whose reads all run on the
                # loop's thread would otherwise go on without yielding.
                await asyncio.sleep(0)
                continue
            try:
                async with asyncio.timeout(self.idle_seconds()):
                    await self.wake.wait()
            except TimeoutError:
                pass

    async def drain(self) -> None:
        self.stopping = True
        self.wake.set()
        await self._idle.wait()


class RemoteWorker(Worker):
    """A worker that talks to the remote services through the ports (submitter, tracker)."""

    def __init__(
        self,
        repo: Repository,
        *,
        settings: Callable[[], PipelineSettings],
        too: TooPort | None,
        xrt: XrtPort | None,
        accounts: Mapping[str, AccountPorts] | None = None,
        clock: Clock = system_clock,
        wake: asyncio.Event | None = None,
        planning_lock: asyncio.Lock | None = None,
        on_notices: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(wake)
        # Called once the status notices a round (or one of its rows) wrote are stored: the
        # daemon wakes its publisher here, after the POST, rather than when the plan is made
        # (a publisher round run then delays the POST's first bytes on Python 3.11, where
        # aiohttp writes a request body from a task of its own, queued behind it).
        self.on_notices = on_notices or (lambda: None)
        # Shared with the processor (see Submitter._submit); tests that drive one worker at a
        # time may leave it private.
        self.planning_lock = planning_lock or asyncio.Lock()
        self.repo = repo
        self.settings = settings
        self.too = too  # the default account's clients
        self.xrt = xrt
        self.accounts: Mapping[str, AccountPorts] = {} if accounts is None else accounts
        self.clock = clock
        # One object per remote API (its ports looked up at each call, by the row's account:
        # a test may set ``too``/``xrt``).
        self.too_remote = TooRemote(lambda account: self._account(account).too)
        self.xrt_remote = XrtRemote(lambda account: self._account(account).xrt)
        self.remotes: dict[Api, Remote[Any]] = {Api.TOO: self.too_remote, Api.XRT: self.xrt_remote}

    def idle_seconds(self) -> float:
        return self.settings().idle.total_seconds()

    def _account(self, account: str) -> AccountPorts:
        if account == DEFAULT_ACCOUNT:
            return AccountPorts(self.too, self.xrt)
        return self.accounts.get(account) or AccountPorts()

    def _too_port(self, row: SubmissionRow) -> TooPort:
        """The Swift client of ``row``'s account, or :class:`NotConfiguredError`."""
        return self.too_remote.port(row.account)

    def _xrt_port(self, row: SubmissionRow) -> XrtPort:
        """The UKSSDC client of ``row``'s account, or :class:`NotConfiguredError`."""
        return self.xrt_remote.port(row.account)

    async def _end(
        self,
        row: SubmissionRow,
        to: SubmissionState,
        reason: str,
        *,
        word: str,
        durable: bool = False,
        **fields: Any,
    ) -> SubmissionRow:
        """A row ends (``to`` is terminal) for ``reason``: no next time, the notice ``word``
        with the reason, and the rows waiting for its observation withdrawn with theirs."""
        return await self.repo.transition(
            row.id,
            expect=[row.state],
            to=to,
            durable=durable,
            reason=reason,
            next_at=None,
            notices=self._notices(row, word, reason),
            children=self._child_notices,
            **fields,
        )

    async def until_stored(self, write: Callable[[], Awaitable[T]]) -> T | None:
        """A write that records what already happened remotely (a POST's reply): the
        outcome exists only in memory until it is stored, so it is retried while the disk
        refuses it, not dropped. A retry that finds the row moved on (ConflictError) means an
        earlier attempt's first write did land: nothing is left to record (None)."""
        attempts = 0
        try:
            while True:
                try:
                    return await write()
                except StorageUnavailableError as exc:
                    attempts += 1
                    await self._paused(exc)
                    # The write logs what the service said once more ("submitted", with the
                    # same remote id): marked, so that nobody counts a second request.
                    bind(storing_again=attempts)
                except ConflictError:
                    if not attempts:
                        raise
                    return None
        finally:
            if attempts:
                unbind("storing_again")

    def _notices(
        self, row: SubmissionRow, state: str, reason: str | None = None, **fields: Any
    ) -> list[Notice]:
        return row_notices(self.settings(), row, state, reason, **fields)

    def _child_notices(self, row: SubmissionRow, state: str, reason: str) -> list[Notice]:
        """The notices of a waiting follow-up withdrawn with its parent (see
        :meth:`Repository.transition`)."""
        return row_notices(self.settings(), row, state, reason)


def row_notices(
    settings: PipelineSettings,
    row: SubmissionRow,
    state: str,
    reason: str | None = None,
    **fields: Any,
) -> list[Notice]:
    """The status notices of one step of a submission (its id field filled when known).
    In dry-run mode each carries ``dry_run: true``: a subscriber must never take a decision
    that was not sent for a request that was."""
    fields.setdefault(KINDS[row.api].id_field, row.remote_id)
    if settings.dry_run:
        fields.setdefault("dry_run", True)
    return status_notices(
        prefix=settings.topic_prefix,
        channels=settings.channels(row.spec.notify),
        event=row.group_key,
        rule=row.rule,
        action=row.action,
        state=state,
        reason=reason,
        **fields,
    )
