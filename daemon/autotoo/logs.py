"""Logging: structlog JSON lines on stdout, one per event, ready for journald.

Each JSON line starts with the sd-daemon priority marker (``<3>`` error ... ``<7>`` debug):
journald strips it and sets PRIORITY, so ``journalctl -p warning`` works while
``journalctl -o cat | jq`` still sees pure JSON. On a terminal the output is the plain
coloured console format instead.

Context (alert id, rule, submission key) is bound with :func:`bind` via contextvars, so every
line written while handling one alert carries it. Processors are plain functions.

Secrets: every credential value read at start is registered with :func:`register_secret`;
:func:`redact_secrets` replaces any occurrence of one in any string of an event, and masks the
values of keys that name a secret -- a last line of defence behind SecretStr.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import sys
from collections.abc import Mapping
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

_PRIORITY = {"critical": 2, "error": 3, "warning": 4, "info": 6, "debug": 7}
_SECRET_KEYS = ("password", "secret", "token", "authorization", "cookie", "jwt")
_secrets: set[str] = set()
REDACTED = "[REDACTED]"


def register_secret(value: str) -> None:
    """Never log ``value`` (values shorter than 4 characters would mask too much text)."""
    if len(value) >= 4:
        _secrets.add(value)


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        for secret in _secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_scrub(v) for v in value)
    return value


@functools.lru_cache(maxsize=1024)
def _names_a_secret(key: str) -> bool:
    """Whether a log key names a secret (cached: the keys are the code's own few names,
    and this ran for every key of every line)."""
    lowered = key.lower()
    return any(word in lowered for word in _SECRET_KEYS)


def redact_secrets(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    for key in list(event):
        if _names_a_secret(key) and event[key] is not None:
            event[key] = REDACTED
        else:
            event[key] = _scrub(event[key])
    return event


def syslog_prefix(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    """Remember the priority for the renderer (the level name itself stays in the JSON)."""
    event["_priority"] = _PRIORITY.get(str(event.get("level", "info")), 6)
    return event


class JournalJSONRenderer:
    """Render ``<N>{json}``: the marker from :func:`syslog_prefix`, then the event."""

    def __init__(self) -> None:
        self._json = structlog.processors.JSONRenderer(sort_keys=False)

    def __call__(self, logger: WrappedLogger, name: str, event: EventDict) -> str:
        priority = event.pop("_priority", 6)
        rendered = self._json(logger, name, event)
        text = rendered.decode() if isinstance(rendered, bytes) else rendered
        return f"<{priority}>{text}"


_LIBRDKAFKA_LINE = re.compile(
    r"^(?P<facility>[A-Z0-9_]+) \[(?P<client>[^\]]*)\] (?P<message>.*)$", re.DOTALL
)
# librdkafka repeats in a FAIL line what it also hands to the error callback (logged as
# ``kafka.error``): the copy is kept, at debug, so a warning is not written twice.
_DEMOTED_FACILITIES = frozenset({"FAIL"})


class StdlibBridge(logging.Handler):
    """Writes stdlib ``logging`` records of the ``autotoo`` hierarchy through structlog.

    librdkafka (via confluent-kafka's ``logger`` setting) logs to a stdlib logger of ours
    from its own threads; without a handler Python's last-resort handler printed its lines
    raw (``OIDC [...] ...``, ``FAIL [...] ...``) into a stream that must be JSON lines. Here
    each becomes one event, ``librdkafka``, with ``facility``, ``client`` and ``message``.
    """

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
            logger = structlog.get_logger(record.name)
            match = _LIBRDKAFKA_LINE.match(text) if "librdkafka" in record.name else None
            if match is None:
                logger.log(record.levelno, text)
                return
            level = record.levelno
            if match["facility"] in _DEMOTED_FACILITIES:
                level = min(level, logging.DEBUG)
            logger.log(level, "librdkafka", **match.groupdict())
        except Exception:  # noqa: BLE001 logging must never raise into librdkafka's thread
            self.handleError(record)


def configure(level: str = "info", fmt: str = "auto", stream: TextIO | None = None) -> None:
    """Configure structlog for the process. ``fmt``: auto (console on a TTY), json, console."""
    out = stream or sys.stdout
    console = fmt == "console" or (fmt == "auto" and out.isatty())
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact_secrets,
    ]
    renderer: list[Processor] = (
        [structlog.dev.ConsoleRenderer(colors=True)]
        if console
        else [syslog_prefix, JournalJSONRenderer()]
    )
    structlog.configure(
        processors=[*shared, *renderer],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    bridge = logging.getLogger("autotoo")
    bridge.handlers[:] = [StdlibBridge()]
    bridge.propagate = False  # never also to the root logger's (or last-resort) handler
    bridge.setLevel(logging.getLevelNamesMapping()[level.upper()])


def get_logger(name: str | None = None, **initial: Any) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name, **initial)
    return logger


def bind(**values: Any) -> Mapping[str, Any]:
    """Bind context for the current task (and the tasks it creates); returns reset tokens."""
    return structlog.contextvars.bind_contextvars(**values)


unbind = structlog.contextvars.unbind_contextvars


def info_soon(logger: structlog.stdlib.BoundLogger, event: str, **fields: Any) -> None:
    """``logger.info(event, **fields)`` once the loop has run what is already scheduled.

    For lines written on the way from an alert to its POST (the inbox's, the
    processor's): rendering and writing one costs ~0.1 ms, and the task woken by the same
    step (the processor by the inbox, the submitter by the processor) should not wait for
    it. The line keeps the context bound now (``call_soon`` runs it in a copy of it).
    """
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # no loop (a CLI tool): write it now
        logger.info(event, **fields)
        return
    loop.call_soon(functools.partial(logger.info, event, **fields))
