"""API v1 ("1.2") query classes of swifttools 3.0.24: ``Swift_VisQuery``, ``Swift_PPST``
(PlanQuery), ``Swift_AFST`` (ObsQuery), ``Swift_SAA`` and ``Swift_Clock``.

They ask the questions of the v2 endpoints (:mod:`queries`) in a JWT's ``api_data``; each is
renamed to the v2 query and answered by the same function, from the same sky, orbit and clock,
so both protocols agree to the second. Only the shape differs, as swifttools 3.0.24 reads it
(``api_common.TOOAPI_Baseclass.__read_dict``): the envelope's ``api_name`` is the class's,
nested objects are ``{"api_name", "api_data"}`` pairs of the class's ``_subclasses``
(``Swift_VisWindow``, ``Swift_PPST_Entry``, ``Swift_AFST_Entry``, ``Swift_SAA_Entry``,
``swiftdatetime``), times are ``YYYY-MM-DD HH:MM:SS`` (the client's date-time pattern has a
space, not a ``T``), and the status is a nested ``Swift_TOO_Status``. A question the v2
endpoint refuses (422) is a ``Rejected`` status with the same message here.

What the real v1 service echoes besides these (the query's own parameters) is not known; the
replies carry only what the classes read back (docs/swift-too.md, "What the emulator still
cannot know").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from multidict import MultiDict

from autotoo.emulators.swift import queries
from autotoo.emulators.swift.service import SwiftService

Reply = tuple[str, dict[str, Any]]  # (api_name, api_data without the status)


def _time(value: str) -> str:
    """A v2 time (``2026-01-01T00:00:00``) as swifttools 3 parses it."""
    return value.replace("T", " ", 1)


def _nested(api_name: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"api_name": api_name, "api_data": data}


def _query(data: dict[str, Any], names: dict[str, str]) -> MultiDict[str]:
    """``api_data`` as the v2 query string: v1 name -> v2 name, lists repeated, booleans as
    ``true``/``false``, None left out (as the v2 client leaves it out)."""
    q: MultiDict[str] = MultiDict()
    for v1_name, v2_name in names.items():
        value = data.get(v1_name)
        for one in value if isinstance(value, list) else [value]:
            if one is None:
                continue
            q.add(v2_name, str(one).lower() if isinstance(one, bool) else str(one))
    return q


def visquery(service: SwiftService, data: dict[str, Any]) -> Reply:
    names = {"ra": "ra", "dec": "dec", "begin": "begin", "length": "length", "hires": "hires"}
    body = queries.visibility(service, _query(data, names))
    windows = [
        _nested("Swift_VisWindow", {"begin": _time(w["begin"]), "end": _time(w["end"])})
        for w in body["windows"]
    ]
    return "Swift_VisQuery", {"windows": windows}


_SELECTION = {
    "begin": "begin",
    "end": "end",
    "ra": "ra",
    "dec": "dec",
    "radius": "radius",
    "targetid": "target_id",
    "obsnum": "obs_id",
}


def _obs_id(value: Any) -> Any:
    """An ``obsnum`` in the spacecraft form (target ID + segment << 24) as the SDC string."""
    if isinstance(value, list):
        return [_obs_id(one) for one in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value & 0xFFFFFF:08d}{value >> 24:03d}"
    return value


def _timeline(service: SwiftService, data: dict[str, Any], *, flown: bool) -> dict[str, Any]:
    data = {**data, "obsnum": _obs_id(data.get("obsnum"))}
    return queries.timeline(service, _query(data, _SELECTION), flown=flown)


def _common(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "begin": _time(entry["begin"]),
        "end": _time(entry["end"]),
        "targname": entry["target_name"],
        "ra": entry["ra"],
        "dec": entry["dec"],
        "roll": entry["roll"],
        "targetid": entry["target_id"],
        "seg": entry["segment"],
        "xrt": entry["xrt_mode"],
        "uvot": f"0x{entry['uvot_mode']:04x}",
        "bat": entry["bat_mode"],
        "fom": entry["fom"],
    }


def ppst(service: SwiftService, data: dict[str, Any]) -> Reply:
    body = _timeline(service, data, flown=False)
    entries = [_nested("Swift_PPST_Entry", _common(e)) for e in body["entries"]]
    return "Swift_PPST", {"entries": entries, "ppstmax": _time(body["ppstmax"])}


def afst(service: SwiftService, data: dict[str, Any]) -> Reply:
    body = _timeline(service, data, flown=True)
    entries = [
        _nested(
            "Swift_AFST_Entry",
            _common(e)
            | {
                "settle": _time(e["settle"]),
                "ra_point": e["ra_object"],
                "dec_point": e["dec_object"],
                "obstype": e["obstype"],
            },
        )
        for e in body["entries"]
    ]
    return "Swift_AFST", {"entries": entries, "afstmax": _time(body["afstmax"])}


def saa(service: SwiftService, data: dict[str, Any]) -> Reply:
    names = {"begin": "begin", "end": "end", "bat": "bat"}
    passages = queries.saa_passages(service, _query(data, names))
    entries = [
        _nested("Swift_SAA_Entry", {"begin": _time(p["begin"]), "end": _time(p["end"])})
        for p in passages
    ]
    return "Swift_SAA", {"entries": entries}


def clock(service: SwiftService, data: dict[str, Any]) -> Reply:  # noqa: ARG001 one signature
    names = {"met": "met", "utctime": "utctime", "swifttime": "swifttime"}
    entries = [_nested("swiftdatetime", e) for e in queries.clock_entries(_query(data, names))]
    return "Swift_Clock", {"entries": entries}


QUERIES: dict[str, Callable[[SwiftService, dict[str, Any]], Reply]] = {
    "Swift_VisQuery": visquery,
    "Swift_PPST": ppst,
    "Swift_AFST": afst,
    "Swift_SAA": saa,
    "Swift_Clock": clock,
}

BadQueryError = queries.BadQueryError
