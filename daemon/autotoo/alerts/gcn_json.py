"""GCN unified JSON (gcn-schema) notices, as carried on ``gcn.notices.*``.

The wire model validates only the fields the normalized alert needs; everything else stays in
``raw``. Identity, time and position are strict (a wrong type there makes the alert unparsed,
with the field named); statistics are lenient (a wrong type or NaN there is simply absent),
because a typo in a secondary number must not hide an otherwise good alert from the rules.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt

from autotoo.alerts.errors import AlertParseError
from autotoo.alerts.model import Kind, Messenger, NormalizedAlert, Reference
from autotoo.alerts.position import (
    NO_POSITION,
    Position,
    error_from_corners,
    error_from_gcn,
    make_position,
)
from autotoo.alerts.topics import TopicInfo
from autotoo.alerts.values import (
    ellipse_from,
    finite,
    mission_slug,
    parse_utc,
    payload_digest,
    short_string_cache,
)
from autotoo.alerts.wire import LenientFloat, Scores, validate

_SCHEMA_NAME = re.compile(r"/gcn/notices/(.+?)\.schema\.json$")
_NEUTRINO_MISSIONS = frozenset({"icecube", "km3net", "superk", "snews"})
_TEST_TENSES = frozenset({"test", "injection"})


def _ident(value: object) -> object:
    """Identifiers may be numbers on the wire; they are strings in the model."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, list):
        return [_ident(v) for v in value]
    return value


Ident = Annotated[str | list[str] | None, BeforeValidator(_ident)]


class GcnNotice(BaseModel):
    """The fields of a gcn-schema notice that the normalized alert is built from."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True, strict=True)

    schema_url: str | None = Field(default=None, alias="$schema")
    mission: str | None = None
    instrument: str | None = None
    messenger: str | None = None
    alert_type: str | None = None
    alert_tense: str | None = None
    alert_datetime: str | None = None
    record_number: StrictInt | None = None
    id: Ident = None
    event_name: Ident = None
    trigger_time: str | None = None
    ra: Any = None
    dec: Any = None
    ra_dec_error: Any = None
    position_a_error: Any = None
    position_b_error: Any = None
    position_error_pa: Any = None
    rectangular_error_corners: Any = None
    containment_probability: LenientFloat = None
    rate_snr: LenientFloat = None
    image_snr: LenientFloat = None
    far: LenientFloat = None
    p_astro: LenientFloat = None
    classification: Scores = Field(default_factory=dict)
    properties: Scores = Field(default_factory=dict)
    ref_ID: str | None = None  # noqa: N815 - the gcn-schema field name
    obs_id: Ident = None
    follow_up_event: str | None = None
    healpix_file: str | None = None
    data: Any = None


@short_string_cache(maxsize=256)
def schema_name(schema_url: str) -> str | None:
    """``https://gcn.nasa.gov/schema/v4.1.0/gcn/notices/einstein_probe/wxt/alert.schema.json``
    -> ``einstein_probe/wxt/alert``."""
    match = _SCHEMA_NAME.search(schema_url)
    return match.group(1) if match else None


def _first(value: str | list[str] | None) -> str | None:
    """The first identifier of a string-or-list field, or None if empty."""
    if isinstance(value, list):
        value = value[0] if value else None
    return value.strip() or None if value is not None else None


def _kind(notice: GcnNotice) -> Kind:
    alert_type = (notice.alert_type or "").strip().lower()
    if alert_type == "retraction":
        return "retraction"
    if alert_type == "update":
        return "update"
    if alert_type in {"initial", "subsequent"}:
        return "initial"
    return "update" if (notice.record_number or 1) > 1 else "initial"


def _messenger(notice: GcnNotice, mission: str) -> Messenger:
    """The notice's own ``messenger`` (EM, GW, Neutrino), else what the mission observes."""
    value = (notice.messenger or "").strip().lower() or (
        "gw" if mission == "lvk" else "neutrino" if mission in _NEUTRINO_MISSIONS else "em"
    )
    return "gw" if value == "gw" else "neutrino" if value == "neutrino" else "em"


def _event_key(notice: GcnNotice, raw: bytes) -> str:
    key = _first(notice.id) or _first(notice.event_name) or notice.ref_ID or _first(notice.obs_id)
    if key is None and isinstance(notice.data, dict):
        # BOOM: the alert is about its (first) target, named by its survey name.
        targets = notice.data.get("targets")
        if isinstance(targets, list) and targets and isinstance(targets[0], dict):
            name = targets[0].get("event_name")
            key = name if isinstance(name, str) and name.strip() else None
    return key.strip() if key else payload_digest(raw)


def _position(notice: GcnNotice) -> Position:
    if notice.position_a_error is not None:
        a = finite(notice.position_a_error, "position_a_error")
        b_value = notice.position_b_error
        if b_value is None:
            return make_position(notice.ra, notice.dec, a)
        b = finite(b_value, "position_b_error")
        pa_value = notice.position_error_pa
        pa = 0.0 if pa_value is None else finite(pa_value, "position_error_pa")
        return make_position(notice.ra, notice.dec, ellipse=ellipse_from(a, b, pa, "position"))
    error, ellipse = error_from_gcn(notice.ra_dec_error)
    if error is None and ellipse is None:
        error = error_from_corners(notice.ra, notice.dec, notice.rectangular_error_corners)
    return make_position(notice.ra, notice.dec, error, ellipse)


def _references(notice: GcnNotice, obj: dict[str, Any]) -> tuple[Reference, ...]:
    refs: list[Reference] = []
    if notice.ref_ID:
        refs.append(Reference(notice.ref_ID))
    reference = obj.get("reference")
    if isinstance(reference, dict):
        refs.extend(Reference(v) for v in reference.values() if isinstance(v, str))
    if notice.follow_up_event:
        refs.append(Reference(notice.follow_up_event))
    return tuple(refs)


def parse_gcn_json(obj: dict[str, Any], raw: bytes, topic: TopicInfo | None) -> NormalizedAlert:
    """Normalize one decoded gcn-schema notice; ``raw`` is the original bytes."""
    notice = validate(GcnNotice, obj, "gcn JSON")
    name = schema_name(notice.schema_url) if notice.schema_url is not None else None
    if name == "core/Alert" or (topic is not None and topic.topic == "gcn.heartbeat"):
        # gcn.heartbeat records are bare core Alert objects ($schema + alert_datetime).
        raise AlertParseError("gcn.heartbeat record, not an alert")
    if name is not None and name.startswith("core/"):
        raise AlertParseError(f"gcn-schema core fragment {name}, not a mission notice")
    if name is not None:
        mission = mission_slug(name.split("/", 1)[0])
    elif topic is not None and topic.mission is not None:
        mission = topic.mission
    elif notice.mission:
        mission = mission_slug(notice.mission)
    else:
        raise AlertParseError("gcn JSON names no mission ($schema, mission or topic)")
    notice_type = name or (topic.notice_type if topic else None) or f"{mission}/notice"
    kind = _kind(notice)
    tense = notice.alert_tense.strip().lower() if notice.alert_tense else None
    is_test = (
        tense in _TEST_TENSES or "/test" in notice_type or (topic is not None and topic.is_test)
    )
    position = NO_POSITION if kind == "retraction" else _position(notice)
    trigger_time = parse_utc(notice.trigger_time, "trigger_time") if notice.trigger_time else None
    issued = parse_utc(notice.alert_datetime, "alert_datetime") if notice.alert_datetime else None
    containment = notice.containment_probability
    if position.ra is not None and containment is None:
        containment = 0.9  # the gcn-schema default when the notice does not say
    return NormalizedAlert(
        format="gcn_json",
        mission=mission,
        notice_type=notice_type,
        event_key=_event_key(notice, raw),
        kind=kind,
        messenger=_messenger(notice, mission),
        instrument=notice.instrument.strip() if notice.instrument else None,
        topic=topic.topic if topic else None,
        schema=notice.schema_url,
        revision=notice.record_number,
        is_test=is_test,
        trigger_time=trigger_time,
        issued_time=issued,
        ra=position.ra,
        dec=position.dec,
        error_deg=position.error_deg,
        error_confidence=containment if position.ra is not None else None,
        ellipse=position.ellipse,
        rate_snr=notice.rate_snr,
        image_snr=notice.image_snr,
        far=notice.far,
        p_astro=notice.p_astro,
        classification=notice.classification,
        properties=notice.properties,
        references=_references(notice, obj),
        alert_tense=tense,
        event_name=_first(notice.event_name),
        raw=obj,
        skymap_b64=notice.healpix_file,
    )
