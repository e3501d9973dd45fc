"""A simulated clock that runs ``speed`` times faster than the wall clock.

The emulators schedule and observe TOOs and progress XRT jobs in simulated time, so a demo or
a test sees a whole day of spacecraft operations in seconds. The clock is *derived* from the
monotonic clock rather than advanced by a task: there is nothing to keep running, and two
reads can never go backwards.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta


class SimClock:
    """``now() = start + (monotonic elapsed) * speed``, plus any explicit ``advance``."""

    def __init__(self, *, speed: float = 1.0, start: datetime | None = None) -> None:
        if speed <= 0:
            raise ValueError("clock speed must be positive")
        self.speed = speed
        self._start = start or datetime.now(UTC)
        self._t0 = time.monotonic()
        self._offset = timedelta()

    def now(self) -> datetime:
        elapsed = (time.monotonic() - self._t0) * self.speed
        return self._start + timedelta(seconds=elapsed) + self._offset

    def advance(self, delta: timedelta) -> None:
        """Jump forward (tests use this instead of sleeping)."""
        if delta < timedelta():
            raise ValueError("the clock only moves forward")
        self._offset += delta

    def sim_seconds_to_real(self, seconds: float) -> float:
        """How long (wall clock) a simulated interval takes."""
        return seconds / self.speed
