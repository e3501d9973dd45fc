"""The daemon's process lifecycle: start, signals, reload, orderly stop.

Start order: config (already validated by the caller) -> store opened and migrated ->
components started -> READY=1. Stop order on SIGTERM/SIGINT: STOPPING=1 -> intake stops
first (sources: nothing new is accepted, nothing unacknowledged is lost: the broker or Kafka
redelivers it) -> workers get ``shutdown_grace`` to bring in-flight work to a durable state
-> everything left is cancelled -> store closed. SIGHUP reloads config and rules atomically:
the new set replaces the running one only if it is valid as a whole.

Components are small objects with ``name``, ``intake`` (stopped first), ``async run()``
(runs until cancelled) and optional ``async drain()`` and ``reload(state)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import signal
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from autotoo.config.load import LoadedConfig
from autotoo.formatting import count
from autotoo.logs import get_logger
from autotoo.store.db import Database
from autotoo.store.errors import StorageUnavailableError
from autotoo.store.leases import new_instance_id
from autotoo.store.repository import Repository
from autotoo.store.rows import ts, utcnow
from autotoo.systemd import Notifier, status_line

log = get_logger("autotoo.supervisor")

HEARTBEAT_SECONDS = 10.0
SOURCES_READY_TIMEOUT = 30.0
# How often start-up looks whether the sources are up: often in the first second, when a
# broker usually answers (a local one in 10-25 ms, which a 50 ms step turned into 50 ms
# before READY=1), then as before.
SOURCES_POLL_FIRST = (0.005, 1.0)  # (interval, for how long) seconds
SOURCES_POLL = 0.05
HEARTBEAT_WRITE_TIMEOUT = 60.0


def process_identity() -> dict[str, Any]:
    """The running daemon's process, as stored for `autotoo status`: a pid means something
    only on its own host (and boot, which /proc/sys/kernel/random/boot_id names)."""
    boot = Path("/proc/sys/kernel/random/boot_id")
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "boot_id": boot.read_text().strip() if boot.exists() else None,
        "started_at": ts(utcnow()),
    }


class StartupError(Exception):
    """A component cannot start at all (the message is the one line a person reads): the
    daemon stops with it instead of a traceback, and systemd's restart policy applies."""


class Component(Protocol):
    name: str
    intake: bool

    async def run(self) -> None: ...


@dataclass(slots=True)
class Runtime:
    """What components share: the loaded config, the rules, the store."""

    loaded: LoadedConfig
    rules: Any
    db: Database
    repo: Repository
    started_at: float = 0.0
    heartbeat_at: float = 0.0  # loop time of the last heartbeat that passed the liveness check
    stored_at: float = 0.0  # loop time of the last heartbeat written to the store
    live_problems: list[str] = field(default_factory=list)  # why the last check failed
    # This daemon's id in the store's `instances` (the owner of its leases, store/leases.py)
    instance: str = field(default_factory=new_instance_id)


def resolve_state_path(state: str | None, environ: dict[str, str] | None = None) -> Path:
    """Where the SQLite file lives (with a PostgreSQL state, where it would: its folder
    holds the drop folders).

    An explicit ``state: sqlite:///...`` wins (a relative path resolves inside
    ``$STATE_DIRECTORY`` when systemd sets it, as ProtectSystem=strict leaves only that
    writable); otherwise ``$STATE_DIRECTORY/state.db``; otherwise ``./autotoo-state/state.db``.
    """
    env = os.environ if environ is None else environ
    state_dir = env.get("STATE_DIRECTORY", "").split(":")[0]  # several dirs: the first is ours
    if state and state.startswith("postgresql://"):
        state = None  # a server's store: the state folder (drop folders) is the default one
    if state:
        path = Path(state.removeprefix("sqlite:///"))  # sqlite:////abs -> /abs
        if not path.is_absolute() and state_dir:
            return Path(state_dir) / path
        return path
    if state_dir:
        return Path(state_dir) / "state.db"
    return Path("autotoo-state") / "state.db"


ComponentFactory = Callable[[Runtime], Sequence[Component]]
Reloader = Callable[[], Awaitable[tuple[LoadedConfig, Any] | None]]


class Supervisor:
    def __init__(
        self,
        runtime: Runtime,
        components: Sequence[Component],
        *,
        reloader: Reloader,
        notifier: Notifier | None = None,
    ) -> None:
        self.runtime = runtime
        self.components = list(components)
        self._reloader = reloader
        self.notifier = notifier or Notifier()
        self._stop = asyncio.Event()
        self._reload = asyncio.Event()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._ready = False

    def request_stop(self) -> None:
        self._stop.set()

    def request_reload(self) -> None:
        self._reload.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.request_stop)
        loop.add_signal_handler(signal.SIGINT, self.request_stop)
        loop.add_signal_handler(signal.SIGHUP, self.request_reload)
        self.runtime.started_at = loop.time()
        try:
            async with asyncio.TaskGroup() as tg:
                tasks = {c.name: tg.create_task(c.run(), name=c.name) for c in self.components}
                self._tasks = tasks
                helpers = [
                    tg.create_task(self._heartbeat(), name="heartbeat"),
                    tg.create_task(self._reload_loop(), name="reload"),
                ]
                await self._sources_up()
                await self._record_mode()
                await self._record_process()
                # What exists now (modules, config, compiled rules, clients) lives as long as
                # the process: out of the collector's sight, a collection no longer walks it
                # (a 60-alert trace: gen-1 collections took 1.5 ms each, in the alert's path).
                # `autotoo run` starts with the collector paused (autotoo.memory): it
                # resumes here, with nothing young to walk.
                gc.freeze()
                gc.enable()
                self.notifier.ready(self._status_line())
                self._ready = True
                log.info("ready", components=sorted(tasks), mode=self.runtime.loaded.config.mode)
                await self._stop.wait()
                self._ready = False  # no more STATUS= lines from the heartbeat
                self.notifier.stopping()
                log.info("stopping")
                await self._shutdown(tasks)
                for helper in helpers:
                    helper.cancel()
                with contextlib.suppress(Exception):  # a stop must not fail on a status note
                    await self.runtime.repo.set_meta("stopped_at", ts(utcnow()) or "")
                    await self.runtime.repo.leases.stopped(self.runtime.instance, utcnow())
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)

    async def _record_mode(self) -> None:
        """The mode, for ``autotoo status``; a full disk leaves the previous one recorded."""
        try:
            await self.runtime.repo.set_meta("mode", self.runtime.loaded.config.mode.value)
        except StorageUnavailableError as exc:
            log.warning("mode not recorded: the state store cannot write", reason=exc.reason)

    async def _record_process(self) -> None:
        """Who writes the heartbeat, so `autotoo status` sees a killed process at once instead
        of waiting for the heartbeat to go stale; and the sources' health as of now."""
        try:
            await self.runtime.repo.set_meta("process", json.dumps(process_identity()))
            await self.runtime.repo.leases.register(self.runtime.instance, utcnow())
            await self.runtime.repo.set_meta("sources", json.dumps(self._source_health()))
        except StorageUnavailableError as exc:
            log.warning("process not recorded: the state store cannot write", reason=exc.reason)

    async def _sources_up(self) -> None:
        """READY=1 means "alerts are being received": wait (bounded) until every source is
        connected and subscribed, and every server (``listening`` event) listens. A broker that
        is down does not block start-up for ever: after ``SOURCES_READY_TIMEOUT`` seconds
        READY=1 is sent anyway, and STATUS= names the sources that are not connected."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + SOURCES_READY_TIMEOUT
        status = ""
        while loop.time() < deadline and not self._stop.is_set():
            waiting = [
                c.name
                for c in self.components
                if ((h := getattr(c, "health", None)) is not None and not h.connected)
                or ((ev := getattr(c, "listening", None)) is not None and not ev.is_set())
            ]
            if not waiting:
                return
            if (line := f"waiting for {', '.join(waiting)}") != status:
                status = line
                self.notifier.status(status)
            early, first = SOURCES_POLL_FIRST
            await asyncio.sleep(early if loop.time() - started < first else SOURCES_POLL)
        log.warning("starting although sources are not connected yet")

    async def _shutdown(self, tasks: dict[str, asyncio.Task[None]]) -> None:
        intake = [c for c in self.components if c.intake]
        workers = [c for c in self.components if not c.intake]
        for component in intake:
            tasks[component.name].cancel()
        grace = self.runtime.loaded.config.shutdown_grace.total_seconds()
        drains = [d() for c in workers if (d := getattr(c, "drain", None)) is not None]
        if drains:
            try:
                async with asyncio.timeout(grace):
                    await asyncio.gather(*drains)
            except TimeoutError:
                log.warning("shutdown grace expired; cancelling in-flight work", grace_s=grace)
        for component in workers:
            tasks[component.name].cancel()

    def liveness(self) -> list[str]:
        """Why the daemon is not alive (empty: it is). A component's task must never end while
        the daemon runs: one that returned (an exception would have ended the TaskGroup) has
        silently stopped its work, which only a restart repairs."""
        return [f"component {name} stopped" for name, task in self._tasks.items() if task.done()]

    async def _heartbeat(self) -> None:
        """The liveness check behind WATCHDOG=1 and /healthz: the heartbeat reached the store
        (a stuck disk blocks it here, so the pings stop and systemd restarts us) and every
        component's task is alive. A failing check withholds the ping (no timer pings blindly)
        and says why in STATUS=; systemd then kills and restarts the service.

        A disk that refuses the write (full: StorageUnavailableError) is not a stuck daemon:
        the store retries by itself and intake waits, so the pings go on (a restart cannot
        make space, and systemd's start limit would leave the service failed); /readyz and
        STATUS= say that the store cannot write."""
        loop = asyncio.get_running_loop()
        # At least three beats per lease: an instance is shown live while its heartbeat is
        # within the lease (store/leases.py Leases.instances), on every host that reads it.
        lease = self.runtime.loaded.config.store.lease.total_seconds()
        interval = min(
            self.notifier.watchdog_interval or HEARTBEAT_SECONDS, HEARTBEAT_SECONDS, lease / 3
        )
        storage = self.runtime.db.storage
        while True:
            if storage.problem is None:  # else the store's own probe is retrying
                try:
                    # Bounded: under systemd a stuck write stops the pings long before this
                    # fires; without it, TimeoutError ends the TaskGroup and the process
                    # exits non-zero.
                    async with asyncio.timeout(HEARTBEAT_WRITE_TIMEOUT):
                        # wall-clock UTC, so `autotoo status` can judge it from any process
                        await self.runtime.repo.set_meta("heartbeat", ts(utcnow()) or "")
                        await self.runtime.repo.leases.heartbeat(self.runtime.instance, utcnow())
                        sources = json.dumps(self._source_health())
                        await self.runtime.repo.set_meta("sources", sources)
                    self.runtime.stored_at = loop.time()
                except StorageUnavailableError:
                    pass  # recorded by the store; said below and by /readyz
            problems = self.liveness()
            if problems != self.runtime.live_problems and problems:
                log.error("liveness check failed; watchdog pings withheld", problems=problems)
            self.runtime.live_problems = problems
            if not problems:
                self.runtime.heartbeat_at = loop.time()
                if self.notifier.watchdog_interval:
                    self.notifier.watchdog()
            if self._ready:
                try:
                    line = "; ".join(problems) if problems else await self._live_status_line()
                except StorageUnavailableError as exc:  # a server's store that went away
                    line = f"status not read: {exc.reason}"
                if storage.problem is not None:
                    line = f"intake paused, {storage.problem}; {line}"
                self.notifier.status(line)
            await asyncio.sleep(interval)

    def _source_health(self) -> list[dict[str, Any]]:
        """Each source's health as of this heartbeat, for `autotoo status` (another process)."""
        return [
            {
                "name": h.name,
                "kind": h.kind,
                "connected": h.connected,
                "since": ts(h.since),
                "last_message_at": ts(h.last_message_at),
                "messages": h.messages,
                "last_error": h.last_error,
            }
            for c in self.components
            if (h := getattr(c, "health", None)) is not None
        ]

    async def _live_status_line(self) -> str:
        counts = await self.runtime.repo.counts()
        sources = [h for c in self.components if (h := getattr(c, "health", None)) is not None]
        return status_line(
            mode=self.runtime.loaded.config.mode.value,
            rules=_rule_count(self.runtime.rules),
            connected=sum(bool(h.connected) for h in sources),
            sources=len(sources),
            counts=counts,
        )

    async def _reload_loop(self) -> None:
        while True:
            await self._reload.wait()
            self._reload.clear()
            self.notifier.reloading()
            result = await self._reloader()
            if result is not None:
                loaded, rules = result
                self.runtime.loaded, self.runtime.rules = loaded, rules
                for component in self.components:
                    reload = getattr(component, "reload", None)
                    if reload is not None:
                        reload(self.runtime)
                await self._record_mode()
                log.info("reloaded", rules=_rule_count(rules))
            self.notifier.ready(self._status_line())

    def _status_line(self) -> str:
        mode = self.runtime.loaded.config.mode.value
        rules, components = _rule_count(self.runtime.rules), len(self.components)
        return f"{mode}; {count(rules, 'rule')}; {count(components, 'component')}"


def _rule_count(rules: Any) -> int:
    with contextlib.suppress(TypeError):
        return len(rules)
    return 0
