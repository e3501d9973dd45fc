"""``parse_alert``: bytes (and the topic they came on, if known) to a NormalizedAlert.

The contract the store and pipeline rely on: this raises :class:`AlertParseError` and nothing
else. Format detection looks at the first non-blank byte (``<`` VOEvent, ``{`` JSON), then the
topic, then the payload (``superevent_id`` + an IGWN stage means IGWN, anything else JSON is
gcn-schema). Sky maps are never decoded here.
"""

from __future__ import annotations

import json
from typing import Any

import structlog

from autotoo.alerts.errors import AlertParseError
from autotoo.alerts.gcn_json import parse_gcn_json
from autotoo.alerts.igwn import looks_like_igwn, parse_igwn
from autotoo.alerts.model import NormalizedAlert
from autotoo.alerts.topics import TopicInfo, topic_info
from autotoo.alerts.values import MAX_PAYLOAD_BYTES
from autotoo.alerts.voevent import parse_voevent

logger = structlog.get_logger(__name__)

_BLANK = b" \t\r\n"
_BOM = b"\xef\xbb\xbf"


def _decode_json(raw: bytes) -> dict[str, Any]:
    try:
        obj = json.loads(raw)
    except UnicodeDecodeError as exc:
        raise AlertParseError(f"JSON is not UTF-8: {exc.reason} at byte {exc.start}") from None
    except json.JSONDecodeError as exc:
        raise AlertParseError(f"JSON is not well formed: {exc.msg} at {exc.pos}") from None
    except RecursionError:
        raise AlertParseError("JSON nests too deeply") from None
    except ValueError as exc:  # e.g. an integer literal longer than Python will convert
        raise AlertParseError(f"JSON cannot be decoded: {exc}") from None
    if not isinstance(obj, dict):
        raise AlertParseError(f"JSON payload is a {type(obj).__name__}, not an object")
    return obj


def _dispatch(raw: bytes, info: TopicInfo | None) -> NormalizedAlert:
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise AlertParseError(f"payload of {len(raw)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    body = raw.removeprefix(_BOM).lstrip(_BLANK)
    if not body:
        raise AlertParseError("empty payload")
    first = body[:1]
    if first == b"<":
        return parse_voevent(body, info)
    if first in {b"{", b"["}:
        obj = _decode_json(body)
        if (info is not None and info.payload_format == "igwn_json") or looks_like_igwn(obj):
            return parse_igwn(obj, info)
        return parse_gcn_json(obj, raw, info)
    raise AlertParseError(f"payload is neither JSON nor XML (starts with {bytes(body[:16])!r})")


def parse_alert(raw: bytes, topic: str | None = None) -> NormalizedAlert:
    """Normalize one alert payload; raises only :class:`AlertParseError`.

    ``topic`` may use the Kafka or the MQTT spelling; without it the mission, notice type and
    format are inferred from the payload alone (``$schema``, ``ivorn``, ``Packet_Type``,
    ``superevent_id``).
    """
    info = topic_info(topic) if topic else None
    try:
        return _dispatch(raw, info)
    except AlertParseError:
        raise
    except RecursionError:
        raise AlertParseError("payload nests too deeply") from None
    except Exception as exc:
        # A parser bug must not crash the daemon or lose the alert: the caller stores it as
        # unparsed with this reason, and the log keeps the traceback for the fix.
        logger.exception("alert parser bug")
        raise AlertParseError(f"internal parser error: {type(exc).__name__}: {exc}") from exc
