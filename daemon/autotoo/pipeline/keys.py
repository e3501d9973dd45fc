"""Deterministic keys: the same input always gives the same key, across restarts and hosts.

* Inbox content key: the normalized topic plus the SHA-256 of the payload -- so the same
  bytes arriving over two transports (``gcn.notices.x`` on Kafka, ``gcn/notices/x`` on an
  MQTT bridge) are one row. Nothing is read out of a payload before it parses: a truncated
  or corrupt copy must not claim the name of the notice it is a copy of.
* Alert identity: the IVORN of a *parsed* VOEvent (its globally unique name). The processor
  marks a later alert with the identity of an earlier parsed one as its duplicate.
* Submission idempotency key: a digest of (rule, event, action, attempt). ``attempt`` is 0
  for the first request and counts only *explicit* resubmissions a rule's policy asks for
  (e.g. after a constraint rejection), so an accident can never mint a new key.
"""

from __future__ import annotations

import hashlib
import json

from autotoo.alerts.model import NormalizedAlert
from autotoo.alerts.topics import normalize_topic


def inbox_key(raw: bytes, topic: str | None) -> tuple[str, str]:
    """(content key, payload digest): the exact bytes, never a name read from them."""
    digest = hashlib.sha256(raw).hexdigest()
    return f"sha256:{normalize_topic(topic) if topic else ''}:{digest}", digest


def alert_identity(alert: NormalizedAlert) -> str | None:
    """The name a parsed alert gives itself, if it has a globally unique one (the IVORN)."""
    ivorn = (alert.ivorn or "").strip()
    return f"ivorn:{ivorn}" if ivorn else None


def content_key(alert: NormalizedAlert, inbox_key: str) -> str:
    """What makes an alert one alert for ``once_per: alert`` keys: its identity, else its
    inbox row's content key. An IVORN gives the key the inbox stored before schema 3."""
    return alert_identity(alert) or inbox_key


def submission_key(rule: str, event: str, action: str, attempt: int = 0) -> str:
    material = json.dumps([rule, event, action, attempt], separators=(",", ":"))
    return "atoo-" + hashlib.sha256(material.encode()).hexdigest()[:24]
