"""Fetch a sky map published by URL into the on-disk cache, before rules evaluate the alert.

Rules never wait for the network (conditions are synchronous, microseconds each); the
processor awaits the pipeline's ``SkymapPort`` (:class:`SkymapFetcher` here) for the alerts
that name a map URL, then evaluates them. The fetch has a total timeout, download and decode
together, and a size limit (checked against ``Content-Length`` and again while reading), and
a map is stored only after it decodes, written to a temporary file and renamed, so a crash
never leaves half a map. A failure writes its reason beside where the map would be
(``<digest>.error``): rules and replays see why the alert was evaluated without its map. A
later fetch of the same URL tries again.

This lives with the adapters, not in ``alerts``: the core never imports an HTTP client.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from autotoo.alerts.model import NormalizedAlert
from autotoo.alerts.skymaps import SKYMAPS, SkyMaps, skymap_url
from autotoo.logs import get_logger

log = get_logger("autotoo.adapters.skymaps")

DEFAULT_TIMEOUT_S = 30.0
DEFAULT_MAX_BYTES = 64 * 2**20  # a flat nside-1024 float64 map is 100 MB; GBM's are < 1 MB


@dataclass(frozen=True, slots=True)
class FetchResult:
    url: str
    path: Path | None  # the cached map, when there is one
    error: str | None  # why there is none
    cached: bool = False  # already on disk: nothing was downloaded


async def fetch_skymap(
    session: aiohttp.ClientSession,
    url: str,
    *,
    maps: SkyMaps | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> FetchResult:
    """Download ``url`` into the cache unless it is there already."""
    maps = maps or SKYMAPS
    path = maps.path_for(url)
    if path.with_suffix(".npz").exists():
        return FetchResult(url, path, None, cached=True)
    try:
        # One deadline for the download and the decode (a flat nside-1024 map takes ~1 s to
        # decode): that is how long the alerts evaluated with this one may wait. A decode cut
        # short goes on in its thread and still stores the map for the next alert.
        async with asyncio.timeout(timeout_s):
            data = await _download(session, url, timeout_s, max_bytes)
            error = await asyncio.to_thread(_store, data, path)
    except TimeoutError:
        error = f"fetch timed out after {timeout_s:g} s"
    except _TooLargeError as exc:
        error = str(exc)
    except aiohttp.ClientResponseError as exc:
        error = f"fetch failed: HTTP {exc.status} {exc.message}"
    except aiohttp.ClientError as exc:
        error = f"fetch failed: {type(exc).__name__}: {exc}"
    if error is None:
        return FetchResult(url, path, None)
    await asyncio.to_thread(_store_error, path, error)
    return FetchResult(url, None, error)


async def fetch_for_alert(
    session: aiohttp.ClientSession,
    alert: NormalizedAlert,
    *,
    maps: SkyMaps | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> FetchResult | None:
    """Fetch the map ``alert`` names by URL; ``None`` when it names none (or embeds one)."""
    url = skymap_url(alert)
    if url is None or alert.skymap_b64 is not None:
        return None
    return await fetch_skymap(session, url, maps=maps, timeout_s=timeout_s, max_bytes=max_bytes)


class SkymapFetcher:
    """The pipeline's ``SkymapPort``: fetches into the cache ``maps`` reads (the process's
    :data:`~autotoo.alerts.skymaps.SKYMAPS`, so the rules find what was fetched)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        maps: SkyMaps | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self._session = session
        self._maps = maps or SKYMAPS
        self.timeout_s = timeout_s
        self._max_bytes = max_bytes

    async def fetch(self, url: str) -> str | None:
        """Fetch ``url`` into the cache unless it is there; ``None`` when the map is ready,
        otherwise why it is not (also written beside it, for the rules and replays)."""
        result = await fetch_skymap(
            self._session, url, maps=self._maps, timeout_s=self.timeout_s, max_bytes=self._max_bytes
        )
        if result.error is not None:
            log.warning("sky map not fetched", url=url, reason=result.error)
        elif not result.cached:
            log.info("sky map fetched", url=url, path=str(result.path))
        return result.error


class _TooLargeError(Exception):
    pass


async def _download(
    session: aiohttp.ClientSession, url: str, timeout_s: float, max_bytes: int
) -> bytes:
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with session.get(url, timeout=timeout, raise_for_status=True) as response:
        if response.content_length is not None and response.content_length > max_bytes:
            raise _TooLargeError(
                f"sky map is {response.content_length} bytes, over the {max_bytes}-byte limit"
            )
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_chunked(1 << 16):
            size += len(chunk)
            if size > max_bytes:
                raise _TooLargeError(f"sky map is over the {max_bytes}-byte limit")
            chunks.append(chunk)
        return b"".join(chunks)


def _store(data: bytes, path: Path) -> str | None:
    """Decode (so only a readable map is kept; a flat nside-1024 map takes ~1 s, here in a
    thread rather than in a rule), then write the file and the decoded map atomically."""
    from autotoo.alerts.skymap import SkyMapError, dump, read_skymap  # noqa: PLC0415 numpy

    try:
        decoded = dump(read_skymap(data))
    except SkyMapError as exc:
        return f"sky map unreadable: {exc}"
    path.parent.mkdir(parents=True, exist_ok=True)
    _write(path, data)
    _write(path.with_suffix(".npz"), decoded)  # last: its presence means "ready"
    with contextlib.suppress(FileNotFoundError):
        path.with_suffix(".error").unlink()
    return None


def _write(path: Path, data: bytes) -> None:
    partial = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.part")
    partial.write_bytes(data)
    partial.replace(path)


def _store_error(path: Path, error: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.with_suffix(".error").write_text(error + "\n", encoding="utf-8")
