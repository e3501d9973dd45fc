"""One burst as several missions saw it, made from real notices by aligning them.

No stored notice set has Fermi GBM, Swift BAT, SVOM and Einstein Probe notices of one real
burst, so the tests make one: real payloads (``autotoo/samples`` and the GCN Kafka capture)
whose times are all shifted by one offset, so that each triggers where the test says, and
whose position is moved where the test says. Everything else in them is as received.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from importlib import resources
from typing import Any

from autotoo.alerts import parse_alert

SAMPLES = resources.files("autotoo.samples")

GBM = [
    ("fermi_800400263_1_alert.xml", "gcn.classic.voevent.FERMI_GBM_ALERT"),
    ("fermi_800400263_2_flt_pos.xml", "gcn.classic.voevent.FERMI_GBM_FLT_POS"),
    ("fermi_800400263_3_gnd_pos.xml", "gcn.classic.voevent.FERMI_GBM_GND_POS"),
    ("fermi_800400263_4_fin_pos.xml", "gcn.classic.voevent.FERMI_GBM_FIN_POS"),
]
#: Where GBM's final position puts burst 800400263 (its FIN_POS, 2.26 deg statistical).
GBM_FIN = (320.79, -36.41)
BAT = ("swift_bat_grb_pos_ack.xml", "gcn.classic.voevent.SWIFT_BAT_GRB_POS_ACK")
ECLAIRS = ("svom_sb26050402_2_eclairs_wakeup.xml", "gcn.notices.svom.voevent.eclairs")
WXT = ("ep_wxt_alert.json", "gcn.notices.einstein_probe.wxt.alert")
LVK = ("igwn_MS181101ab_preliminary.json", "igwn.gwalert")

_ISO = re.compile(rb"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)(Z|[+-]\d\d:\d\d)?")


def sample(name: str) -> bytes:
    return SAMPLES.joinpath(name).read_bytes()


def _shift_times(raw: bytes, delta: timedelta) -> bytes:
    def shifted(match: re.Match[bytes]) -> bytes:
        text = match.group(1).decode()
        fmt = "%Y-%m-%dT%H:%M:%S.%f" if "." in text else "%Y-%m-%dT%H:%M:%S"
        when = datetime.strptime(text, fmt) + delta
        out = when.strftime(fmt)
        if "." in text:  # keep the original number of decimals
            out = out[: len(text)]
        return out.encode() + (match.group(2) or b"")

    return _ISO.sub(shifted, raw)


def aligned(
    name: str,
    topic: str,
    *,
    trigger: datetime,
    position: tuple[float, float] | None = None,
    key: str | None = None,
    error_deg: float | None = None,
) -> bytes:
    """The sample ``name`` triggering at ``trigger``, at ``position`` (None: where it is),
    renamed to event ``key`` when given (EP ``id``, IGWN ``superevent_id``, a VOEvent's
    trigger id wherever it appears), with the error
    ``error_deg`` when given (JSON notices)."""
    raw = sample(name)
    before = parse_alert(raw, topic).trigger_time
    assert before is not None
    if raw.lstrip().startswith(b"{"):
        data: dict[str, Any] = json.loads(raw)
        if "superevent_id" in data:
            data["superevent_id"] = key or data["superevent_id"]
            data["event"]["search"] = "AllSky"  # the sample is a mock-data challenge's
            data["event"]["time"] = trigger.isoformat().replace("+00:00", "Z")
            data["time_created"] = (trigger + timedelta(seconds=30)).isoformat()
        else:
            data["trigger_time"] = trigger.isoformat().replace("+00:00", "Z")
            if key is not None:
                data["id"] = [key]
            if position is not None:
                data["ra"], data["dec"] = position
            if error_deg is not None:
                data["ra_dec_error"] = error_deg
        return json.dumps(data).encode()
    out = _shift_times(raw, trigger - before)
    if key is not None:  # the trigger id, wherever it appears (params, IVORN)
        old = parse_alert(raw, topic).event_key
        out = out.replace(old.encode(), key.encode())
    if position is not None:
        out = re.sub(rb"<C1>[^<]*</C1>", f"<C1>{position[0]}</C1>".encode(), out)
        out = re.sub(rb"<C2>[^<]*</C2>", f"<C2>{position[1]}</C2>".encode(), out)
    return out
