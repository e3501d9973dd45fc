"""Stand-ins for the store's fsync of the WAL (``Database.open(..., fsync=...)``): one that
the test holds until it lets go, and one that fails like a dying disk."""

from __future__ import annotations

import os
import threading


class HeldFsync:
    """Each call records itself, waits until :meth:`release`, then really syncs."""

    def __init__(self) -> None:
        self.calls = 0
        self.started = threading.Event()
        self._released = threading.Event()

    def __call__(self, fd: int) -> None:
        self.calls += 1
        self.started.set()
        self._released.wait(10)
        os.fdatasync(fd)

    def release(self) -> None:
        self._released.set()


def failing_fsync(_fd: int) -> None:
    raise OSError(5, "Input/output error")
