"""Which sky map an alert carries, decoded once, and the region rules see for the alert.

A map comes embedded (IGWN ``event.skymap``, gcn-schema ``healpix_file``: base64 in
``skymap_b64``) or published at a URL (gcn-schema ``healpix_url``; VOEvent ``HealPix_URL``,
and GBM's ``LocationMap_URL`` when it names a FITS file). A URL map is fetched ahead of
evaluation by :mod:`autotoo.adapters.skymaps` into the on-disk cache (the FITS file, and
beside it the decoded map as ``.npz``, which loads in a millisecond whatever the map's size);
conditions are synchronous and never wait for the network, so here a URL map is read from
that cache or not at all.

Decoded maps are kept in a small per-process LRU keyed by the base64 text itself (Python
caches a string's hash, so a repeated look-up of a 1 MB text costs nothing) or by the URL:
a map is decoded once per alert, however many rules and templates ask, and the maps of an
event's earlier alerts stay decoded for its later ones. A failure is cached too, with its
reason.

Nothing here imports numpy until a map is actually decoded: this module is on the rules'
import path, which is on the daemon's start-up path.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from autotoo.alerts.errors import AlertParseError
from autotoo.alerts.model import NormalizedAlert

if TYPE_CHECKING:
    from autotoo.alerts.regions import Region
    from autotoo.alerts.skymap import SkyMap

logger = structlog.get_logger(__name__)

#: Where a URL may be named, in the order tried: gcn-schema, then VOEvent Params.
URL_KEYS = ("healpix_url", "HealPix_URL", "LocationMap_URL")
_FITS_SUFFIXES = (".fit", ".fits", ".fits.gz", ".fit.gz", ".fts")
_CACHE_ENV = "AUTOTOO_SKYMAP_CACHE"


def skymap_url(alert: NormalizedAlert) -> str | None:
    """The URL of the alert's published FITS sky map, if it names one."""
    raw = alert.raw
    if not isinstance(raw, dict):
        return None
    for key in URL_KEYS:
        value = raw.get(key)
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            path = value.split("?", 1)[0].lower()
            if path.endswith(_FITS_SUFFIXES):
                return value
    return None


def default_cache_dir() -> Path:
    """``$AUTOTOO_SKYMAP_CACHE``, else ``$XDG_CACHE_HOME/autotoo/skymaps`` (~/.cache)."""
    configured = os.environ.get(_CACHE_ENV)
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "autotoo" / "skymaps"


@dataclass(frozen=True, slots=True)
class Loaded:
    """A decoded map, or the reason there is none (exactly one of the two is set)."""

    skymap: SkyMap | None
    error: str | None
    source: str  # "embedded" or the URL
    stamp: tuple[bool, int | None] | None = None  # the cache files' state when read (URLs)


class SkyMaps:
    """Decoded maps by key, and the on-disk cache of maps fetched from URLs."""

    def __init__(self, cache_dir: Path | None = None, *, keep: int = 8) -> None:
        self._cache_dir = cache_dir
        self._keep = keep
        self._decoded: OrderedDict[str, Loaded] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def cache_dir(self) -> Path:
        """The directory given, else :func:`default_cache_dir` as the environment says now."""
        return self._cache_dir if self._cache_dir is not None else default_cache_dir()

    def use_cache_dir(self, cache_dir: Path | None) -> None:
        """Read (and let the fetcher write) maps in ``cache_dir`` from now on (the daemon's
        ``skymaps.cache_dir``); ``None``: :func:`default_cache_dir` again."""
        with self._lock:
            self._cache_dir = cache_dir
            self._decoded.clear()

    def release(self) -> int:
        """Forget every decoded map (the processor calls this once no map alert has been
        evaluated for a while, so that memory returns to its level after an alert); a map
        asked for again is decoded again. How many were held."""
        with self._lock:
            held = len(self._decoded)
            self._decoded.clear()
        return held

    def __len__(self) -> int:
        return len(self._decoded)

    def peek(self, alert: NormalizedAlert) -> Loaded | None:
        """What an earlier :meth:`load` gave for the alert's map, without loading anything
        (``None``: no map, or not asked for yet)."""
        key = alert.skymap_b64 if alert.skymap_b64 is not None else skymap_url(alert)
        if key is None:
            return None
        with self._lock:
            return self._decoded.get(key)

    def path_for(self, url: str) -> Path:
        """Where the map fetched from ``url`` is kept (``.error`` beside it: why not)."""
        digest = hashlib.sha256(url.encode()).hexdigest()[:32]
        return self.cache_dir / f"{digest}.fits"

    def load(self, alert: NormalizedAlert) -> Loaded | None:
        """The alert's map (decoded once), or ``None`` when the alert carries none."""
        if alert.skymap_b64 is not None:
            return self._remember(alert.skymap_b64, "embedded", lambda: _embedded(alert))
        url = skymap_url(alert)
        if url is None:
            return None
        found = self._remember(url, url, lambda: self._from_cache(url))
        if found.skymap is None and found.stamp != self._stamp(url):
            self._forget(url)  # fetched (or failed again) since: read what is there now
            found = self._remember(url, url, lambda: self._from_cache(url))
        return found

    def _stamp(self, url: str) -> tuple[bool, int | None]:
        """What the cache holds for ``url`` now: a map, and when its failure was written."""
        path = self.path_for(url)
        try:
            written: int | None = path.with_suffix(".error").stat().st_mtime_ns
        except OSError:
            written = None
        return path.exists() or path.with_suffix(".npz").exists(), written

    def _remember(
        self, key: str, source: str, decode: Callable[[], tuple[SkyMap | None, str | None]]
    ) -> Loaded:
        with self._lock:
            found = self._decoded.get(key)
            if found is not None:
                self._decoded.move_to_end(key)
                return found
        stamp = self._stamp(key) if source == key else None  # URL maps: what was read
        skymap, error = decode()
        loaded = Loaded(skymap, error, source, stamp)
        with self._lock:
            self._decoded[key] = loaded
            while len(self._decoded) > self._keep:
                self._decoded.popitem(last=False)
        return loaded

    def _forget(self, key: str) -> None:
        with self._lock:
            self._decoded.pop(key, None)

    def _from_cache(self, url: str) -> tuple[SkyMap | None, str | None]:
        """The decoded copy (``.npz``) the fetcher wrote, else the FITS file, else why not."""
        path = self.path_for(url)
        try:
            return _load_dump(path.with_suffix(".npz").read_bytes())
        except FileNotFoundError:
            pass
        except OSError as exc:
            return None, f"sky map at {url}: cannot read the cached copy: {exc.strerror}"
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            try:
                why = path.with_suffix(".error").read_text(encoding="utf-8").strip()
            except OSError:
                why = "not fetched (yet)"
            return None, f"sky map at {url}: {why}"
        except OSError as exc:
            return None, f"sky map at {url}: cannot read the cached copy: {exc.strerror}"
        return _decode(data)


def _embedded(alert: NormalizedAlert) -> tuple[SkyMap | None, str | None]:
    try:
        data = alert.skymap_bytes()
    except AlertParseError as exc:
        return None, exc.reason
    assert data is not None
    return _decode(data)


def _load_dump(data: bytes) -> tuple[SkyMap | None, str | None]:
    from autotoo.alerts.skymap import SkyMapError, load_dump  # noqa: PLC0415 numpy: lazily

    try:
        return load_dump(data), None
    except SkyMapError as exc:
        return None, str(exc)


def _decode(data: bytes) -> tuple[SkyMap | None, str | None]:
    from autotoo.alerts.skymap import SkyMapError, read_skymap  # noqa: PLC0415 numpy: lazily

    try:
        return read_skymap(data), None
    except SkyMapError as exc:
        return None, f"sky map unreadable: {exc}"
    except Exception as exc:  # a bug in the reader: the alert goes on without its map
        logger.exception("sky map reader failed", error=repr(exc))
        return None, f"sky map unreadable: internal error: {type(exc).__name__}: {exc}"


#: The process's maps (the daemon, the CLI and replays share it).
SKYMAPS = SkyMaps()


def region_of(
    alert: NormalizedAlert, maps: SkyMaps | None = None
) -> tuple[Region | None, str | None]:
    """The region rules see for ``alert``, and why its sky map is not used (if it has one).

    A map that cannot be read leaves the alert with what else it states: its ellipse, its
    circle, its position, or nothing.
    """
    from autotoo.alerts import regions  # noqa: PLC0415 numpy: lazily

    loaded = (maps or SKYMAPS).load(alert)
    if loaded is not None and loaded.skymap is not None:
        return regions.SkyMapRegion(loaded.skymap, loaded.source), None
    error = loaded.error if loaded is not None else None
    if alert.ra is None or alert.dec is None:
        return None, error
    level = alert.error_confidence or regions.DEFAULT_LEVEL
    if alert.ellipse is not None:
        e = alert.ellipse
        return regions.EllipseRegion(alert.ra, alert.dec, e.a_deg, e.b_deg, e.pa_deg, level), error
    if alert.error_deg is not None:
        return regions.CircleRegion(alert.ra, alert.dec, alert.error_deg, level), error
    return regions.PointRegion(alert.ra, alert.dec), error
