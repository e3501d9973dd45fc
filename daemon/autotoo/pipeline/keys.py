"""Deterministic keys: the same input always gives the same key, across restarts and hosts.

* Inbox content key: the IVORN for a VOEvent (its globally unique name), otherwise the
  normalized topic plus the SHA-256 of the payload -- so the same alert arriving over two
  transports (``gcn.notices.x`` on Kafka, ``gcn/notices/x`` on an MQTT bridge) is one row.
* Submission idempotency key: a digest of (rule, event, action, attempt). ``attempt`` is 0
  for the first request and counts only *explicit* resubmissions a rule's policy asks for
  (e.g. after a constraint rejection), so an accident can never mint a new key.
"""

from __future__ import annotations

import hashlib
import json
import re

from autotoo.alerts.topics import normalize_topic

_IVORN = re.compile(rb"""\bivorn\s*=\s*["']([^"']{1,1000})["']""")


def inbox_key(raw: bytes, topic: str | None) -> tuple[str, str]:
    """(content key, payload digest)."""
    digest = hashlib.sha256(raw).hexdigest()
    head = raw[:4096].lstrip()
    if head.startswith(b"<"):
        match = _IVORN.search(head)
        if match:
            return "ivorn:" + match.group(1).decode("utf-8", "replace"), digest
    return f"sha256:{normalize_topic(topic) if topic else ''}:{digest}", digest


def submission_key(rule: str, event: str, action: str, attempt: int = 0) -> str:
    material = json.dumps([rule, event, action, attempt], separators=(",", ":"))
    return "atoo-" + hashlib.sha256(material.encode()).hexdigest()[:24]
