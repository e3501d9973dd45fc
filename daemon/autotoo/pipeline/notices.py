"""Status messages (docs/architecture.md, "Published status messages").

Two MQTT topics per step: ``<prefix>/events/<event>`` (retained: the event's latest state)
and ``<prefix>/actions/<rule>/<event>`` (every step). The webhook channel gets the same JSON
plus a ``text`` line, which is what a Slack incoming webhook displays.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from autotoo.store.rows import Notice, ts, utcnow

_TOPIC_UNSAFE = str.maketrans({"/": "_", "+": "_", "#": "_", " ": "_"})


def topic_segment(text: str) -> str:
    return text.translate(_TOPIC_UNSAFE) or "_"


def status_notices(
    *,
    prefix: str | None,
    channels: Iterable[str],
    event: str,
    rule: str,
    action: str,
    state: str,
    reason: str | None = None,
    **fields: Any,
) -> list[Notice]:
    """The notices for one step. ``prefix`` None: MQTT publishing is not configured."""
    body: dict[str, Any] = {
        "event_key": event,
        "rule": rule,
        "action": action,
        "state": state,
        **{k: v for k, v in fields.items() if v is not None},
        "reason": reason,
        "ts": ts(utcnow()),
    }
    out: list[Notice] = []
    wanted = set(channels)
    if "mqtt" in wanted and prefix is not None:
        out.append(Notice("mqtt", f"{prefix}/events/{topic_segment(event)}", body, retain=True))
        out.append(
            Notice("mqtt", f"{prefix}/actions/{topic_segment(rule)}/{topic_segment(event)}", body)
        )
    if "webhook" in wanted:
        line = f"autotoo: {rule} / {event}: {action} {state}"
        if reason:
            line += f" ({reason})"
        out.append(Notice("webhook", "webhook", {"text": line, **body}))
    return out
