"""Garbage collection between alerts rather than in their path.

CPython's cyclic collector runs when enough container objects have been allocated, that is
in the middle of whatever allocates them: here, an alert on its way to a POST. A trace of 60
alerts at 1/s (bench/FINDINGS.md) found a young-generation collection in one alert path in
six (0.1-0.5 ms) and middle-generation ones of 1.4-1.8 ms (2.3-2.7 ms in another run).
This component collects the two young generations itself whenever the pipeline is idle and
something is there to collect, so the automatic threshold is rarely reached while an alert
is in flight.

The oldest generation is left to CPython, which collects it only once it has grown by a
quarter: collecting it here every hundred rounds put a full collection (several ms) in one
alert path in a hundred at 50 alerts/s, which is the p99. The automatic collector stays
on: under a backlog nothing is ever idle, and it then works as before. The objects that
exist at READY=1 are frozen by the supervisor and never walked.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable

# How often the pipeline is looked at; a collection starts at most this long after an
# alert's path ends (and an alert arriving during one waits for it, as it would anyway).
_CHECK_SECONDS = 0.05
# Fewer new objects than this since the last collection: not worth a collection yet
# (CPython's own first threshold is 700).
_MIN_NEW = 100


class QuietCollector:
    """A component: collects garbage while ``quiet()`` says no alert is on its way."""

    name = "gc"
    intake = False

    def __init__(self, quiet: Callable[[], bool]) -> None:
        self.quiet = quiet

    async def run(self) -> None:
        while True:
            await asyncio.sleep(_CHECK_SECONDS)
            self.collect_if_quiet()

    def collect_if_quiet(self) -> bool:
        """Collect the young generations now if there is enough to collect and nothing is
        in flight; whether it did."""
        if gc.get_count()[0] < _MIN_NEW or not gc.isenabled() or not self.quiet():
            return False
        gc.collect(1)
        return True
