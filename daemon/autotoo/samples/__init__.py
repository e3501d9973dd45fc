"""A small curated set of real alerts, shipped as package data for ``autotoo demo`` and docs.

Copied from the project's shared corpus (real GCN Kafka captures of April-June 2026, the
gwcelery Swift BAT sample, the LVK user-guide mock superevent). The IGWN preliminary's 1 MB sky
map was replaced by a 8.6 kB one: a valid multi-order FITS of the twelve order-0 HEALPix pixels
with uniform density, so the sky-map path can be exercised without the weight.

Files are listed in the order they were issued, with the Kafka topic each arrived on.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable


@dataclass(frozen=True, slots=True)
class Sample:
    name: str
    topic: str
    description: str

    def path(self) -> Traversable:
        return files(__name__) / self.name

    def read_bytes(self) -> bytes:
        return self.path().read_bytes()


_SVOM_GRM = "gcn.notices.svom.voevent.grm"
_FERMI = "gcn.classic.voevent.FERMI_GBM_"

SAMPLES: tuple[Sample, ...] = (
    Sample(
        "ep_wxt_alert.json",
        "gcn.notices.einstein_probe.wxt.alert",
        "Einstein Probe WXT X-ray transient (no mission/alert_type in the payload)",
    ),
    Sample(
        "svom_sb26050402_1_grm_trigger.xml",
        _SVOM_GRM,
        "SVOM GRM trigger, coarse position without an error",
    ),
    Sample(
        "svom_sb26050402_2_eclairs_wakeup.xml",
        "gcn.notices.svom.voevent.eclairs",
        "SVOM ECLAIRs wake-up position of the same burst",
    ),
    Sample(
        "svom_sb26050402_3_mxt_initial.xml",
        "gcn.notices.svom.voevent.mxt",
        "SVOM MXT X-ray position of the same burst",
    ),
    Sample(
        "svom_sb26043009_1_grm_trigger.xml",
        _SVOM_GRM,
        "SVOM GRM trigger of a later-retracted burst",
    ),
    Sample(
        "svom_sb26043009_2_retraction.xml",
        _SVOM_GRM,
        "SVOM retraction (Packet_Type 219, ECLAIRs, on the grm topic)",
    ),
    Sample("fermi_800400263_1_alert.xml", _FERMI + "ALERT", "Fermi GBM alert, no position"),
    Sample("fermi_800400263_2_flt_pos.xml", _FERMI + "FLT_POS", "Fermi GBM flight position"),
    Sample("fermi_800400263_3_gnd_pos.xml", _FERMI + "GND_POS", "Fermi GBM ground position"),
    Sample("fermi_800400263_4_fin_pos.xml", _FERMI + "FIN_POS", "Fermi GBM final position"),
    Sample(
        "swift_bat_grb_pos_ack.xml",
        "gcn.classic.voevent.SWIFT_BAT_GRB_POS_ACK",
        "Swift BAT GRB position (GRB 220907)",
    ),
    Sample(
        "igwn_MS181101ab_preliminary.json",
        "igwn.gwalert",
        "LVK mock superevent preliminary with a tiny sky map",
    ),
)
