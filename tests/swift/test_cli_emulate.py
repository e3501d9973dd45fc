"""``autotoo emulate`` serves the emulators on one port, prints the base URLs, stops on SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from pathlib import Path

import pytest

from autotoo.swift import SwiftAuthError, SwiftV2Client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_emulate_serves_until_sigterm(tmp_path: Path) -> None:
    users = tmp_path / "users.yaml"
    users.write_text("swift:\n  alice: alices_secret\nukssdc:\n  - alice@example.org\n")
    names = tmp_path / "names.csv"
    names.write_text("# ours\nEP250101a,150.25,-12.5,X-ray transient,EP J1001-1230\n")
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "from autotoo.cli import run_main; run_main()",
        "emulate", "--port", str(port), "--users", str(users), "--clock-speed", "3600",
        "--names", str(names),
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(30):
            lines = [(await proc.stdout.readline()).decode() for _ in range(3)]
        root = f"http://127.0.0.1:{port}"
        assert lines[0].strip().endswith(f"{root}/api/v2")
        assert lines[1].strip().endswith(f"{root}/toop/submit_json.php")
        assert lines[2].strip().endswith(f"{root}/user_objects")
        async with SwiftV2Client(
            f"{root}/api/v2", username="alice", shared_secret="alices_secret"
        ) as s:
            assert (await s.resolve("SMC X-3")).name == "SMC X-3"
            assert (await s.resolve("V404 Cyg")).name == "V404 Cyg"  # the packaged catalogue
            mine = await s.resolve("EP J1001-1230")  # the --names file, by an alias
            assert (mine.name, mine.ra, mine.dec) == ("EP250101a", 150.25, -12.5)
            assert await s.list_toos() == []
        seed_user = {"username": "myuser", "shared_secret": "my_shared_secret"}
        async with SwiftV2Client(f"{root}/api/v2", **seed_user) as s:
            with pytest.raises(SwiftAuthError, match="Login failed"):
                await s.list_toos()  # the --users file replaces the default accounts
    finally:
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            code = await proc.wait()
    assert code == 0


async def test_emulate_rejects_a_bad_users_file(tmp_path: Path) -> None:
    users = tmp_path / "users.yaml"
    users.write_text("- just\n- a list\n")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "from autotoo.cli import run_main; run_main()",
        "emulate", "--port", str(free_port()), "--users", str(users),
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(30):
        out, _ = await proc.communicate()
    assert proc.returncode == 78
    assert b"cannot read users file" in out


async def test_emulate_rejects_a_bad_names_file(tmp_path: Path) -> None:
    names = tmp_path / "names.csv"
    names.write_text("Somewhere,25:00:00,+10:00:00\n")  # RA past 24h
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "from autotoo.cli import run_main; run_main()",
        "emulate", "--port", str(free_port()), "--names", str(names),
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(30):
        out, _ = await proc.communicate()
    assert proc.returncode == 78
    assert b"cannot read names file" in out
    assert b"row 1" in out


async def test_emulate_on_port_0_prints_the_bound_port_and_stops_on_an_early_ctrl_c() -> None:
    """`--port 0` lets the kernel pick: the printed URLs carry the port really bound (they
    said ``:0``), and SIGINT right after they appear is a clean stop, not a traceback."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "from autotoo.cli import run_main; run_main()",
        "emulate", "--port", "0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    assert proc.stderr is not None
    try:
        async with asyncio.timeout(30):
            first = (await proc.stdout.readline()).decode()
    finally:
        proc.send_signal(signal.SIGINT)
        async with asyncio.timeout(30):
            code = await proc.wait()
            err = (await proc.stderr.read()).decode()
    port = int(first.strip().rsplit(":", 1)[1].split("/")[0])
    assert port > 0, first
    assert code == 0, err
    assert "Traceback" not in err
