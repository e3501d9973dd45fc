"""How the inbox stores raw payloads: compressed when large, always returned as received.

Measured on the corpus in tests/data/alerts (the numbers and commands are in
docs/performance.md, "Raw payload storage"): IGWN alerts with a sky map (1-2 MB of base64
FITS) shrink 1.48x with zlib level 1 at ~27 ms each, level 6 buys 1.55x for ~45 ms, bz2 and
lzma cost 3-15 times more for at most 1.97x (lzma preset 6, 420 ms). Level 1 it is: the
payloads are base64 of binary data, which no general codec squeezes much.

The inbox stores every payload as received: the processor evaluates what the inbox stored,
so a sky map compressed there (27-60 ms per MB) and decompressed again was on its alert's
path to a TOO (docs/performance.md, "Sky map on the alert path"). The pruner's round
(:func:`autotoo.store.retention.compress_old`) compresses payloads of at least
:data:`COMPRESS_AT` bytes afterwards, off the event loop (zlib releases the GIL). Small ones
(every GCN notice, VOEvent and JSON alert is under 10 KB) stay as received: a few KB saved.

Readers never see the encoding: :func:`decode` gives back the exact bytes received, and
the dedup digest is taken over those before anything is encoded.
"""

from __future__ import annotations

import zlib
from typing import Literal

Encoding = Literal["identity", "zlib"]

# Payloads at least this large are compressed (the smallest sky-map alert is ~1 MB; the
# largest notice in the corpus ~8 KB).
COMPRESS_AT = 64 * 1024
# zlib's fastest level: 1.48x on sky maps for 27 ms, against 1.55x for 45 ms at level 6.
_LEVEL = 1


def needs_encoding(raw: bytes) -> bool:
    """Whether :func:`encode` would do work (the caller then runs it off the loop)."""
    return len(raw) >= COMPRESS_AT


def encode(raw: bytes) -> tuple[Encoding, bytes]:
    """How to store ``raw``: (encoding, stored bytes). A payload that does not shrink is
    kept as received."""
    if not needs_encoding(raw):
        return "identity", raw
    packed = zlib.compress(raw, _LEVEL)
    if len(packed) >= len(raw):
        return "identity", raw
    return "zlib", packed


def decode(encoding: str, stored: bytes) -> bytes:
    """The bytes received, from what the inbox stored."""
    if encoding == "identity":
        return stored
    if encoding == "zlib":
        return zlib.decompress(stored)
    raise ValueError(f"unknown payload encoding {encoding!r}")
