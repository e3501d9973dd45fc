"""IGWN (LVK) JSON alerts on ``igwn.gwalert``.

Different conventions from gcn-schema: the stage is ``alert_type`` (EARLYWARNING or
EARLY_WARNING, PRELIMINARY, INITIAL, UPDATE, RETRACTION), there is no sequence number (order by
``time_created``), a retraction has ``event: null``, and the sky map is base64 multi-order FITS
inside ``event.skymap`` — kept as the string, never decoded here. ``M`` (mock) and ``T`` (test)
superevents are tests.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from autotoo.alerts.errors import AlertParseError
from autotoo.alerts.model import Kind, NormalizedAlert, Reference
from autotoo.alerts.topics import TopicInfo
from autotoo.alerts.values import parse_utc
from autotoo.alerts.wire import LenientFloat, Scores, validate

# Stage -> (canonical notice type, kind). The JSON samples spell EARLYWARNING, the Avro schema
# EARLY_WARNING; both become EARLY_WARNING, the spelling of the classic LVC_EARLY_WARNING.
_STAGES: dict[str, tuple[str, Kind]] = {
    "EARLYWARNING": ("EARLY_WARNING", "initial"),
    "EARLY_WARNING": ("EARLY_WARNING", "initial"),
    "PRELIMINARY": ("PRELIMINARY", "initial"),
    "INITIAL": ("INITIAL", "update"),
    "UPDATE": ("UPDATE", "update"),
    "RETRACTION": ("RETRACTION", "retraction"),
}
IGWN_STAGES = frozenset(_STAGES)


def _names(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


class IgwnEvent(BaseModel):
    """Only what the model reads; ``group``, ``pipeline``, ``significant``... stay in ``raw``."""

    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)

    time: str | None = None
    far: LenientFloat = None
    search: str | None = None  # strict: "MDC" makes the alert a test
    instruments: Annotated[list[str], BeforeValidator(_names)] = Field(default_factory=list)
    classification: Scores = Field(default_factory=dict)
    properties: Scores = Field(default_factory=dict)
    skymap: str | None = None


class IgwnExternalCoinc(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)

    ivorn: str | None = None


class IgwnAlert(BaseModel):
    """The fields of an ``igwn.gwalert`` message that the normalized alert is built from."""

    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)

    alert_type: str
    superevent_id: str = Field(min_length=1)
    time_created: str | None = None
    event: IgwnEvent | None = None
    external_coinc: IgwnExternalCoinc | None = None


def looks_like_igwn(obj: dict[str, Any]) -> bool:
    """Payload-only detection: a superevent id and an IGWN stage name."""
    stage = obj.get("alert_type")
    return (
        "superevent_id" in obj and isinstance(stage, str) and stage.strip().upper() in IGWN_STAGES
    )


def parse_igwn(obj: dict[str, Any], topic: TopicInfo | None) -> NormalizedAlert:
    alert = validate(IgwnAlert, obj, "IGWN")
    stage = alert.alert_type.strip().upper()
    if stage not in _STAGES:
        raise AlertParseError(f"IGWN alert_type {alert.alert_type[:40]!r} is not a known stage")
    notice_type, kind = _STAGES[stage]
    superevent = alert.superevent_id.strip()
    event = alert.event
    if kind != "retraction" and event is None:
        raise AlertParseError(f"IGWN {notice_type} without an event")
    is_test = superevent[:1] in {"M", "T"} or (event is not None and event.search == "MDC")
    terrestrial = event.classification.get("Terrestrial") if event else None
    references: tuple[Reference, ...] = ()
    if alert.external_coinc is not None and alert.external_coinc.ivorn:
        references = (Reference(alert.external_coinc.ivorn),)
    return NormalizedAlert(
        format="igwn_json",
        mission="lvk",
        notice_type=notice_type,
        event_key=superevent,
        kind=kind,
        messenger="gw",
        instrument=",".join(event.instruments) if event and event.instruments else None,
        topic=topic.topic if topic else None,
        is_test=is_test,
        trigger_time=parse_utc(event.time, "event.time") if event and event.time else None,
        issued_time=(parse_utc(alert.time_created, "time_created") if alert.time_created else None),
        far=event.far if event else None,
        # LVK defines p_astro as 1 - p_terrestrial; only CBC alerts carry the classification.
        p_astro=None if terrestrial is None else 1.0 - terrestrial,
        classification=event.classification if event else {},
        properties=event.properties if event else {},
        references=references,
        raw=obj,
        skymap_b64=event.skymap if event else None,
    )
