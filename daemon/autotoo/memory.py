"""Memory (a leaf: the standard library only): handing freed memory back to the operating
system, and pausing the cyclic collector while start-up builds what lives for ever.

CPython frees a large object (a 1 MB base64 sky map, a decoded map's arrays) to the C
allocator, and glibc's keeps what it got for later unless the top of its heap is free or the
block was mapped on its own; after a few large frees glibc raises its mapping threshold, so
later large blocks come from the heap and the process's resident memory stays at its peak.
``malloc_trim(0)`` returns the free pages of every arena. Elsewhere than glibc this does
nothing.

Start-up (importing ~600 modules, validating config and rules) makes objects that live as
long as the process: classes, functions, compiled rules. Each collection the allocation
count triggers meanwhile walks them and frees next to nothing (a daemon start ran ~180).
``autotoo run`` therefore starts inside :func:`collector_paused`, and the supervisor freezes
what exists at READY=1 and resumes the collector there. Pausing only parts of the start
would not do: the first collection after each part walks all that the part made.
"""

from __future__ import annotations

import contextlib
import functools
import gc
from collections.abc import Callable, Iterator


@functools.cache
def _trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, from the process's own symbols (no ``find_library``: it runs
    ldconfig); ctypes is imported here, on the first release, not on the start-up path."""
    import ctypes  # noqa: PLC0415

    try:
        libc = ctypes.CDLL(None)
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError, TypeError):
        return None
    return trim


def return_freed_memory() -> bool:
    """Give the allocator's free pages back (glibc ``malloc_trim``); whether it could ask."""
    trim = _trim()
    if trim is None:
        return False
    trim(0)
    return True


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No automatic garbage collection inside (start-up work that only builds long-lived
    objects); afterwards the collector runs again, unless it was off before (nesting keeps
    the outermost state). Reference counting still frees everything that is not a cycle."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
