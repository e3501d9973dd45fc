"""``parse_alert``: bytes (and the topic they came on, if known) to a NormalizedAlert.

The contract the store and pipeline rely on: this raises :class:`AlertParseError` and nothing
else. Format detection looks at the first non-blank byte (``<`` VOEvent, ``{``/``[`` JSON), then the
topic, then the payload (``superevent_id`` + an IGWN stage means IGWN, anything else JSON is
gcn-schema). Sky maps are never decoded here.
"""

from __future__ import annotations

from typing import Any

import structlog
from pydantic_core import from_json

from autotoo.alerts.errors import AlertParseError
from autotoo.alerts.gcn_json import parse_gcn_json
from autotoo.alerts.igwn import looks_like_igwn, parse_igwn
from autotoo.alerts.model import NormalizedAlert
from autotoo.alerts.topics import TopicInfo, topic_info
from autotoo.alerts.values import MAX_PAYLOAD_BYTES
from autotoo.alerts.voevent import parse_voevent

logger = structlog.get_logger(__name__)

_BLANK = b" \t\r\n"
MAX_IDENTITY_CHARS = 200
_BOM = b"\xef\xbb\xbf"


def _decode_json(raw: bytes) -> dict[str, Any]:
    # pydantic-core's Rust decoder: 5x faster than json.loads on a small notice and 14x on a
    # 1 MB IGWN alert (the base64 sky map string dominates). NaN/Infinity are accepted as
    # json.loads does; the coordinate checks refuse them where they matter.
    try:
        obj = from_json(raw, allow_inf_nan=True)
    except ValueError as exc:
        message = str(exc)
        if "recursion limit" in message:
            raise AlertParseError("JSON nests too deeply") from None
        raise AlertParseError(f"JSON is not well formed: {message}") from None
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


def _checked(alert: NormalizedAlert) -> NormalizedAlert:
    """Identity fields become keys and log fields downstream: keep them short and non-empty."""
    for field, value in (
        ("mission", alert.mission),
        ("notice_type", alert.notice_type),
        ("event_key", alert.event_key),
    ):
        if not value or len(value) > MAX_IDENTITY_CHARS:
            raise AlertParseError(
                f"{field} is empty or longer than {MAX_IDENTITY_CHARS} characters"
            )
    return alert


def parse_alert(raw: bytes, topic: str | None = None) -> NormalizedAlert:
    """Normalize one alert payload; raises only :class:`AlertParseError`.

    ``topic`` may use the Kafka or the MQTT spelling; without it the mission, notice type and
    format are inferred from the payload alone (``$schema``, ``ivorn``, ``Packet_Type``,
    ``superevent_id``).
    """
    info = topic_info(topic) if topic else None
    try:
        return _checked(_dispatch(raw, info))
    except AlertParseError:
        raise
    except RecursionError:
        raise AlertParseError("payload nests too deeply") from None
    except Exception as exc:
        # A parser bug must not crash the daemon or lose the alert: the caller stores it as
        # unparsed with this reason, and the log keeps the traceback for the fix.
        logger.exception("alert parser bug")
        raise AlertParseError(f"internal parser error: {type(exc).__name__}: {exc}") from exc
