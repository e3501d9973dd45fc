"""Logging (journald prefix, redaction, context), `autotoo schema`, and where the state lives."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import structlog

from autotoo import logs
from autotoo.cli import EXIT_OK, main
from autotoo.supervisor import resolve_state_path


def _lines(stream: io.StringIO) -> list[tuple[int, dict[str, object]]]:
    out = []
    for line in stream.getvalue().splitlines():
        assert line.startswith("<"), line
        priority, _, body = line[1:].partition(">")
        out.append((int(priority), json.loads(body)))
    return out


def test_json_lines_carry_the_journald_priority_and_bound_context() -> None:
    stream = io.StringIO()
    logs.configure("debug", "json", stream)
    log = logs.get_logger("t")
    logs.bind(alert_id=7, rule="ep")
    try:
        log.info("hello")
        log.warning("careful", n=1)
        log.error("broken")
        log.debug("detail")
    finally:
        logs.unbind("alert_id", "rule")
    lines = _lines(stream)
    assert [p for p, _ in lines] == [6, 4, 3, 7]
    assert all(body["alert_id"] == 7 and body["rule"] == "ep" for _, body in lines)


def test_secrets_are_redacted_wherever_they_appear() -> None:
    stream = io.StringIO()
    logs.configure("info", "json", stream)
    logs.register_secret("hunter2-very-secret")
    log = logs.get_logger("t")
    log.info(
        "login",
        password="anything",
        url="https://x/?key=hunter2-very-secret",
        nested={"list": ["a hunter2-very-secret b"]},
        shared_secret=None,
    )
    text = stream.getvalue()
    assert "hunter2-very-secret" not in text
    [(_, body)] = _lines(stream)
    assert body["password"] == logs.REDACTED
    assert body["url"] == f"https://x/?key={logs.REDACTED}"
    assert body["nested"] == {"list": [f"a {logs.REDACTED} b"]}


def test_console_output_on_a_terminal() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Tty()
    logs.configure("info", "auto", stream)
    logs.get_logger("t").info("plain words")
    assert "plain words" in stream.getvalue()
    assert not stream.getvalue().startswith("<")


@pytest.mark.parametrize("fmt", ["console", "json"])
def test_exceptions_are_formatted_before_the_renderer(fmt: str) -> None:
    """The chain turns exc_info into text itself, so the console renderer's exception
    formatter (Rich's, when structlog imported Rich) is never used: `autotoo run` imports
    structlog without Rich (autotoo.cli.run)."""
    stream = io.StringIO()
    logs.configure("info", fmt, stream)
    renderer = structlog.get_config()["processors"][-1]
    if fmt == "console":
        assert isinstance(renderer, structlog.dev.ConsoleRenderer)

        def unused(*_: object) -> None:
            raise AssertionError("the renderer formatted the exception")

        renderer.exception_formatter = unused
    try:
        raise ValueError("bad value")  # noqa: TRY301 - the exception to log
    except ValueError:
        logs.get_logger("t").exception("it failed")
    text = stream.getvalue()
    assert "it failed" in text
    assert "Traceback (most recent call last)" in text
    assert "ValueError: bad value" in text


@pytest.mark.parametrize("which", ["config", "rules"])
def test_schema_command_prints_a_json_schema(
    which: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["schema", which]) == EXIT_OK
    schema = json.loads(capsys.readouterr().out)
    assert schema["type"] == "object"
    assert ("sources" if which == "config" else "rules") in schema["properties"]


def test_state_path_rules() -> None:
    env = {"STATE_DIRECTORY": "/var/lib/autotoo"}
    assert resolve_state_path(None, env) == Path("/var/lib/autotoo/state.db")
    assert resolve_state_path(None, {}) == Path("autotoo-state/state.db")
    assert resolve_state_path("sqlite:////srv/a.db", env) == Path("/srv/a.db")
    assert resolve_state_path("sqlite:///rel/a.db", env) == Path("/var/lib/autotoo/rel/a.db")
    assert resolve_state_path("sqlite:///rel/a.db", {}) == Path("rel/a.db")


def test_the_published_config_schema_is_current(capsys: pytest.CaptureFixture[str]) -> None:
    """docs/config.schema.json (named by the example config's modeline) matches the code;
    regenerate it with `autotoo schema config > docs/config.schema.json`."""
    assert main(["schema", "config"]) == EXIT_OK
    published = Path(__file__).resolve().parents[2] / "docs" / "config.schema.json"
    assert json.loads(published.read_text()) == json.loads(capsys.readouterr().out)
