"""Drop-folder source on a real temporary directory."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest
import structlog.testing

from autotoo.sources.base import payload_digest
from autotoo.sources.directory import DirectorySource
from autotoo.sources.settings import DirectorySettings
from tests.sources.helpers import WAIT, Collector, eventually, running


def drop(folder: Path, name: str, data: bytes, mtime: float | None = None) -> Path:
    """Write the way scripts should: a .tmp file renamed into place."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f"{name}.tmp"
    tmp.write_bytes(data)
    if mtime is not None:
        os.utime(tmp, (mtime, mtime))
    final = folder / name
    tmp.rename(final)
    return final


def source_for(path: Path, **changes: Any) -> DirectorySource:
    values: dict[str, Any] = {
        "name": "replay",
        "path": path,
        "topic": "gcn.classic.voevent.SWIFT_BAT_GRB_POS_ACK",
        "poll_interval": 0.05,
    }
    values.update(changes)
    return DirectorySource(DirectorySettings(**values))


async def test_delivers_oldest_first_with_topics_and_moves_to_done(tmp_path: Path) -> None:
    drop(tmp_path, "b.xml", b"<b/>", mtime=2_000_000_000)
    drop(tmp_path, "a.xml", b"<a/>", mtime=2_000_000_100)
    drop(tmp_path / "igwn.gwalert", "S1.json", b"{}", mtime=2_000_000_050)
    (tmp_path / "partial.json.tmp").write_bytes(b"{half")
    (tmp_path / ".hidden").write_bytes(b"editor swap")
    sink = Collector()
    source = source_for(tmp_path)
    async with running(source, sink):
        await sink.wait_for_count(3)
        await eventually(lambda: not (tmp_path / "a.xml").exists())
        assert source.health.connected
    assert not source.health.connected
    assert sink.payloads == [b"<b/>", b"{}", b"<a/>"]
    assert [item.topic for item in sink.items] == [
        "gcn.classic.voevent.SWIFT_BAT_GRB_POS_ACK",
        "igwn.gwalert",
        "gcn.classic.voevent.SWIFT_BAT_GRB_POS_ACK",
    ]
    assert sink.items[1].identity == f"file:igwn.gwalert/S1.json:sha256:{payload_digest(b'{}')}"
    assert (tmp_path / "done" / "b.xml").read_bytes() == b"<b/>"
    assert (tmp_path / "done" / "igwn.gwalert" / "S1.json").exists()
    assert (tmp_path / "partial.json.tmp").exists()
    assert (tmp_path / ".hidden").exists()


async def test_file_stays_until_the_sink_returned(tmp_path: Path) -> None:
    dropped = drop(tmp_path, "alert.json", b"slow")
    sink = Collector()
    release = sink.hold(b"slow")
    async with running(source_for(tmp_path), sink):
        await sink.wait_entered(b"slow")
        await asyncio.sleep(0.2)  # several polls: the file must not be offered twice or moved
        assert dropped.exists()
        assert sink.entered == [b"slow"]
        release.set()
        await eventually(lambda: not dropped.exists())
    assert (tmp_path / "done" / "alert.json").exists()


async def test_sink_error_leaves_the_file_for_the_next_start(tmp_path: Path) -> None:
    dropped = drop(tmp_path, "alert.json", b"boom")
    with pytest.raises(RuntimeError, match="inbox is full"):
        async with asyncio.timeout(WAIT):
            await source_for(tmp_path).run(Collector(fail_on=b"boom"))
    assert dropped.exists()
    sink = Collector()
    async with running(source_for(tmp_path), sink):
        await sink.wait_for_count(1)
    assert sink.payloads == [b"boom"]


async def test_too_large_goes_to_failed_with_a_reason(tmp_path: Path) -> None:
    drop(tmp_path, "huge.json", b"x" * 101)
    drop(tmp_path, "fine.json", b"{}", mtime=2_100_000_000)
    sink = Collector()
    source = source_for(tmp_path, max_bytes=100)
    async with running(source, sink):
        await sink.wait_for_count(1)
        await eventually((tmp_path / "failed" / "huge.json.reason").exists)
    assert sink.payloads == [b"{}"]
    assert "larger than 100 bytes" in (tmp_path / "failed" / "huge.json.reason").read_text()
    assert "huge.json" in (source.health.last_error or "")


async def test_replayed_names_do_not_overwrite_done_files(tmp_path: Path) -> None:
    sink = Collector()
    async with running(source_for(tmp_path), sink):
        drop(tmp_path, "same.json", b"first")
        await sink.wait_for_count(1)
        await eventually((tmp_path / "done" / "same.json").exists)
        drop(tmp_path, "same.json", b"second")
        await sink.wait_for_count(2)
        await eventually((tmp_path / "done" / "same.json.1").exists)
    assert (tmp_path / "done" / "same.json").read_bytes() == b"first"
    assert (tmp_path / "done" / "same.json.1").read_bytes() == b"second"
    assert sink.items[0].identity != sink.items[1].identity


async def test_missing_folder_is_reported_and_polled_again(tmp_path: Path) -> None:
    folder = tmp_path / "not-yet"
    sink = Collector()
    source = source_for(folder)
    async with running(source, sink):
        await eventually(lambda: source.health.last_error is not None)
        assert not source.health.connected
        drop(folder, "late.json", b"late")
        await sink.wait_for_count(1)
        assert source.health.connected


ALERTS = Path(__file__).resolve().parents[1] / "data" / "alerts"


async def test_files_without_a_configured_topic_get_the_topic_their_payload_names(
    tmp_path: Path,
) -> None:
    """A dropped notice reaches the rules of its stream: the Swift BAT VOEvent comes as
    gcn.classic.voevent.SWIFT_BAT_GRB_POS_ACK, an IGWN alert as igwn.gwalert; a subfolder
    still wins, and a payload that names no stream gets ``directory``."""
    bat = (ALERTS / "voevent-classic" / "gwcelery-swift_grb_gcn.xml").read_bytes()
    ep = (ALERTS / "gcn-schema" / "einstein_probe" / "wxt" / "alert.example.json").read_bytes()
    drop(tmp_path, "a.xml", bat, mtime=2_000_000_000)
    drop(tmp_path, "b.json", ep, mtime=2_000_000_010)
    drop(tmp_path, "c.json", b"{not json", mtime=2_000_000_020)
    drop(tmp_path / "my.topic", "d.xml", bat, mtime=2_000_000_030)
    sink = Collector()
    async with running(source_for(tmp_path, topic=None), sink):
        await sink.wait_for_count(4)
    assert [item.topic for item in sink.items] == [
        "gcn.classic.voevent.SWIFT_BAT_GRB_POS_ACK",
        "gcn.notices.einstein_probe.wxt.alert",
        "directory",
        "my.topic",
    ]


async def test_a_configured_topic_wins_over_the_payload(tmp_path: Path) -> None:
    bat = (ALERTS / "voevent-classic" / "gwcelery-swift_grb_gcn.xml").read_bytes()
    drop(tmp_path, "a.xml", bat)
    sink = Collector()
    async with running(source_for(tmp_path, topic="lab.alerts"), sink):
        await sink.wait_for_count(1)
    assert sink.items[0].topic == "lab.alerts"


async def test_a_missing_folder_warns_once_not_at_every_poll(tmp_path: Path) -> None:
    """Polled every 10 ms for 0.3 s: one warning (the old code wrote one per poll, ~86,000 a
    day at the default 1 s); the health still shows the error at every poll."""
    folder = tmp_path / "not-yet"
    source = source_for(folder, poll_interval=0.01)
    with structlog.testing.capture_logs() as logs:
        async with running(source, Collector()):
            await asyncio.sleep(0.3)
            assert source.health.last_error is not None
    warnings = [e for e in logs if e["event"] == "directory.unreadable"]
    assert len(warnings) == 1
    assert warnings[0]["held_back"] == 0
    assert warnings[0]["path"] == str(folder)


def test_repeat_limiter_counts_what_it_held_back_and_rearms() -> None:
    from autotoo.ratelimit import RepeatLimiter  # noqa: PLC0415  the old code has none

    now = [0.0]
    limiter = RepeatLimiter(every=600.0, clock=lambda: now[0])
    assert limiter.check("k") == 0  # the first occurrence: at once
    for second in range(1, 600):
        now[0] = float(second)
        assert limiter.check("k") is None
    now[0] = 600.0
    assert limiter.check("k") == 599  # then one line carrying how many were held back
    assert limiter.check("other") == 0  # keys are independent
    limiter.clear("k")  # the cause went away: the next failure shows at once
    assert limiter.check("k") == 0
