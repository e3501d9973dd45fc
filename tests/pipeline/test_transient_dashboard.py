"""The dashboard's transients: ``/api/transients`` and one transient's timeline, served by
the real admin server from the store the real pipeline wrote for one four-mission burst, and
drawn by the page's own script in headless Chromium."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import aiohttp
import pytest

from autotoo.admin import AdminServer
from tests.pipeline.conftest import Pipeline
from tests.pipeline.test_transient_views import KEY, _cli, _db
from tests.pipeline.test_transient_views import burst as burst  # noqa: PLC0414 the fixture


async def _admin(p: Pipeline) -> tuple[AdminServer, asyncio.Task[None]]:
    admin = AdminServer(
        "127.0.0.1", 0, mode=lambda: "live", heartbeat_age=lambda: 0.0, sources=list, repo=p.repo
    )
    task = asyncio.create_task(admin.run())
    await asyncio.wait_for(admin.listening.wait(), 10)
    return admin, task


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_the_dashboard_endpoints_serve_the_same_rows(
    burst: Pipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    admin, task = await _admin(burst)
    base = f"http://127.0.0.1:{admin.bound_port}"
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{base}/api/transients") as reply:
                assert reply.status == 200
                listed = await reply.json()
            async with session.get(f"{base}/api/transients/T%3Afermi%3A800400263") as reply:
                assert reply.status == 200
                shown = await reply.json()
            async with session.get(f"{base}/api/transients/T:nothing:1") as reply:
                assert reply.status == 404
    finally:
        await _stop(task)
    assert [t["key"] for t in listed] == [KEY]
    cli = json.loads(await _cli(capsys, "transients", "show", KEY, "--json", "--db", _db(burst)))
    assert shown == cli


CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    "--virtual-time-budget=5000",  # the page's fetches of the transients finish first
)


async def _chromium(*args: str) -> str:
    from tests.fixtures.browser import chromium  # noqa: PLC0415

    proc = await asyncio.create_subprocess_exec(
        chromium(),
        *CHROMIUM_FLAGS,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()[-2000:]
    return out.decode()


async def test_the_dashboard_draws_the_timeline_in_chromium(
    burst: Pipeline, tmp_path: Path
) -> None:
    admin, task = await _admin(burst)
    url = f"http://127.0.0.1:{admin.bound_port}/#transient=T%3Afermi%3A800400263"
    shot = tmp_path / "transient-timeline.png"  # pytest --basetemp=DIR keeps it to look at
    try:
        dom = await _chromium(f"--user-data-dir={tmp_path / 'profile-dom'}", "--dump-dom", url)
        await _chromium(
            f"--user-data-dir={tmp_path / 'profile-shot'}",
            "--window-size=1500,2600",
            f"--screenshot={shot}",
            url,
        )
    finally:
        await _stop(task)
    # the list, with a link to the timeline
    listed = re.search(r'<table id="transients">.*?</table>', dom, re.DOTALL)
    assert listed, dom[:2000]
    assert 'href="#transient=T%3Afermi%3A800400263"' in listed.group(0)
    assert "fermi, swift, einstein_probe, svom" in listed.group(0)
    # the timeline: drawn, every row with its time since the trigger
    assert "Timeline of T:fermi:800400263" in dom
    body = re.search(r'<table id="timeline-rows">.*?<tbody>(.*?)</tbody>', dom, re.DOTALL)
    assert body, dom[:2000]
    rows = re.findall(r'<tr class="tl-(\w+)" data-kind="\w+">(.*?)</tr>', body.group(1), re.DOTALL)
    assert len([k for k, _ in rows if k == "notice"]) == 7
    assert len([k for k, _ in rows if k == "association"]) == 4
    for _, cells in rows:
        assert re.match(r'<td class="since">[+-]\d', cells), cells
    text = re.sub(r"<[^>]+>", " ", body.group(1))
    assert "joined T:fermi:800400263 because it triggered 2.0 s after fermi:800400263" in text
    assert "covered by rule ep-wxt's TOO (planned)" in text
    assert "submitting -&gt; submitted (accepted as 22000)" in text
    assert shot.stat().st_size > 50_000  # a drawn page, not a blank one
