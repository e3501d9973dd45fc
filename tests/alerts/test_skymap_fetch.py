"""Maps published by URL, fetched from a real local HTTP server serving a GBM-format map."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest

from autotoo.adapters.skymaps import fetch_for_alert, fetch_skymap
from autotoo.alerts import parse_alert, regions
from autotoo.alerts.regions import CircleRegion, SkyMapRegion
from autotoo.alerts.skymaps import SkyMaps, region_of
from tests.alerts.alert_corpus import CORPUS
from tests.alerts.map_server import MAP, MapServer, Server

GBM = CORPUS / "gcn-schema/fermi/gbm/trigger.final.example.json"


@pytest.fixture
async def server(aiohttp_server: Server) -> tuple[MapServer, str]:
    maps = MapServer()
    running = await aiohttp_server(maps.app)
    return maps, str(running.make_url("/")).rstrip("/")


async def test_a_gbm_alert_map_is_fetched_once_and_used(
    server: tuple[MapServer, str], tmp_path: Path
) -> None:
    maps_server, base = server
    payload = json.loads(GBM.read_bytes())
    payload["healpix_url"] = f"{base}/map.fit"
    alert = parse_alert(json.dumps(payload).encode())
    maps = SkyMaps(tmp_path / "cache")
    before, error = region_of(alert, maps)
    assert before == CircleRegion(29.24, -63.62, 1.0, 0.68)
    assert error == f"sky map at {base}/map.fit: not fetched (yet)"

    async with aiohttp.ClientSession() as session:
        result = await fetch_for_alert(session, alert, maps=maps)
        again = await fetch_for_alert(session, alert, maps=maps)
    assert result is not None
    assert result.error is None
    assert result.path is not None
    assert result.path.read_bytes() == MAP
    assert result.path.with_suffix(".npz").exists()  # the decoded map, what rules read
    assert again is not None
    assert again.cached
    assert maps_server.requests == ["map.fit"]

    region, error = region_of(alert, maps)
    assert isinstance(region, SkyMapRegion)
    assert error is None
    assert region.source == f"{base}/map.fit"
    ra, dec = regions.max_prob_position(region)
    assert abs(ra - 29.24) < 2.5
    assert abs(dec + 63.62) < 1.0


async def test_a_map_over_the_size_limit_is_refused(
    server: tuple[MapServer, str], tmp_path: Path
) -> None:
    _, base = server
    maps = SkyMaps(tmp_path)
    async with aiohttp.ClientSession() as session:
        declared = await fetch_skymap(session, f"{base}/map.fit", maps=maps, max_bytes=1000)
        streamed = await fetch_skymap(session, f"{base}/chunked.fit", maps=maps, max_bytes=1000)
        whole = await fetch_skymap(session, f"{base}/chunked.fit", maps=maps)
    assert declared.error == f"sky map is {len(MAP)} bytes, over the 1000-byte limit"
    assert streamed.error == "sky map is over the 1000-byte limit"
    assert whole.error is None
    assert not maps.path_for(f"{base}/map.fit").exists()


async def test_failures_are_kept_with_their_reason(
    server: tuple[MapServer, str], tmp_path: Path
) -> None:
    _, base = server
    maps = SkyMaps(tmp_path)
    payload = json.loads(GBM.read_bytes())
    payload["healpix_url"] = f"{base}/gone.fit"
    alert = parse_alert(json.dumps(payload).encode())
    assert region_of(alert, maps)[1] == f"sky map at {base}/gone.fit: not fetched (yet)"
    async with aiohttp.ClientSession() as session:
        slow = await fetch_skymap(session, f"{base}/slow.fit", maps=maps, timeout_s=0.2)
        missing = await fetch_skymap(session, f"{base}/gone.fit", maps=maps)
        junk = await fetch_skymap(session, f"{base}/junk.fit", maps=maps)
    assert slow.error == "fetch timed out after 0.2 s"
    assert missing.error == "fetch failed: HTTP 404 Not Found"
    assert junk.error == "sky map unreadable: not a FITS file (no SIMPLE card)"
    region, error = region_of(alert, maps)
    assert isinstance(region, CircleRegion)  # evaluated without the map ...
    assert error == f"sky map at {base}/gone.fit: fetch failed: HTTP 404 Not Found"  # ... and why


async def test_an_alert_without_a_url_fetches_nothing(tmp_path: Path) -> None:
    lvk = parse_alert((CORPUS / "igwn/MS181101ab-preliminary.json").read_bytes(), None)
    async with aiohttp.ClientSession() as session:
        assert await fetch_for_alert(session, lvk, maps=SkyMaps(tmp_path)) is None
