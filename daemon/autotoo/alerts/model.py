"""The normalized alert: one typed shape for GCN JSON, IGWN JSON and VOEvent XML.

Rules, grouping and planning see only this. It is a frozen dataclass (not a pydantic model):
it is built by our own parsers, never from untrusted input directly, and it is on the hot path.

Conventions (decided here once, so every parser agrees):

* ``mission`` is a lower-case slug as in the GCN Kafka topic names: ``swift``, ``fermi``,
  ``svom``, ``einstein_probe``, ``lvk``, ``icecube``, ``integral``, ``agile``, ``snews``,
  ``maxi``, ``km3net``, ``superk``, ``chime``, ``dsa110``, ``glowbug``, ``burstcube``, ...
* ``instrument`` keeps the mission's own spelling (``BAT``, ``GBM``, ``ECLAIRs``, ``GRM``,
  ``MXT``, ``WXT``), or ``None`` when unknown.
* ``event_key`` identifies the astrophysical event within its mission (TrigID, Burst_Id,
  superevent_id, ``id``); :attr:`NormalizedAlert.group_key` adds the mission so keys of
  different missions never collide.
* Times are timezone-aware UTC datetimes. Coordinates are ICRS degrees; ``error_deg`` is the
  radius of the error circle in degrees as the alert states it (``error_confidence`` says at
  which containment when the alert says so).
* ``raw`` is the decoded payload for rules that need any other field: the JSON object for
  JSON alerts, and for VOEvents a flat ``{Param name: typed value}`` mapping of every
  ``<Param>`` in ``<What>`` (groups flattened; a later duplicate name does not overwrite).
* ``role`` (VOEvent ``role``), ``alert_tense`` (gcn-schema) and ``event_name`` (gcn-schema
  ``event_name``, VOEvent ``Why/Inference/Name``) are kept verbatim; ``is_test`` is the
  decision derived from them (and from test flags, ``M``/``T`` superevents, test topics).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from autotoo.alerts.errors import AlertParseError

# The event key of an alert that names no event (see values.payload_digest).
ANONYMOUS_KEY_PREFIX = "sha256:"

Kind = Literal["initial", "update", "retraction"]
Messenger = Literal["em", "gw", "neutrino"]
Format = Literal["gcn_json", "igwn_json", "voevent"]
Cite = Literal["followup", "supersedes", "retraction"]


@dataclass(frozen=True, slots=True)
class Ellipse:
    """An error ellipse: semi-axes in degrees, position angle east of north in degrees."""

    a_deg: float
    b_deg: float
    pa_deg: float


@dataclass(frozen=True, slots=True)
class Reference:
    """A reference to an earlier alert (VOEvent ``EventIVORN``, IceCube ``ref_ID``)."""

    target: str
    cite: Cite | None = None


@dataclass(frozen=True, slots=True)
class NormalizedAlert:
    """Everything a rule may look at, from any alert format."""

    format: Format
    mission: str
    notice_type: str
    event_key: str
    kind: Kind
    messenger: Messenger = "em"
    instrument: str | None = None
    topic: str | None = None
    ivorn: str | None = None
    schema: str | None = None
    packet_type: int | None = None
    revision: int | None = None
    is_test: bool = False
    trigger_time: datetime | None = None
    issued_time: datetime | None = None
    ra: float | None = None
    dec: float | None = None
    error_deg: float | None = None
    error_confidence: float | None = None
    ellipse: Ellipse | None = None
    rate_snr: float | None = None
    image_snr: float | None = None
    rate_signif: float | None = None
    far: float | None = None
    p_astro: float | None = None
    most_likely_index: int | None = None
    classification: dict[str, float] = field(default_factory=dict)
    properties: dict[str, float] = field(default_factory=dict)
    flags: dict[str, bool] = field(default_factory=dict)
    references: tuple[Reference, ...] = ()
    role: str | None = None
    alert_tense: str | None = None
    event_name: str | None = None
    raw: Any = field(default=None, repr=False, compare=False)
    skymap_b64: str | None = field(default=None, repr=False, compare=False)

    @property
    def has_position(self) -> bool:
        return self.ra is not None and self.dec is not None

    @property
    def names_event(self) -> bool:
        """The alert says which event it is about (its key is not a digest of its bytes)."""
        return not self.event_key.startswith(ANONYMOUS_KEY_PREFIX)

    @property
    def group_key(self) -> str:
        """Key that groups alerts of one astrophysical event: ``<mission>:<event_key>``."""
        return f"{self.mission}:{self.event_key}"

    def skymap_bytes(self) -> bytes | None:
        """Decode the multi-order FITS sky map on demand (never on the hot path).

        Raises :class:`AlertParseError` if the text is not base64 (gcn-schema examples carry
        placeholders such as ``"hhhh..."``, which a lenient decoder would turn into garbage).
        """
        if self.skymap_b64 is None:
            return None
        try:
            return base64.b64decode("".join(self.skymap_b64.split()), validate=True)
        except binascii.Error as exc:
            raise AlertParseError(f"sky map is not valid base64: {exc}") from None

    def to_json_dict(self) -> dict[str, Any]:
        """The normalized fields as JSON-ready values (no raw payload, no sky map)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name in {"raw", "skymap_b64"}:
                continue
            value = getattr(self, f.name)
            if isinstance(value, datetime):
                value = value.isoformat().replace("+00:00", "Z")
            elif isinstance(value, Ellipse):
                value = dataclasses.asdict(value)
            elif f.name == "references":
                value = [dataclasses.asdict(r) for r in value]
            out[f.name] = value
        out["has_skymap"] = self.skymap_b64 is not None
        return out
