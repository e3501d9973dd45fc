"""What `autotoo run` imports before READY=1 (bench/startup.py measures the time).

Heavy packages only the v1 protocol (PyJWT, which pulls in cryptography), the sky helpers
(astropy) or the sky-map region functions (numpy) need must not be imported by the modules
every daemon start loads. Nor may the
packages the daemon never uses at start: the ``cel`` package's command-line tool (typer,
Rich, prompt_toolkit: CEL is loaded from its compiled module), Rich through structlog, the
admin server (aiohttp.web, prometheus_client) when it is disabled, and the look-up of
``autotoo.__version__`` (importlib.metadata scans the installed distributions).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from autotoo.demo import DEMO_RULE
from tests.fixtures.notify import NotifySocket

START_MODULES = (
    "autotoo.wiring",
    "autotoo.cli.run",
    "autotoo.rules",
    "autotoo.pipeline.processor",
    "autotoo.pipeline.submitter",
    "autotoo.pipeline.tracker",
    "autotoo.adapters.swift",
    "autotoo.adapters.ukssdc",
    "autotoo.swift",
    "autotoo.sources.mqtt",
)
NOT_AT_START = (
    "jwt",
    "cryptography",
    "astropy",
    "numpy",
    "cel.cli",
    "typer",
    "prompt_toolkit",
    "psycopg",  # a SQLite daemon does not load the PostgreSQL driver (docs/postgresql.md)
)
# Not loaded by the time the daemon says READY=1 (config below: live, admin disabled).
NOT_BEFORE_READY = (
    *NOT_AT_START,
    "rich",
    "pygments",
    "aiohttp.web",
    "prometheus_client",
    "autotoo.admin",
)

CONFIG = """\
mode: live
state: sqlite:///{tmp}/state.db
rules: ["{tmp}/rules.yaml"]
sources:
  - {{kind: directory, name: spool, path: "{tmp}/spool"}}
swift:
  protocol: v2
  base_url: http://127.0.0.1:9/api/v2
  username: myuser
  shared_secret_file: {tmp}/swift-secret
ukssdc:
  base_url: http://127.0.0.1:9/user_objects
  user_id: astronomer@example.org
admin: {{enabled: false}}
log: {{format: json}}
"""
# Runs the daemon in this process, and writes sys.modules when it sends READY=1.
RUN_AND_RECORD = """\
import json, sys
from autotoo import systemd
from autotoo.cli import main

out, config = sys.argv[1], sys.argv[2]
send = systemd.Notifier.ready

def ready(self, status):
    with open(out, "w") as f:
        version_looked_up = "__version__" in vars(sys.modules["autotoo"])
        json.dump({"modules": sorted(sys.modules), "version": version_looked_up}, f)
    return send(self, status)

systemd.Notifier.ready = ready
sys.exit(main(["run", "-c", config]))
"""


def test_a_daemon_start_does_not_import_jwt_or_astropy() -> None:
    code = (
        f"import sys\nfor m in {START_MODULES!r}: __import__(m)\n"
        f"print(__import__('json').dumps([m for m in {NOT_AT_START!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def demo_daemon(tmp: Path, config: str) -> Path:
    """In ``tmp``: a spool folder, the demo rule and ``config`` (its ``{tmp}`` filled in);
    the config file's path."""
    (tmp / "spool").mkdir()
    (tmp / "rules.yaml").write_text(DEMO_RULE)
    path = tmp / "autotoo.yaml"
    path.write_text(config.format(tmp=tmp))
    return path


def run_until_ready(script: str, record: Path, config: Path, notify_socket: NotifySocket) -> None:
    """``python -c script record config`` (a daemon that writes ``record`` at READY=1), until
    READY=1 and then SIGTERM; it must exit 0."""
    env = {**os.environ, "NOTIFY_SOCKET": str(notify_socket.path)}
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(record), str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        notify_socket.wait_for("READY=1", timeout=60)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out


def test_what_the_daemon_has_imported_when_it_says_ready(
    tmp_path: Path, notify_socket: NotifySocket
) -> None:
    (tmp_path / "swift-secret").write_text("my_shared_secret\n")
    config = demo_daemon(tmp_path, CONFIG)
    modules = tmp_path / "modules.json"
    run_until_ready(RUN_AND_RECORD, modules, config, notify_socket)
    at_ready = json.loads(modules.read_text())
    loaded = set(at_ready["modules"])
    assert {"autotoo.adapters.ukssdc", "autotoo.swift", "aiohttp", "structlog"} <= loaded
    assert sorted(m for m in NOT_BEFORE_READY if m in loaded) == []
    assert at_ready["version"] is False  # importlib.metadata's scan of every distribution


def test_the_v1_client_still_signs_with_pyjwt() -> None:
    import jwt  # noqa: PLC0415 - the test itself may load it

    from autotoo.swift.v1 import sign  # noqa: PLC0415

    token = sign("too", {"a": 1}, "my_shared_secret")
    claims = jwt.decode(token, "my_shared_secret", algorithms=["HS256"])
    assert claims == {"api_name": "too", "api_version": "1.2", "api_data": {"a": 1}}
