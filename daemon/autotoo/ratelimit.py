"""Rate-limit a warning that repeats for as long as its cause lasts.

A source that polls every second and finds its folder missing would log ~86,000 lines a day,
burying everything else in the journal. :class:`RepeatLimiter` lets the first occurrence
through at once, then one line per ``every`` seconds carrying how many were held back; when
the cause clears, :meth:`RepeatLimiter.clear` re-arms it so the next failure shows at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(slots=True)
class _Seen:
    last: float
    held: int = 0


@dataclass(slots=True)
class RepeatLimiter:
    every: float = 600.0
    clock: Callable[[], float] = time.monotonic
    _seen: dict[str, _Seen] = field(default_factory=dict, init=False, repr=False)

    def check(self, key: str) -> int | None:
        """``None``: hold this occurrence back. Otherwise log it now; the number is how many
        occurrences of ``key`` were held back since the last one logged (0 the first time)."""
        now = self.clock()
        seen = self._seen.get(key)
        if seen is None:
            self._seen[key] = _Seen(now)
            return 0
        if now - seen.last < self.every:
            seen.held += 1
            return None
        held, seen.last, seen.held = seen.held, now, 0
        return held

    def clear(self, key: str) -> None:
        """The cause is gone: the next occurrence is logged at once."""
        self._seen.pop(key, None)
