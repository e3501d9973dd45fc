"""Sky maps published by URL on the processor's path: a GBM notice names its HEALPix map,
the processor fetches it (a real local HTTP server) before the rules run, and a rule whose
decision depends on the map's area asks Swift (the emulator) for a TOO. A map that cannot be
had (404, too slow, too large) leaves the notice evaluated with its 1-degree circle, and the
decision says why; a map fetched once is read from the cache after a restart."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from autotoo.adapters.skymaps import SkymapFetcher
from autotoo.alerts.skymaps import SKYMAPS
from autotoo.cli import main
from autotoo.exits import EXIT_OK
from autotoo.sources.base import Received
from tests.alerts.alert_corpus import CORPUS
from tests.alerts.map_server import MAP, MapServer, Server

GBM = CORPUS / "gcn-schema/fermi/gbm/trigger.final.example.json"
TOPIC = "gcn.notices.fermi.gbm.final_position"
# GBM's format (a PROBABILITY column, RING, nside 64): a blob of sigma 3 deg, 90% area
# ~130 deg2, where the notice's own circle (1 deg at 68%) has ~6 deg2.

RULES = """\
rules:
  - name: gbm-wide
    match: {missions: [fermi]}
    accept_test: true
    when: area(alert, 0.9) > 50.0 && prob_in_fov(alert, alert.ra, alert.dec, 0.2) < 0.01
    too:
      source_name: "GBM {{ alert.event_key }}"
      source_type: X-ray transient
      position: alert
      urgency: 2
      obs_type: Light Curve
      exp_time_per_visit: 2000
      num_of_visits: 1
      xrt_countrate: 0.5
      immediate_objective: "Localise {{ alert.group_key }}"
      science_just: "A GBM burst with a wide map."
      exp_time_just: "2 ks reaches the flux needed."
"""


@pytest.fixture
async def maps(aiohttp_server: Server, tmp_path: Path) -> AsyncIterator[tuple[MapServer, str]]:
    """The map server, and the process's sky maps in a cache of this test's own."""
    server = MapServer()
    running = await aiohttp_server(server.app)
    SKYMAPS.use_cache_dir(tmp_path / "skymaps")
    try:
        yield server, str(running.make_url("/")).rstrip("/")
    finally:
        SKYMAPS.use_cache_dir(None)


def gbm_notice(url: str | None, *, trigger: str = "745121685") -> bytes:
    payload = json.loads(GBM.read_bytes())
    payload["id"] = [trigger, f"bn{trigger}"]
    if url is None:
        payload.pop("healpix_url")
    else:
        payload["healpix_url"] = url
    return json.dumps(payload).encode()


def decisions(p: Any) -> list[tuple[str, int, str]]:
    with sqlite3.connect(p.repo.db.path) as conn:
        return conn.execute(
            "SELECT a.event_key, d.matched, d.reason FROM decisions d "
            "JOIN alerts a ON a.id = d.alert_id ORDER BY d.id"
        ).fetchall()


async def test_a_fetched_gbm_map_decides_and_its_too_is_sent(
    make_emulator: Any, make_pipeline: Any, maps: tuple[MapServer, str]
) -> None:
    server, base = maps
    emulator = await make_emulator()
    async with aiohttp.ClientSession() as session:
        p = await make_pipeline(emulator, RULES, skymaps=SkymapFetcher(session))
        await p.feed(gbm_notice(f"{base}/map.fit"), TOPIC)
        await p.run(rounds=2)
    [(_, matched, reason)] = decisions(p)
    assert matched, reason
    assert "without its sky map" not in reason
    assert server.requests == ["map.fit"]
    assert len(emulator.swift.toos) == 1


async def test_without_the_fetch_the_circle_decides(
    make_emulator: Any, make_pipeline: Any, maps: tuple[MapServer, str]
) -> None:
    """The same notice and rule with fetching off: the 1-degree circle is too small."""
    server, base = maps
    emulator = await make_emulator()
    p = await make_pipeline(emulator, RULES)
    await p.feed(gbm_notice(f"{base}/map.fit"), TOPIC)
    await p.run(rounds=2)
    [(_, matched, reason)] = decisions(p)
    assert not matched
    assert reason.endswith(
        f"evaluated without its sky map: sky map at {base}/map.fit: not fetched (yet)"
    )
    assert server.requests == []
    assert emulator.swift.toos == {}


@pytest.mark.parametrize(
    ("path", "limit", "why"),
    [
        ("gone.fit", None, "fetch failed: HTTP 404 Not Found"),
        ("slow.fit", None, "fetch timed out after 0.3 s"),
        ("map.fit", 1000, f"sky map is {len(MAP)} bytes, over the 1000-byte limit"),
    ],
)
async def test_a_map_that_cannot_be_had_leaves_the_circle_and_says_why(
    make_emulator: Any,
    make_pipeline: Any,
    maps: tuple[MapServer, str],
    path: str,
    limit: int | None,
    why: str,
) -> None:
    """The other alert of the round (no map) waits no longer than the fetch's timeout."""
    _, base = maps
    emulator = await make_emulator()
    async with aiohttp.ClientSession() as session:
        fetcher = SkymapFetcher(session, timeout_s=0.3, max_bytes=limit or 64 * 2**20)
        p = await make_pipeline(emulator, RULES, skymaps=fetcher)
        for seq, raw in enumerate([gbm_notice(f"{base}/{path}"), gbm_notice(None, trigger="7")]):
            received = Received.create(
                raw=raw, identity=f"t:{seq}", topic=TOPIC, received_at=p.clock(), source="test"
            )
            await p.inbox(received)
        started = time.monotonic()
        await p.processor.step()
        took = time.monotonic() - started
        await p.run(rounds=2)
    assert took < 1.5, took
    rows = decisions(p)
    assert [(key, bool(m)) for key, m, _ in rows] == [("745121685", False), ("7", False)]
    assert rows[0][2].endswith(f"evaluated without its sky map: sky map at {base}/{path}: {why}")
    assert "sky map" not in rows[1][2]
    assert emulator.swift.toos == {}


async def test_after_a_restart_the_cached_map_is_read_and_replay_shows_it(
    make_emulator: Any,
    make_pipeline: Any,
    maps: tuple[MapServer, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A second process (a fresh store and an empty in-memory LRU, as after kill -9) reads
    the map the first one fetched, without asking the server again; so does a replay."""
    server, base = maps
    emulator = await make_emulator()
    notice = gbm_notice(f"{base}/map.fit")
    async with aiohttp.ClientSession() as session:
        first = await make_pipeline(emulator, RULES, skymaps=SkymapFetcher(session))
        await first.feed(notice, TOPIC)
        SKYMAPS.use_cache_dir(tmp_path / "skymaps")  # forgets every decoded map
        (tmp_path / "again").mkdir()
        second = await make_pipeline(
            emulator, RULES, state_dir=tmp_path / "again", skymaps=SkymapFetcher(session)
        )
        await second.feed(notice, TOPIC)
    assert [m for _, m, _ in decisions(second)] == [1]
    assert server.requests == ["map.fit"]

    (tmp_path / "rules.yaml").write_text(RULES)
    config = tmp_path / "replay.yaml"
    config.write_text(
        f'rules: ["{tmp_path / "rules.yaml"}"]\nskymaps: {{cache_dir: "{tmp_path / "skymaps"}"}}\n'
    )
    alert = tmp_path / "gbm.json"
    alert.write_bytes(notice)
    argv = ["replay", "-c", str(config), "--json", "--topic", TOPIC, str(alert)]
    assert await asyncio.to_thread(main, argv) == EXIT_OK
    out = capsys.readouterr().out
    [report] = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert [(r["rule"], r["matched"]) for r in report["rules"]] == [("gbm-wide", True)]


def test_the_cache_lives_beside_the_state_file_unless_configured(tmp_path: Path) -> None:
    from autotoo.config.models import Config  # noqa: PLC0415
    from autotoo.wiring import skymap_cache_dir  # noqa: PLC0415

    state = f"sqlite:///{tmp_path}/state/state.db"
    assert skymap_cache_dir(Config(state=state)) == tmp_path / "state" / "skymaps"
    relative = Config.model_validate({"state": state, "skymaps": {"cache_dir": "maps"}})
    assert skymap_cache_dir(relative) == tmp_path / "state" / "maps"
    absolute = Config.model_validate({"skymaps": {"cache_dir": str(tmp_path / "elsewhere")}})
    assert skymap_cache_dir(absolute) == tmp_path / "elsewhere"


async def test_the_processor_keeps_few_alerts_with_an_embedded_map(
    make_emulator: Any, make_pipeline: Any
) -> None:
    """An LVK alert carries ~1 MB of base64: of the 4096 parsed alerts the processor keeps
    for their events' later alerts, at most 8 may carry a map (bench/skymap_path.py measured
    +1 MB of resident memory per LVK alert, for ever, before). An evicted alert's event
    still finds it: its next alert reads it again from the store."""
    lvk = json.loads((CORPUS / "igwn" / "MS181101ab-preliminary.json").read_bytes())
    rules = "rules:\n  - name: lvk-notify\n    match: {missions: [lvk]}\n    accept_test: true\n"
    rules += "    when: size(event.alerts) >= 1 && area(alert, 0.9) < 100.0\n    notify: [mqtt]\n"
    p = await make_pipeline(await make_emulator(), rules)
    for n in range(12):
        await p.feed(json.dumps(dict(lvk, superevent_id=f"MS{n:04d}")).encode(), "igwn.gwalert")
    kept = [a for a in p.processor._cache.values() if a.skymap_b64 is not None]
    assert [a.event_key for a in kept] == [f"MS{n:04d}" for n in range(4, 12)]
    update = dict(lvk, superevent_id="MS0000", alert_type="UPDATE")
    await p.feed(json.dumps(update).encode(), "igwn.gwalert")
    with sqlite3.connect(p.repo.db.path) as conn:
        (count,) = conn.execute("SELECT count(*) FROM alerts WHERE event_key = 'MS0000'").fetchone()
    assert count == 2
    assert all(matched for _, matched, _ in decisions(p)), decisions(p)


async def test_the_processor_lets_go_of_maps_once_idle(
    make_emulator: Any, make_pipeline: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 20: "the resident memory returns to its level after the alert". The parsed
    alerts carrying a map and the decoded maps are released once no map alert has been
    evaluated for a while (3 s; 0.2 s here); an event's later alert reads its earlier ones
    from the store and decodes their maps again, and decides the same."""
    from autotoo.pipeline import processor as processor_module  # noqa: PLC0415

    monkeypatch.setattr(processor_module, "_MAPS_IDLE", 0.2)
    lvk = json.loads((CORPUS / "igwn" / "MS181101ab-preliminary.json").read_bytes())
    rules = "rules:\n  - name: lvk-notify\n    match: {missions: [lvk]}\n    accept_test: true\n"
    rules += "    when: size(event.alerts) >= 1 && area(alert, 0.9) < 100.0\n    notify: [mqtt]\n"
    p = await make_pipeline(await make_emulator(), rules)
    for n in range(2):
        await p.feed(json.dumps(dict(lvk, superevent_id=f"MS{n:04d}")).encode(), "igwn.gwalert")
    assert [a.event_key for a in p.processor._cache.values() if a.skymap_b64] == [
        "MS0000",
        "MS0001",
    ]
    assert len(SKYMAPS) > 0
    assert 0.0 < p.processor.idle_seconds() <= 0.2  # it wakes to release them
    await p.processor.step()  # nothing new, but not idle long enough yet
    assert len(SKYMAPS) > 0
    await asyncio.sleep(0.25)
    await p.processor.step()  # an idle round
    assert not [a for a in p.processor._cache.values() if a.skymap_b64 is not None]
    assert len(SKYMAPS) == 0
    assert p.processor.idle_seconds() == 5.0
    update = dict(lvk, superevent_id="MS0000", alert_type="UPDATE")
    await p.feed(json.dumps(update).encode(), "igwn.gwalert")
    with sqlite3.connect(p.repo.db.path) as conn:
        (count,) = conn.execute("SELECT count(*) FROM alerts WHERE event_key = 'MS0000'").fetchone()
    assert count == 2
    assert [matched for _, matched, _ in decisions(p)] == [True, True, True], decisions(p)
