"""Every ``autotoo ...`` and ``uv run ...`` command in README.md and docs/*.md runs as written.

The commands are extracted from the documents themselves: the lines of shell code blocks
(```sh) and the inline code spans that start with ``autotoo`` or ``uv run``. Each one is
classified, and every class is checked:

* **as written**: run exactly as the page says (``autotoo`` is this checkout's installed
  script, ``uv run`` runs in the checkout), expecting exit status 0;
* **a synopsis** (placeholders such as ``FILE``, ``ID``, ``PATH...``, ``[--flag X]``, ``a|b``):
  it cannot run as written, so its sub-command's ``--help`` must work;
* **an explicit exception** in :data:`EXCEPTIONS`, each with the reason and the other way it
  is checked (a daemon or server is started and stopped, the suite inside the suite is only
  collected, a benchmark is imported, a path of a production server is left to CI).

A command that appears in the documents and fits no class fails the test, and so does an
exception that the documents no longer contain: the list cannot go stale silently.

Slow (a demo, a kept demo, a daemon and an emulator run, three test collections).
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
AUTOTOO = Path(sys.executable).parent / "autotoo"  # the installed console script

pytestmark = pytest.mark.slow

_COMMAND = re.compile(r"^(sudo\s+)?(\S*/bin/)?(autotoo|uv run|pip)\s+\S")
_PLACEHOLDER = re.compile(r"\.\.\.|\[|\||<[^>]*>|\b(FILE|PATH|ID|DIR|CONFIG|NAME|KEY)\b")


@dataclass(frozen=True, slots=True)
class Found:
    command: str
    where: str  # file:line


def _shell_blocks(text: str) -> list[tuple[int, str]]:
    """(line number, command) of each shell code-block line, continuations joined."""
    out: list[tuple[int, str]] = []
    for block in re.finditer(
        r"^```(sh|bash|shell|console)\n(.*?)^```", text, re.DOTALL | re.MULTILINE
    ):
        first = text[: block.start(2)].count("\n") + 1
        pending, start = "", 0
        for offset, line in enumerate(block.group(2).splitlines()):
            if not pending:
                start = first + offset
            if line.rstrip().endswith("\\"):
                pending += line.rstrip()[:-1].strip() + " "
                continue
            whole = (pending + line.strip()).split(" #")[0].strip()  # comments are prose
            pending = ""
            out.append((start, whole))
    return out


def _inline_spans(text: str) -> list[tuple[int, str]]:
    """Inline code outside fenced blocks (a block of program output is not a command)."""
    prose = re.sub(
        r"^```.*?^```",
        lambda m: "\n" * m.group(0).count("\n"),
        text,
        flags=re.DOTALL | re.MULTILINE,
    )
    return [
        (prose[: m.start()].count("\n") + 1, m.group(1).strip())
        for m in re.finditer(r"(?<!`)`([^`\n]+)`(?!`)", prose)
    ]


def documented_commands() -> list[Found]:
    found: dict[str, Found] = {}
    for path in DOCUMENTS:
        text = path.read_text(encoding="utf-8")
        for line, command in [*_shell_blocks(text), *_inline_spans(text)]:
            if _COMMAND.match(command) or re.match(r"^[A-Z_]+=\S+ uv run\b", command):
                found.setdefault(command, Found(command, f"{path.relative_to(ROOT)}:{line}"))
    return list(found.values())


# ---- how each kind of command is run ----------------------------------------------------


def _argv(command: str) -> list[str]:
    """The command's argv with ``autotoo`` as this environment's installed script."""
    words = shlex.split(command)
    return [str(AUTOTOO) if w == "autotoo" else w for w in words]


def _run(argv: list[str], cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """Run to the end; on a timeout the whole process group goes (a demo's daemon child
    must not outlive the test holding the admin port)."""
    env = {k: v for k, v in os.environ.items() if k not in {"NOTIFY_SOCKET", "WATCHDOG_USEC"}}
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def _kill_group(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)


def _until(proc: subprocess.Popen[str], marker: str, timeout: float) -> str:
    """Read the merged output until ``marker`` appears (or the process ends)."""
    assert proc.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    for line in proc.stdout:
        seen.append(line)
        if marker in line or time.monotonic() > deadline:
            break
    return "".join(seen)


def _start_and_stop(
    argv: list[str], cwd: Path, marker: str, stop: signal.Signals
) -> tuple[int, str]:
    """A long-running command as a person runs it: start, wait until it says it is up,
    then stop it the documented way (Ctrl-C is SIGINT; systemctl stop is SIGTERM)."""
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        start_new_session=True,
    )
    try:
        out = _until(proc, marker, 120)
        assert marker in out, out[-3000:]
        proc.send_signal(stop)
        rest, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            _kill_group(proc)
    return proc.returncode, out + rest


# Commands that read the store `autotoo run` writes in the current directory: run in a fresh
# checkout, there is none (a run that found one had it from an earlier run in the checkout).
FOLLOW_UPS = ("autotoo status", "autotoo jobs list --state needs_human", "autotoo alerts list")


def daemon_on_embedded_defaults(command: str, tmp: Path) -> None:
    """`autotoo run` (and `uv run autotoo run`) serve until stopped: start it in an empty
    directory (its drop folder and store are created there), wait for `ready`, then check
    `autotoo status` and `autotoo jobs list --state needs_human` against what it wrote, and
    stop it with SIGTERM as systemd does."""
    if command in FOLLOW_UPS:  # checked below, against the store the daemon wrote
        command = "autotoo run"
    argv = _argv(command)
    if command.startswith("uv run"):
        argv = ["uv", "run", "--project", str(ROOT), *argv[2:]]
    # the embedded admin port is 8470: if something else holds it, the daemon says so in
    # one line ("cannot listen on 127.0.0.1:8470"), which the assertion below shows
    code, out = _start_and_stop(argv, tmp, '"event": "ready"', signal.SIGTERM)
    assert code == 0, out[-3000:]
    for follow in FOLLOW_UPS:
        done = _run(_argv(follow), tmp)
        assert done.returncode == 0, (follow, done.stdout, done.stderr)


def kept_demo(command: str, tmp: Path) -> None:
    """`--keep-running` waits for Ctrl-C: wait for the summary, then SIGINT; exit 0."""
    argv = ["uv", "run", "--project", str(ROOT), *_argv(command)[2:], "--admin-port", "0"]
    end = "autotoo demo: still running for the dashboard; Ctrl-C stops it"
    code, out = _start_and_stop(argv, tmp, end, signal.SIGINT)
    assert code == 0, out[-3000:]


def emulator(command: str, tmp: Path) -> None:
    """`autotoo emulate` serves until Ctrl-C: wait for its base URLs, then SIGINT."""
    argv = [*_argv(command), "--port", "0"]
    code, out = _start_and_stop(argv, tmp, "/api/v2", signal.SIGINT)
    assert code == 0, out[-3000:]


def collect_only(command: str, tmp: Path) -> None:
    """A test-suite command inside the test suite would run the suite twice: collect it
    (the tests exist and import), exit 0."""
    del tmp
    words = shlex.split(command)
    done = _run(["uv", "run", "--project", str(ROOT), *words[2:], "--collect-only", "-q"], ROOT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # "-q" once more prints "N tests collected", twice one "file: N" line per file
    counts = re.findall(r"^(?:\S+\.py: (\d+)|(\d+) tests? collected)", done.stdout, re.MULTILINE)
    assert sum(int(a or b) for a, b in counts) > 0, done.stdout[-2000:]


def benchmark(command: str, tmp: Path) -> None:
    """Benchmarks load the machine for minutes (docs/performance.md records their runs):
    import the module and check its entry point exists."""
    del tmp
    words = shlex.split(command)
    at = words.index("-m") + 1 if "-m" in words else None  # after `uv run [--group G] python`
    module = words[at] if at else words[3].removesuffix(".py").replace("/", ".")
    check = f"import {module} as m; assert callable(m.main)"
    done = _run(["uv", "run", "--project", str(ROOT), "python", "-c", check], ROOT)
    assert done.returncode == 0, done.stderr[-3000:]


def whole_suite(command: str, tmp: Path) -> None:
    """`uv run pytest` is the run this test is part of; .ci/run runs it as written."""
    del command, tmp


def installed_package(command: str, tmp: Path) -> None:
    """The /opt/autotoo install needs root and a system path; tests/ops/test_installed_wheel.py
    builds the wheel, installs it into a fresh venv and runs it. `--version` of the installed
    script is checked here with this environment's script."""
    del tmp
    if command.endswith("--version"):
        done = _run([str(AUTOTOO), "--version"], ROOT)
        assert done.returncode == 0
        assert done.stdout.startswith("autotoo ")


def server_path(command: str, tmp: Path) -> None:
    """A path on a configured server (/etc/autotoo): the same command on the checkout's
    example config is checked as written."""
    del command, tmp


Check = Callable[[str, Path], None]
SERVER_CHECK = (
    "sudo autotoo check-config -c /etc/autotoo/autotoo.yaml"
    " --credentials-dir /etc/autotoo/credentials"
)
EXCEPTIONS: dict[str, Check] = {
    "autotoo run": daemon_on_embedded_defaults,
    "uv run autotoo run": daemon_on_embedded_defaults,
    "autotoo run --log-level debug": daemon_on_embedded_defaults,
    "autotoo status": daemon_on_embedded_defaults,  # needs a store: run after the daemon
    "autotoo jobs list --state needs_human": daemon_on_embedded_defaults,  # likewise
    "autotoo alerts list": daemon_on_embedded_defaults,  # likewise
    "uv run autotoo demo --keep-running": kept_demo,
    "autotoo emulate": emulator,
    "uv run pytest": whole_suite,
    "uv run pytest tests/ukssdc -q": collect_only,
    "uv run pytest tests/swift": collect_only,
    "uv run pytest tests/chaos": collect_only,
    "uv run python -m bench.run_all --logs /tmp/benchlogs/s5": benchmark,
    "uv run python -m bench.startup": benchmark,
    "uv run python -m bench.latency": benchmark,
    "uv run python -m bench.throughput": benchmark,
    "uv run python -m bench.tracking": benchmark,
    "uv run python -m bench.peers": benchmark,
    "uv run python -m bench.instances": benchmark,
    "uv run python -m bench.soak": benchmark,
    # Profiles the throughput path for minutes and writes bench/profiles/ (kept in the repo).
    "uv run --group profile python -m bench.profile --tag before": benchmark,
    "uv run python bench/payloads.py ab /tmp/old-storage": benchmark,  # needs an old checkout
    "uv run python bench/chaos.py --runs 3 --seed 4000 --out /tmp/reliability.md": benchmark,
    "sudo /opt/autotoo/bin/pip install /path/to/autotoo-checkout": installed_package,
    "/opt/autotoo/bin/autotoo --version": installed_package,
    SERVER_CHECK: server_path,
    "autotoo run -c config/autotoo.yaml": server_path,  # needs the GCN and Swift credentials
}


def _synopsis(command: str) -> bool:
    return bool(_PLACEHOLDER.search(command))


def _subcommand_help(command: str) -> list[str]:
    """`autotoo jobs list|show|cancel` -> `autotoo jobs list --help` (the first choice)."""
    words = command.split()
    head = words[:1] if words[0] == "autotoo" else words[:3]  # autotoo | uv run autotoo
    sub: list[str] = []
    for word in words[len(head) :]:
        if not re.fullmatch(r"[a-z][a-z|-]*", word) or len(sub) == 2:
            break
        sub.append(word.split("|")[0])
    argv = _argv(" ".join([*head, *sub]))
    if argv[:2] == ["uv", "run"]:
        argv = ["uv", "run", "--project", str(ROOT), *argv[2:]]
    return [*argv, "--help"]


def prose_name(command: str, tmp: Path) -> None:
    """A command named in a sentence, without the arguments it needs (`autotoo replay`):
    its --help works; the full form is checked where the docs give it."""
    del tmp
    done = _run(_subcommand_help(command), ROOT)
    assert done.returncode == 0, done.stderr[-2000:]


def same_as_uv_run(command: str, tmp: Path) -> None:
    """`autotoo demo` once installed is the script `uv run autotoo demo` runs (checked as
    written); tests/ops/test_installed_wheel.py runs it from an installed wheel."""
    del command, tmp


def prerequisite(command: str, tmp: Path) -> None:
    """Installing uv: this test runs under it; check that it is there."""
    del command, tmp
    done = _run(["uv", "--version"], ROOT)
    assert done.returncode == 0


def chaos_reproduction(command: str, tmp: Path) -> None:
    """`AUTOTOO_CHAOS_SEED=<seed> uv run pytest tests/chaos/<file>`: placeholders; the chaos
    tests it names are collected as `uv run pytest tests/chaos`."""
    del command
    collect_only("uv run pytest tests/chaos", tmp)


def store_migrate_to_postgresql(command: str, tmp: Path) -> None:
    """A server's state file and PostgreSQL host: tests/store/test_store_migrate.py runs the
    same command against a private PostgreSQL; here its arguments are checked as written."""
    del tmp
    words = shlex.split(command.replace("\\\n", " "))
    assert words[:3] == ["autotoo", "store", "migrate"]
    done = _run([str(AUTOTOO), *words[1:3], "--help"], ROOT)
    assert done.returncode == 0, done.stderr
    for flag in (w for w in words[3:] if w.startswith("--")):
        assert flag in done.stdout, (flag, done.stdout)


EXCEPTIONS.update(
    {
        "autotoo store migrate": prose_name,
        "autotoo store migrate --db /var/lib/autotoo/state.db --to "
        "postgresql://autotoo@db.example.org/autotoo --password-file /root/pg-password": (
            store_migrate_to_postgresql
        ),
        "pip install uv": prerequisite,
        "autotoo demo": same_as_uv_run,
        "autotoo check-config": prose_name,
        "autotoo replay": prose_name,
        "AUTOTOO_CHAOS_SEED=<seed> uv run pytest tests/chaos/<file>": chaos_reproduction,
    }
)


COMMANDS = documented_commands()


def test_the_documents_have_commands_and_every_exception_is_still_documented() -> None:
    commands = {c.command for c in COMMANDS}
    assert "uv run autotoo demo" in commands
    assert sorted(set(EXCEPTIONS) - commands) == []


@pytest.mark.parametrize("found", COMMANDS, ids=[c.command for c in COMMANDS])
def test_documented_command_runs(found: Found, tmp_path: Path) -> None:
    command = found.command
    if command in EXCEPTIONS:
        EXCEPTIONS[command](command, tmp_path)
        return
    if _synopsis(command):
        done = _run(_subcommand_help(command.removeprefix("sudo ")), ROOT)
        assert done.returncode == 0, (found.where, done.stderr[-2000:])
        return
    if command.startswith("sudo") or command.split()[0] not in {"autotoo", "uv"}:
        pytest.fail(f"{found.where}: `{command}` fits no class: add it to EXCEPTIONS")
    argv = _argv(command)
    if argv[:2] == ["uv", "run"]:
        argv = ["uv", "run", "--project", str(ROOT), *argv[2:]]
    done = _run(argv, ROOT)  # relative paths in the docs are relative to the checkout
    assert done.returncode == 0, (found.where, done.stdout[-2000:], done.stderr[-2000:])
