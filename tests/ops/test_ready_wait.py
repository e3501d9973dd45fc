"""READY=1 follows the sources coming up (bench/startup.py measures how soon: a timed
unit test would be a benchmark that fails under load).

The supervisor looks whether every source is connected before it says READY=1. A local
broker answers in 10-25 ms; looked at only every 50 ms, the daemon said READY=1 up to 50 ms
after it was ready. In the first second it looks every few milliseconds, and says what it
waits for once, not at every look.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from autotoo.sources.base import SourceHealth
from autotoo.supervisor import Supervisor
from autotoo.systemd import Notifier
from tests.fixtures.notify import NotifySocket
from tests.fixtures.runtime import bare_runtime, no_reload


class _Connects:
    """A source that connects at its first turn of the event loop, and says when."""

    intake = True
    name = "source:quick"

    def __init__(self) -> None:
        self.health = SourceHealth(name="quick", kind="mqtt")
        self.connected_at: float | None = None

    async def run(self) -> None:
        self.health.mark_connected()
        self.connected_at = asyncio.get_running_loop().time()
        await asyncio.Event().wait()


async def test_ready_follows_a_connected_source_and_says_what_it_waited_for_once(
    tmp_path: Path, notify_socket: NotifySocket
) -> None:
    async with bare_runtime(tmp_path / "state.db") as runtime:
        source = _Connects()
        notifier = Notifier({"NOTIFY_SOCKET": str(notify_socket.path)})
        supervisor = Supervisor(runtime, [source], reloader=no_reload, notifier=notifier)
        loop = asyncio.get_running_loop()
        runner = asyncio.create_task(source.run())
        try:
            await supervisor._sources_up()  # what stands between the sources and READY=1
            up_at = loop.time()
        finally:
            runner.cancel()
        assert source.connected_at is not None
        assert up_at >= source.connected_at
        waiting = notify_socket.wait_for("STATUS=waiting for source:quick", timeout=5)
        assert waiting == ["STATUS=waiting for source:quick"]  # said once, not at every look
