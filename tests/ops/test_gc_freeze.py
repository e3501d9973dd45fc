"""The objects that exist at READY=1 live as long as the process; the collector stops
walking them then, so that a collection in an alert's path stays short."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path

from autotoo.supervisor import Supervisor
from autotoo.systemd import Notifier
from tests.fixtures.notify import NotifySocket
from tests.fixtures.runtime import bare_runtime, no_reload


class _Idle:
    intake = False
    name = "idle"

    async def run(self) -> None:
        await asyncio.Event().wait()


async def test_what_exists_at_ready_is_frozen(tmp_path: Path, notify_socket: NotifySocket) -> None:
    gc.unfreeze()
    try:
        async with bare_runtime(tmp_path / "state.db") as runtime:
            marker: list[int] = []  # a container (tracked), made before READY: frozen with it
            notifier = Notifier({"NOTIFY_SOCKET": str(notify_socket.path)})
            supervisor = Supervisor(runtime, [_Idle()], reloader=no_reload, notifier=notifier)
            task = asyncio.create_task(supervisor.run())
            try:
                await asyncio.to_thread(notify_socket.wait_for, "READY=1", 10)
                assert gc.get_freeze_count() > 0
                assert not any(o is marker for o in gc.get_objects())  # out of every generation
            finally:
                supervisor.request_stop()
                async with asyncio.timeout(10):
                    await task
    finally:
        gc.unfreeze()  # the rest of the test session collects as usual
