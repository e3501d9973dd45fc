"""The cyclic collector during `autotoo run`'s start-up (autotoo.memory).

Start-up builds objects that live as long as the process; each automatic collection then
walks all of them and frees next to nothing (~180 collections, ~40 ms of a start to READY=1).
So the daemon starts with the collector paused, and resumes it at READY=1 after freezing
what exists. A start that fails (a bad config) and every other command leave it as found.
"""

from __future__ import annotations

import gc
import json
from pathlib import Path

import pytest

from autotoo.cli import EXIT_CONFIG, EXIT_OK, main
from autotoo.memory import collector_paused
from tests.daemon.test_startup_imports import demo_daemon, run_until_ready
from tests.fixtures.notify import NotifySocket

CONFIG = """\
mode: dry-run
state: sqlite:///{tmp}/state.db
rules: ["{tmp}/rules.yaml"]
sources:
  - {{kind: directory, name: spool, path: "{tmp}/spool"}}
admin: {{enabled: false}}
log: {{format: json}}
"""
# Runs the daemon in this process; counts the collections from `main` on, and writes them
# (and the collector's state) when the daemon sends READY=1.
RUN_AND_COUNT = """\
import gc, json, sys
from autotoo import systemd
from autotoo.cli import main

out, config = sys.argv[1], sys.argv[2]
collections = [0, 0, 0]

def count(phase, info):
    if phase == "stop":
        collections[info["generation"]] += 1

send = systemd.Notifier.ready

def ready(self, status):
    with open(out, "w") as f:
        json.dump({"collections": collections, "enabled": gc.isenabled(),
                   "frozen": gc.get_freeze_count()}, f)
    return send(self, status)

systemd.Notifier.ready = ready
gc.callbacks.append(count)
sys.exit(main(["run", "-c", config]))
"""


def test_no_collection_runs_before_ready_and_the_collector_runs_after(
    tmp_path: Path, notify_socket: NotifySocket
) -> None:
    config = demo_daemon(tmp_path, CONFIG)
    record = tmp_path / "gc.json"
    run_until_ready(RUN_AND_COUNT, record, config, notify_socket)
    at_ready = json.loads(record.read_text())
    assert at_ready["collections"] == [0, 0, 0]
    assert at_ready["enabled"] is True
    assert at_ready["frozen"] > 0


def test_a_start_refused_for_its_config_resumes_the_collector(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "autotoo.yaml"
    config.write_text("mode: sometimes\n")
    assert gc.isenabled()
    assert main(["run", "-c", str(config)]) == EXIT_CONFIG
    assert "nothing was started" in capsys.readouterr().err
    assert gc.isenabled()


def test_other_commands_leave_the_collector_as_they_found_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = demo_daemon(tmp_path, CONFIG)
    assert main(["check-config", "-c", str(config)]) == EXIT_OK, capsys.readouterr().err
    assert gc.isenabled()
    with pytest.raises(SystemExit):
        main(["--version"])
    assert gc.isenabled()


def test_collector_paused_nests_and_keeps_a_collector_that_was_off() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner pause ends inside the outer one
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()  # off before: off after
    finally:
        gc.enable()
