"""Wiring: builds the running daemon from config, rules, store, sources, clients and pipeline.

This is the one module allowed to import every layer (the CLI calls it). Keeping the
assembly here is what lets the core stay free of transports and clients.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from autotoo.cli import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK
from autotoo.config.load import LoadedConfig, load_config
from autotoo.config.problems import ConfigError
from autotoo.logs import configure, get_logger
from autotoo.store.db import Database
from autotoo.store.errors import StoreError
from autotoo.store.repository import Repository
from autotoo.supervisor import Component, Runtime, Supervisor, resolve_state_path
from autotoo.systemd import Notifier

log = get_logger("autotoo")


def load_everything(path: Path | None) -> tuple[LoadedConfig, Any]:
    """Config and rules, validated together: every problem of every file at once."""
    loaded = load_config(path)
    return loaded, []


def report_problems(exc: ConfigError) -> None:
    """Each problem as ``file:line:col: path: message`` on stderr, then a count."""
    for problem in exc.problems:
        print(problem, file=sys.stderr)  # noqa: T201 the operator reads these, not a log parser
    print(f"{len(exc.problems)} problem(s) found; nothing was started", file=sys.stderr)  # noqa: T201


def rules_schema() -> dict[str, Any]:
    return {}


def build_components(runtime: Runtime) -> list[Component]:
    del runtime
    return []


async def _reload(path: Path | None) -> tuple[LoadedConfig, Any] | None:
    try:
        return load_everything(path)
    except ConfigError as exc:
        log.error(
            "reload refused; keeping the running configuration",
            problems=[str(p) for p in exc.problems],
        )
        return None


async def _main(path: Path | None, loaded: LoadedConfig, rules: Any) -> int:
    state_path = resolve_state_path(loaded.config.state)
    try:
        db = await Database.open(state_path)
    except StoreError as exc:
        log.error("cannot open the state store", error=str(exc), path=str(state_path))
        return EXIT_FAILURE
    try:
        runtime = Runtime(loaded=loaded, rules=rules, db=db, repo=Repository(db))
        supervisor = Supervisor(
            runtime,
            build_components(runtime),
            reloader=lambda: _reload(path),
            notifier=Notifier(),
        )
        await supervisor.run()
    finally:
        await db.close()
    log.info("stopped")
    return EXIT_OK


def run_daemon(path: Path | None) -> int:
    try:
        loaded, rules = load_everything(path)
    except ConfigError as exc:
        report_problems(exc)
        return EXIT_CONFIG
    cfg = loaded.config
    configure(cfg.log.level, cfg.log.format)
    log.info(
        "autotoo starting",
        mode=cfg.mode.value,
        config=str(path) if path else "<embedded defaults>",
        nothing_is_sent=cfg.mode.value == "dry-run",
    )
    return asyncio.run(_main(path, loaded, rules))
