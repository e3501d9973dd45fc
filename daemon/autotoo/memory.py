"""Handing freed memory back to the operating system (a leaf: the standard library only).

CPython frees a large object (a 1 MB base64 sky map, a decoded map's arrays) to the C
allocator, and glibc's keeps what it got for later unless the top of its heap is free or the
block was mapped on its own; after a few large frees glibc raises its mapping threshold, so
later large blocks come from the heap and the process's resident memory stays at its peak.
``malloc_trim(0)`` returns the free pages of every arena. Elsewhere than glibc this does
nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable


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
