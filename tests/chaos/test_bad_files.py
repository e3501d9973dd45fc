"""Malformed config and rule files given to ``autotoo run``: each refused with exit 78 and a
``file:line:`` problem at the line that is wrong, before anything starts.

The line each case must be reported at is the one marked ``# <-`` in its text. In CI every
case runs through ``autotoo run`` in this process (the same code path: load, report, exit
code) and three through the real ``python -m autotoo`` process; the bench
(``AUTOTOO_CHAOS_BAD_FILES_SUBPROCESS=1``) runs every case as a real process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from autotoo.cli import EXIT_CONFIG, main
from tests.chaos.conftest import Record

MARK = "# <-"

BASE_CONFIG = """\
state: sqlite:///{state}
rules: ["{rules}"]
sources:
  - kind: directory
    name: spool
    path: {spool}
"""

GOOD_RULES = """\
rules:
  - name: ep
    match: {topics: [gcn.notices.einstein_probe.wxt.alert]}
    when: alert.error_deg < 0.2
    once_per: event
    too:
      source_name: "EP{{ alert.event_key }}"
      source_type: X-ray transient
      obs_type: Light Curve
      immediate_objective: find it
      science_just: because
      exp_time_just: enough
      exp_time_per_visit: 1000
      xrt_countrate: 1
    notify: [mqtt]
"""

# Appended to (or replacing part of) the valid config; the marked line is the culprit.
CONFIG_CASES: dict[str, str] = {
    "bad mode": "mode: liv  # <-\n",
    "unknown top-level key": "modes: live  # <-\n",
    "negative budget": "budgets:\n  too_per_day: -1  # <-\n",
    "budget not a number": "budgets:\n  too_per_day: many  # <-\n",
    "duplicate key": "log: {level: info}\nlog: {level: debug}  # <-\n",
    "unclosed flow mapping": "budgets: {too_per_day: 2\nlog: {level: info}  # <-\n",
    "tab indentation": "log:\n\tlevel: info  # <-\n",
    "state not sqlite": "swift: {}\nstate_x: 1  # <-\n",
    "unknown swift protocol": "swift:\n  protocol: v3  # <-\n",
    "swift url scheme": "swift:\n  base_url: ftp://example.org/api  # <-\n",
    "bad duration": "swift:\n  timeout: 5 fortnights  # <-\n",
    "too many active jobs": "ukssdc:\n  max_active_jobs: 500  # <-\n",
    "zero poll rate": "ukssdc:\n  polls_per_minute: 0  # <-\n",
    "ukssdc url port": "ukssdc:\n  base_url: https://example.org:99999/x  # <-\n",
    "unknown key in swift": "swift:\n  usernme: me  # <-\n",
    "missing credential file": "swift:\n  shared_secret_file: /nonexistent/secret  # <-\n",
    "log level": "log:\n  level: verbose  # <-\n",
    "log format": "log:\n  format: xml  # <-\n",
    "shutdown grace": "shutdown_grace: soon  # <-\n",
    "max alert age": "max_alert_age: [1, 2]  # <-\n",
    "admin listen": "admin:\n  listen: everywhere  # <-\n",
    "publish url scheme": "publish:\n  mqtt: {url: 'http://broker:1883'}  # <-\n",
    "publish unknown key": "publish:\n  mqtt:\n    topic_prefx: x  # <-\n",
    "pipeline knob": "pipeline:\n  reconcile_delay: never  # <-\n",
    "undefined alias": "budgets: *nothing  # <-\n",
}

# Replacements inside the config's sources list (line 4 onwards).
SOURCE_CASES: dict[str, str] = {
    "unknown source kind": "  - kind: amqp  # <-\n    url: x\n",
    "mqtt without client_id": "  - kind: mqtt  # <-\n    url: mqtt://localhost\n    topics: [a]\n",
    "mqtt url scheme": (
        "  - kind: mqtt\n    url: http://b:1883  # <-\n    client_id: a\n    topics: [a]\n"
    ),
    "empty topic list": (
        "  - kind: mqtt\n    url: mqtt://b\n    client_id: a\n    topics: []  # <-\n"
    ),
    "http max_bytes": ("  - kind: http\n    token_file: /etc/hostname\n    max_bytes: 0  # <-\n"),
    # (a directory source without path is valid: its folder is spool/ beside the state)
    "directory poll interval": "  - kind: directory\n    name: x\n    poll_interval: soon  # <-\n",
}

RULE_CASES: dict[str, str] = {
    "typo key": ("    notify: [mqtt]\n", "    notfiy: [mqtt]  # <-\n"),
    "CEL syntax": ("alert.error_deg < 0.2\n", "alert.error_deg < (0.2  # <-\n"),
    "empty rule name": ("  - name: ep\n", '  - name: ""  # <-\n'),
    "Jinja syntax": ('"EP{{ alert.event_key }}"\n', '"EP{{ alert.event_key "  # <-\n'),
    "once_per value": ("once_per: event\n", "once_per: fortnight  # <-\n"),
    "match not a mapping": (
        "    match: {topics: [gcn.notices.einstein_probe.wxt.alert]}\n",
        "    match: everything  # <-\n",
    ),
    "exposure not a number": ("exp_time_per_visit: 1000\n", "exp_time_per_visit: long  # <-\n"),
    "bad urgency": (
        "      obs_type: Light Curve\n",
        "      obs_type: Light Curve\n      urgency: 9  # <-\n",
    ),
    "settle duration": ("once_per: event\n", "once_per: event\n    settle: later  # <-\n"),
    "unknown notify channel": ("notify: [mqtt]\n", "notify: [pigeon]  # <-\n"),
    "xrt submit mode": (
        "    notify: [mqtt]\n",
        (
            "    xrt_products:\n      submit: whenever  # <-\n      products: {StandardPos: {}}\n"
            "    notify: [mqtt]\n"
        ),
    ),
}


def marked_line(text: str) -> int:
    (line,) = [n for n, t in enumerate(text.splitlines(), 1) if MARK in t]
    return line


def build_cases(tmp: Path) -> list[tuple[str, Path, Path, int]]:
    """(name, config to run, file that is wrong, line it is wrong at) for every case."""
    cases = []
    for number, (name, text) in enumerate(
        [*CONFIG_CASES.items(), *SOURCE_CASES.items(), *RULE_CASES.items()]
    ):
        work = tmp / f"case{number:02d}"
        work.mkdir()
        rules = work / "rules.yaml"
        config = work / "autotoo.yaml"
        base = BASE_CONFIG.format(state=work / "state.db", rules=rules, spool=work)
        rules.write_text(GOOD_RULES)
        if name in CONFIG_CASES:
            config.write_text(base + text)
            culprit = config
        elif name in SOURCE_CASES:
            head, _, _ = base.partition("  - kind: directory")
            config.write_text(head + text)
            culprit = config
        else:
            old, new = RULE_CASES[name]
            assert old in GOOD_RULES, name
            rules.write_text(GOOD_RULES.replace(old, new, 1))
            config.write_text(base)
            culprit = rules
        cases.append((name, config, culprit, marked_line(culprit.read_text())))
    return cases


def run_as_process(config: Path) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, "-m", "autotoo", "run", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.returncode, done.stderr


def run_in_process(config: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    if main(["check-config", "-c", str(config)]) != EXIT_CONFIG:
        return 0, capsys.readouterr().err  # valid after all: ``run`` would start the daemon
    capsys.readouterr()
    code = main(["run", "-c", str(config)])
    return code, capsys.readouterr().err


def test_valid_base_files_start_cleanly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The cases differ from a valid pair of files only where they are marked."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(GOOD_RULES)
    config = tmp_path / "autotoo.yaml"
    config.write_text(BASE_CONFIG.format(state=tmp_path / "s.db", rules=rules, spool=tmp_path))
    assert main(["check-config", "-c", str(config)]) == 0, capsys.readouterr().err


def test_each_malformed_file_is_refused_at_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], chaos_record: Record
) -> None:
    cases = build_cases(tmp_path)
    everything_as_process = os.environ.get("AUTOTOO_CHAOS_BAD_FILES_SUBPROCESS") == "1"
    wrong: list[str] = []
    processes = 0
    for index, (name, config, culprit, line) in enumerate(cases):
        as_process = everything_as_process or index % 12 == 0
        code, err = run_as_process(config) if as_process else run_in_process(config, capsys)
        processes += as_process
        where = f"{culprit}:{line}:"
        if code != EXIT_CONFIG or where not in err or "nothing was started" not in err:
            wrong.append(f"{name}: exit {code}, wanted {where} in {err.strip()!r}")
        if not everything_as_process and (culprit.parent / "state.db").exists():
            wrong.append(f"{name}: a state file was created")
    chaos_record(
        "malformed config and rule files",
        cases=len(cases),
        config_files=len(CONFIG_CASES) + len(SOURCE_CASES),
        rule_files=len(RULE_CASES),
        run_as_real_process=processes,
        refused_at_the_marked_line_with_exit_78=len(cases) - len(wrong),
    )
    assert len(cases) >= 30
    assert wrong == []
