"""VOEvent 2.0 XML as carried on ``gcn.classic.voevent.*`` and ``gcn.notices.svom.voevent.*``.

The XML is parsed once, by :func:`~autotoo.alerts.xmlsafe.read_xml` (size limit, no DTD,
hence no entity expansion and no external references). ``raw`` is the flat
``{Param name: typed value}`` map of ``<What>`` (groups flattened, first occurrence wins);
``flags`` holds every boolean Param, true if any occurrence of that name is true (Swift
repeats ``Near_Bright_Star`` in two groups, and an exclusion rule must not miss either).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from xml.etree.ElementTree import Element

from autotoo.alerts.errors import AlertParseError
from autotoo.alerts.model import Cite, Kind, Messenger, NormalizedAlert, Reference
from autotoo.alerts.notice_types import (
    INSTRUMENT_TOKENS,
    PACKET_TYPES,
    POINTING_TYPES,
    RETRACTION_TYPES,
    TEST_TYPES,
    UPDATE_TYPES,
    mission_of_notice,
)
from autotoo.alerts.position import NO_POSITION, Position, make_position
from autotoo.alerts.topics import TopicInfo
from autotoo.alerts.values import (
    mission_slug,
    optional_finite,
    parse_utc,
    payload_digest,
    time_key,
)
from autotoo.alerts.wire import finite_scores
from autotoo.alerts.xmlsafe import read_xml

_INT = re.compile(r"[+-]?(?:0|[1-9]\d*)\Z")
_FLOAT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\Z")
_BOOLEANS = {"true": True, "false": False}
_NUMBER_START = frozenset("+-.0123456789")
_LEADING_ZERO = re.compile(r"[+-]?0\d")
_NON_WORD = re.compile(r"[^A-Za-z0-9]+")
_QUALITY_SUFFIX = re.compile(r"_qf\d+\Z")
_HOW_INSTRUMENT = re.compile(r"([\w-]+) Instrument")
_SECONDS_PER_YEAR = 365.25 * 86400.0
_TEST_FLAGS = ("Test_Submission", "Test_Notice", "Test", "InternalTest")
_NEUTRINO_MISSIONS = frozenset({"icecube", "km3net", "superk", "snews", "amon"})
_CITES: dict[str, Cite] = {
    "followup": "followup",
    "supersedes": "supersedes",
    "retraction": "retraction",
}
# ivorn authority/path (before '#') -> mission, for notices without a known Packet_Type.
_IVORN_MISSIONS = {"org.svom": "svom", "gwnet/lvc": "lvk", "gwnet": "lvk"}


def _local(tag: str) -> str:
    """Element name without its namespace: VOEvents come both prefixed and unprefixed."""
    return tag.rsplit("}", 1)[-1]


def _is(tag: str, name: str) -> bool:
    """``tag`` is ``name`` in any namespace (cheaper than splitting every tag)."""
    return tag == name or tag.endswith("}" + name)


def typed_value(text: str) -> Any:
    """A Param value as bool, int or float where it plainly is one, else the string.

    The ``dataType`` attribute is not trusted: some producers (voevent-parse, the LVC
    pipeline) mark every Param ``string``, booleans and Packet_Type included. Integers with
    leading zeros stay strings (they are identifiers, e.g. ``01709261081``); hexadecimal flag
    words (``0x20000003``) stay strings too. Dispatches on the first character because this
    runs for every Param of every VOEvent (about 50 per notice).
    """
    value = text.strip()
    if value:
        first = value[0]
        if first in _NUMBER_START and not _LEADING_ZERO.match(value):
            if _INT.match(value):
                return int(value)
            if _FLOAT.match(value):
                return float(value)
        elif first in "tTfF" and (low := value.lower()) in _BOOLEANS:
            return _BOOLEANS[low]
    return value


# Groups whose Params the model reads as a whole.
_SCORE_GROUPS = frozenset({"Classification", "Properties"})


@dataclass(slots=True)
class _What:
    params: dict[str, Any] = field(default_factory=dict)
    flags: dict[str, bool] = field(default_factory=dict)
    far_unit: str | None = None
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)


def _read_what(what: Element | None) -> _What:
    out = _What()
    if what is None:
        return out
    pairs: list[tuple[Element, str | None]] = []
    for child in what:
        if _is(child.tag, "Param"):
            pairs.append((child, None))
        elif _is(child.tag, "Group"):
            # LVC names its score groups by type (<Group type="Classification">), GCN by name.
            kind = child.get("type")
            group = kind if kind in _SCORE_GROUPS else child.get("name")
            pairs.extend((p, group) for p in child if _is(p.tag, "Param"))
    params, flags = out.params, out.flags
    for element, group in pairs:
        name = element.get("name")
        text = element.get("value")
        if name is None or text is None:
            continue
        value = typed_value(text)
        params.setdefault(name, value)
        if value is True or value is False:
            flags[name] = flags.get(name, False) or value
        if name == "FAR" and out.far_unit is None:
            out.far_unit = element.get("unit")
        if group in _SCORE_GROUPS:
            out.groups.setdefault(group, {}).setdefault(name, value)
    return out


@dataclass(slots=True)
class _WhereWhen:
    iso_time: str | None = None
    c1: str | None = None
    c2: str | None = None
    error: str | None = None
    system: str | None = None


def _read_where_when(section: Element | None) -> _WhereWhen:
    """The source's time, position and frame, read from ``ObservationLocation`` only.

    ``ObservatoryLocation`` comes first in ``ObsDataLocation`` and may hold the observatory's
    own coordinates (neutrino telescopes give a geodetic ``UTC-GEOD-TOPO`` position there):
    those are where the instrument is, not where the source is. Without an
    ``ObservationLocation`` the rest of the section is read, the observatory still skipped.
    """
    out = _WhereWhen()
    if section is None:
        return out
    observation = next(
        (e for e in section.iter() if _local(e.tag) == "ObservationLocation"), section
    )
    for element in _iter_skipping(observation, "ObservatoryLocation"):
        name = _local(element.tag)
        text = element.text.strip() if element.text else None
        if name == "ISOTime" and out.iso_time is None:
            out.iso_time = text
        elif name == "C1" and out.c1 is None:
            out.c1 = text
        elif name == "C2" and out.c2 is None:
            out.c2 = text
        elif name == "Error2Radius" and out.error is None:
            out.error = text
        elif name == "AstroCoordSystem" and out.system is None:
            out.system = element.get("id")
    return out


def _iter_skipping(element: Element, skipped: str) -> Iterator[Element]:
    """``element.iter()`` in document order, without the subtrees named ``skipped`` (a
    stack, not recursion: nesting depth is the sender's choice)."""
    stack = [element]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(c for c in reversed(current) if _local(c.tag) != skipped)


def _references(section: Element | None) -> tuple[Reference, ...]:
    if section is None:
        return ()
    refs: list[Reference] = []
    for element in section:
        if _local(element.tag) != "EventIVORN" or not element.text or not element.text.strip():
            continue
        cite = _CITES.get((element.get("cite") or "").strip().lower())
        refs.append(Reference(element.text.strip(), cite))
    return tuple(refs)


def _why_name(section: Element | None) -> str | None:
    if section is None:
        return None
    for element in section.iter():
        if _local(element.tag) == "Name" and element.text and element.text.strip():
            return element.text.strip()
    return None


def _section_text(section: Element | None) -> str:
    if section is None:
        return ""
    return " ".join(t.strip() for t in section.itertext() if t.strip())


def _parse_xml(raw: bytes) -> Element:
    root = read_xml(raw)
    if _local(root.tag) != "VOEvent":
        raise AlertParseError(f"XML root is <{_local(root.tag)[:40]}>, not <VOEvent>")
    return root


def _packet_type(params: dict[str, Any]) -> int | None:
    value = params.get("Packet_Type")
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise AlertParseError(f"Packet_Type is not an integer: {str(value)[:40]!r}")


def _revision(params: dict[str, Any]) -> int | None:
    value = params.get("Pkt_Ser_Num")
    if isinstance(value, str) and _INT.match(value):
        return int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _svom_notice(ivorn: str | None) -> str | None:
    """``ivo://org.svom/fsc#sb26050402_mxt-initial_qf1`` -> ``SVOM_MXT_INITIAL``."""
    if not ivorn or "#" not in ivorn:
        return None
    fragment = ivorn.split("#", 1)[1]
    if "_" not in fragment:
        return None
    stage = _QUALITY_SUFFIX.sub("", fragment.split("_", 1)[1])
    return "SVOM_" + _NON_WORD.sub("_", stage).upper()


def _mission_from_ivorn(ivorn: str | None) -> str | None:
    if not ivorn or not ivorn.startswith("ivo://"):
        return None
    where, _, fragment = ivorn[len("ivo://") :].partition("#")
    where = where.lower()
    for prefix, mission in _IVORN_MISSIONS.items():
        if where.startswith(prefix):
            return mission
    if where.startswith("nasa.gsfc.gcn/"):
        stream = where.split("/", 1)[1]
        if stream == "amon" and "icecube" in fragment.lower():
            return "icecube"
        return mission_slug(stream) or None
    return None


def _notice_type(packet: int | None, ivorn: str | None, topic: TopicInfo | None) -> str:
    is_svom = bool(ivorn and ivorn.startswith("ivo://org.svom"))
    svom = _svom_notice(ivorn) if is_svom else None
    if svom is not None:
        return svom
    if packet is not None and packet in PACKET_TYPES:
        return PACKET_TYPES[packet]
    if topic is not None and topic.notice_type:
        return topic.notice_type
    return f"PACKET_{packet}" if packet is not None else "VOEVENT"


def _kind(packet: int | None, what: _What, refs: tuple[Reference, ...]) -> Kind:
    params = what.params
    alert_type = str(params.get("AlertType", "")).lower()
    cites = {ref.cite for ref in refs}
    if (
        packet in RETRACTION_TYPES
        or "retraction" in cites
        or alert_type == "retraction"
        or what.flags.get("Retraction", False)
    ):
        return "retraction"
    if (
        packet in UPDATE_TYPES
        or cites & {"followup", "supersedes"}
        or what.flags.get("Updated_Notice", False)
        or _positive_int(params.get("Rev"))  # IceCube alert revision: 0 first, then 1, 2...
    ):
        return "update"
    return "initial"


def _positive_int(value: Any) -> bool:
    return type(value) is int and value > 0


def _ident(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    text = str(value).strip()
    return text or None


def _event_key(what: _What, trigger: Any, ivorn: str | None, raw: bytes) -> str:
    params = what.params
    for name in ("Burst_Id", "GraceID"):
        key = _ident(params.get(name))
        if key:
            return key
    run, event = params.get("run_id"), params.get("event_id")
    if isinstance(run, int) and isinstance(event, int):
        return f"{run}_{event}"  # the gcn-schema IceCube id spelling, e.g. 137840_57034692
    for name in ("TrigID", "Trans_Num", "AMON_ID"):
        key = _ident(params.get(name))
        if key and key.strip("0"):  # INTEGRAL and AGILE send TrigID 0
            return key
    if trigger is not None:
        return time_key(trigger)
    if ivorn and "#" in ivorn:
        return ivorn.split("#", 1)[1]
    return payload_digest(raw)


def _instrument(notice_type: str, what: _What, how: Element | None) -> str | None:
    value = _ident(what.params.get("Instrument")) or _ident(what.params.get("Instruments"))
    if value:
        return value
    tokens = notice_type.split("_")
    if len(tokens) > 1 and tokens[1] in INSTRUMENT_TOKENS:
        return tokens[1]
    match = _HOW_INSTRUMENT.search(_section_text(how))
    return match.group(1) if match else None


def _coordinate(text: str | None, name: str) -> float | None:
    if text is None:
        return None
    if not _FLOAT.match(text):
        raise AlertParseError(f"VOEvent {name} is not a number: {text[:40]!r}")
    return float(text)


def _position(packet: int | None, what: _What, where: _WhereWhen) -> Position:
    coords_type = what.params.get("Coords_Type")
    coords = str(what.params.get("Coords_String", "")).lower()
    if (
        coords_type == 0
        or "unavailable" in coords
        or "pointing" in coords
        or packet in POINTING_TYPES
    ):
        return NO_POSITION
    ra = _coordinate(where.c1, "C1")
    dec = _coordinate(where.c2, "C2")
    error = _coordinate(where.error, "Error2Radius")
    if (ra is None and dec is None) or (ra == 0.0 and dec == 0.0 and not error):
        return NO_POSITION  # old GBM alerts fill 0, 0, 0 while saying "source_object"
    system = (where.system or "").upper()
    if system and "FK5" not in system and "ICRS" not in system:
        raise AlertParseError(f"VOEvent coordinate system {system[:40]} is not equatorial")
    return make_position(ra, dec, error)


def _far_hz(what: _What) -> float | None:
    far = optional_finite(what.params.get("FAR"))
    if far is None:
        return None
    unit = (what.far_unit or "").replace(" ", "").lower()
    return far / _SECONDS_PER_YEAR if unit in {"yr^-1", "1/yr", "/yr", "yr-1"} else far


def _first_number(params: dict[str, Any], *names: str) -> float | None:
    for name in names:
        number = optional_finite(params.get(name))
        if number is not None:
            return number
    return None


def _mission(notice_type: str, ivorn: str | None, topic: TopicInfo | None) -> str:
    """From the notice type (``SWIFT_...``), else the ivorn (``ivo://org.svom``), else the topic."""
    mission = (
        mission_of_notice(notice_type)
        or _mission_from_ivorn(ivorn)
        or (topic.mission if topic is not None else None)
    )
    if mission is None:
        raise AlertParseError("VOEvent names no mission (Packet_Type, ivorn or topic)")
    return mission


def parse_voevent(raw: bytes, topic: TopicInfo | None) -> NormalizedAlert:
    """Normalize one VOEvent 2.0 document (bytes as received)."""
    root = _parse_xml(raw)
    ivorn = root.get("ivorn")
    role = (root.get("role") or "").strip().lower() or None
    sections: dict[str, Element] = {}
    for child in root:
        sections.setdefault(_local(child.tag), child)
    what = _read_what(sections.get("What"))
    where = _read_where_when(sections.get("WhereWhen"))
    refs = _references(sections.get("Citations"))
    packet = _packet_type(what.params)
    notice_type = _notice_type(packet, ivorn, topic)
    mission = _mission(notice_type, ivorn, topic)
    kind = _kind(packet, what, refs)
    trigger = parse_utc(where.iso_time, "ISOTime") if where.iso_time else None
    event_key = _event_key(what, trigger, ivorn, raw)
    position = NO_POSITION if kind == "retraction" else _position(packet, what, where)
    is_test = (
        role == "test"
        or packet in TEST_TYPES
        or any(what.flags.get(flag, False) for flag in _TEST_FLAGS)
        or (mission == "lvk" and event_key[:1] in {"M", "T"})
        or what.params.get("HardwareInj") == 1
        or what.params.get("Search") == "MDC"
        or (topic is not None and topic.is_test)
    )
    who = sections.get("Who")
    date = next((e.text for e in who if _local(e.tag) == "Date"), None) if who is not None else None
    messenger: Messenger = (
        "gw" if mission == "lvk" else "neutrino" if mission in _NEUTRINO_MISSIONS else "em"
    )
    params = what.params
    rate_signif = _first_number(params, "Rate_Signif", "Trig_Signif", "Data_Signif", "Inten_Sigma")
    svom_snr = optional_finite(params.get("SNR"))
    instrument = _instrument(notice_type, what, sections.get("How"))
    svom_rate = svom_snr if instrument == "GRM" else None
    svom_image = svom_snr if instrument != "GRM" else None
    most_likely = params.get("Most_Likely_Index")
    return NormalizedAlert(
        format="voevent",
        mission=mission,
        notice_type=notice_type,
        event_key=event_key,
        kind=kind,
        messenger=messenger,
        instrument=instrument,
        topic=topic.topic if topic else None,
        ivorn=ivorn,
        packet_type=packet,
        revision=_revision(params),
        is_test=is_test,
        trigger_time=trigger,
        issued_time=parse_utc(date.strip(), "Who/Date") if date and date.strip() else None,
        ra=position.ra,
        dec=position.dec,
        error_deg=position.error_deg,
        error_confidence=0.9 if position.ra is not None and "src_error_90" in params else None,
        rate_snr=rate_signif if rate_signif is not None else svom_rate,
        image_snr=_first_number(params, "Image_Signif") if svom_image is None else svom_image,
        rate_signif=rate_signif,
        far=_far_hz(what),
        p_astro=optional_finite(params.get("signalness")),
        most_likely_index=most_likely if type(most_likely) is int else None,
        classification=finite_scores(what.groups.get("Classification")),
        properties=finite_scores(what.groups.get("Properties")),
        flags=what.flags,
        references=refs,
        role=role,
        event_name=_why_name(sections.get("Why")),
        raw=params,
    )
