"""Several daemons for a benchmark: their configs (SQLite, or PostgreSQL with a shared MQTT
subscription), starting and stopping them together, the publisher, and a hold on the
emulator's TOO POSTs (bench/instances.py, bench/_failover.py)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiomqtt
import yaml

from bench._common import Stamps, daemon, write_daemon_config
from bench.latency import Publisher
from tests.fixtures.pg_cluster import PgCluster


class Hold:
    """Holds each TOO POST ``seconds`` before the emulator acts on it (0: not at all), so an
    instance is caught in the middle of one; set from this process, read by the emulator's
    thread."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def middleware(self) -> object:
        from aiohttp import web  # noqa: PLC0415

        @web.middleware
        async def hold(request: web.Request, handler: Any) -> web.StreamResponse:
            if self.seconds and request.method == "POST" and request.path.endswith("/swift/too"):
                await asyncio.sleep(self.seconds)
            return await handler(request)  # type: ignore[no-any-return]

        return hold


@dataclass(slots=True)
class Bench:
    """What every phase shares: the broker, the emulator, the cluster, the publisher's
    next alert index (positions stay distinct over the whole run: the emulator refuses a TOO
    near a recent one) and a scratch directory."""

    port: int
    emu: Any
    stamps: Stamps
    hold: Hold
    cluster: PgCluster
    tmp: Path
    next_index: int = 0
    dirs: int = 0
    groups: int = 0

    def group(self) -> str:
        """A share group of its own per configuration: mosquitto keeps a stopped instance's
        persistent session in its group and queues its share of the messages there, so
        instances of earlier configurations would take alerts from later ones."""
        self.groups += 1
        return f"bench-{self.groups}"

    def config(self, url: str | None, *, group: str = "", lease: float | None = None) -> Path:
        """One instance's config in a directory of its own: the latency benchmark's, and on
        PostgreSQL ``state``/``store`` and the shared subscription ``group``."""
        self.dirs += 1
        workdir = self.tmp / f"instance-{self.dirs}"
        workdir.mkdir()
        config = write_daemon_config(workdir, broker_port=self.port, emulator_root=self.emu.root)
        if url is None:
            return config
        data = yaml.safe_load(config.read_text())
        data["state"] = url
        data["store"] = {"password_file": str(self.cluster.password_file)}
        if lease is not None:
            data["store"]["lease"] = f"{lease:g}s"
            # the test's tuning (tests/daemon/test_instances_daemon.py): a taken-over row is
            # reconciled at once; a listing that misses it is asked again 0.5 s later
            data["pipeline"] = {"reconcile_delay": "0.5s", "retry_not_sent": "0.5s"}
            data["swift"]["timeout"] = "20s"  # well above the hold, on a loaded machine
        for source in data["sources"]:
            source["share_group"] = group
        config.write_text(yaml.safe_dump(data, sort_keys=False))
        return config

    @contextlib.contextmanager
    def instances(self, configs: Sequence[Path]) -> Iterator[list[subprocess.Popen[bytes]]]:
        """The daemons, each started to READY=1 in turn; on leaving, a paused one is woken
        first (SIGTERM waits behind SIGSTOP) and every one is stopped."""
        try:
            with contextlib.ExitStack() as stack:
                procs = [stack.enter_context(daemon(config))[0] for config in configs]
                stack.callback(wake, procs)  # runs before the daemons' own exits
                yield procs
        except BaseException:
            for config in configs:  # the temporary directory goes with the run: show why
                log = config.parent / "daemon.log"
                tail = log.read_text(errors="replace")[-3000:] if log.is_file() else "(no log)"
                print(f"--- {log}\n{tail}", file=sys.stderr)
            raise

    @contextlib.asynccontextmanager
    async def publisher(self) -> AsyncIterator[Publisher]:
        async with aiomqtt.Client("127.0.0.1", self.port) as client:
            pub = Publisher(client)
            pub.next_index = self.next_index
            try:
                yield pub
            finally:
                self.next_index = pub.next_index


def wake(procs: Sequence[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)


async def until_posted(stamps: Stamps, keys: Sequence[str]) -> None:
    async with asyncio.timeout(600):
        # Polling, not an Event: the emulator's thread fills stamps.
        while not all(k in stamps.at for k in keys):  # noqa: ASYNC110
            await asyncio.sleep(0.02)
