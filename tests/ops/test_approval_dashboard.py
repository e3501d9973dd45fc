"""The dashboard's Approve button, clicked in headless Chromium, against the real daemon
(``python -m autotoo run``: a drop folder, the admin server with ``admin.token_file``, live
mode against the Swift and UKSSDC emulators): the request waits until the click, then exactly
one TOO reaches the emulator, recorded as approved by the name typed on the page.

The screenshot is kept at ``$AUTOTOO_SCREENSHOTS/approval.png`` when that is set (to look
at), else in the test's temporary folder.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.chaos.streams import ep_alert
from tests.fixtures.browser import browser
from tests.fixtures.swift_emulator import Emulator
from tests.pipeline.test_approval import APPROVED_RULE, TOPIC, too_posts

TOKEN = "dashboard-test-token"  # the test's own

CONFIG = """\
mode: live
state: sqlite:///{workdir}/state.db
rules: ["{workdir}/rules.yaml"]
sources:
  - kind: directory
    name: drop
    poll_interval: 0.2s
swift:
  protocol: v2
  base_url: {root}/api/v2
  username: myuser
  shared_secret_file: {workdir}/swift-secret
  poll_interval: 0.3s
  timeout: 5s
ukssdc:
  base_url: {root}/user_objects
  user_id: astronomer@example.org
  poll_interval: 0.3s
admin:
  listen: 127.0.0.1:0
  token_file: {workdir}/admin-token
log: {{format: json, level: info}}
shutdown_grace: 5s
max_alert_age: 3650d   # the alerts are real ones of 2026
"""


class Daemon:
    def __init__(self, workdir: Path, emulator: Emulator) -> None:
        self.workdir = workdir
        (workdir / "swift-secret").write_text("my_shared_secret\n")
        (workdir / "admin-token").write_text(TOKEN + "\n")
        (workdir / "admin-token").chmod(0o600)
        (workdir / "rules.yaml").write_text(APPROVED_RULE)
        (workdir / "autotoo.yaml").write_text(CONFIG.format(workdir=workdir, root=emulator.root))
        self.log = workdir / "daemon.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "autotoo", "run", "-c", str(workdir / "autotoo.yaml")],
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
            cwd=workdir,
        )

    def lines(self) -> Iterator[dict[str, Any]]:
        for line in self.log.read_text(errors="replace").splitlines():
            text = re.sub(r"^<\d>", "", line)  # the journal's priority prefix
            if text.startswith("{"):
                yield json.loads(text)

    async def admin_root(self) -> str:
        for _ in range(600):
            for line in self.lines():
                if line.get("event") == "admin server listening":
                    return f"http://127.0.0.1:{line['port']}/"
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            await asyncio.sleep(0.1)
        pytest.fail("the admin server never listened")

    def drop(self, raw: bytes) -> None:
        folder = self.workdir / "spool" / TOPIC
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "ep.tmp").write_bytes(raw)
        (folder / "ep.tmp").rename(folder / "ep.json")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait()


def keep(target: Path, *shots: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for shot in shots:
        shutil.copy(shot, target / shot.name)


async def status(root: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session, session.get(root + "api/status") as reply:
        body: dict[str, Any] = await reply.json()
        return body


async def until(root: str, check: Any, what: str, timeout: float = 60.0) -> dict[str, Any]:
    for _ in range(int(timeout / 0.2)):
        current = await status(root)
        if check(current):
            return current
        await asyncio.sleep(0.2)
    pytest.fail(f"never: {what}")


async def test_approve_on_the_dashboard_sends_one_too(make_emulator: Any, tmp_path: Path) -> None:
    emulator = await make_emulator(speed=20_000)
    daemon = Daemon(tmp_path, emulator)
    try:
        root = await daemon.admin_root()
        daemon.drop(ep_alert(1))
        st = await until(root, lambda s: s["needs_approval"], "a request waits for approval")
        [waiting] = st["needs_approval"]
        assert waiting["action"] == "too"
        assert st["approvals_enabled"] is True
        await asyncio.sleep(1.0)  # the daemon's rounds go on: still nothing is sent
        assert too_posts(emulator) == 0
        async with browser(tmp_path / "chromium-profile") as page:
            await page.open(root)
            await page.wait_for(
                f"!!document.querySelector('#needs-approval li[data-id=\"{waiting['id']}\"]')"
            )
            asked = await page.screenshot(tmp_path / "asked.png")
            await page.type("#admin-token", TOKEN)
            await page.type("#approver", "Erin")
            await page.click(f"#needs-approval button.approve[data-id='{waiting['id']}']")
            said = await page.wait_for(
                "(t => t.includes('approved') && t)"
                "(document.getElementById('approval-result').textContent)"
            )
            assert f"#{waiting['id']} approved: approved by Erin (dashboard) at " in said
            await until(
                root,
                lambda s: any(
                    r["id"] == waiting["id"] and r["remote_id"] is not None
                    for r in s["submissions"]
                ),
                "the approved TOO is submitted",
            )
            await page.wait_for(  # no longer listed as waiting (its XRT job may be, later)
                f"!document.querySelector('#needs-approval li[data-id=\"{waiting['id']}\"]')"
            )
            await page.wait_for(
                f"[...document.querySelectorAll('#requests tr[data-id=\"{waiting['id']}\"]')]"
                ".some(r => ['submitted', 'tracking', 'done'].includes(r.dataset.state))"
            )
            shot = await page.screenshot(tmp_path / "approval.png")
        if target := os.environ.get("AUTOTOO_SCREENSHOTS"):
            keep(Path(target), asked, shot)
        await asyncio.sleep(1.0)
        assert too_posts(emulator) == 1
        assert len(emulator.swift.toos) == 1
        final = await status(root)
        [row] = [r for r in final["submissions"] if r["id"] == waiting["id"]]
        assert row["approved_by"] == "Erin (dashboard)"
        assert row["state"] in {"submitted", "tracking", "done"}
    finally:
        assert daemon.stop() == 0, daemon.log.read_text()[-3000:]
