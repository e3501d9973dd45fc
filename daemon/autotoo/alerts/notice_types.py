"""GCN Classic ``Packet_Type`` numbers: names, and what a type says about its notice.

Names are the GCN Kafka topic spellings (``gcn.classic.voevent.<NAME>``), from nasa-gcn/pygcn
``gcn/notice_types.py`` and the gcn.nasa.gov topic list; SVOM numbers are from real SVOM
notices (the SVOM VOEvent ``ivorn`` suffix names the notice better, see ``voevent.py``).
"""

from __future__ import annotations

PACKET_TYPES: dict[int, str] = {
    51: "INTEGRAL_POINTDIR",
    52: "INTEGRAL_SPIACS",
    53: "INTEGRAL_WAKEUP",
    54: "INTEGRAL_REFINED",
    55: "INTEGRAL_OFFLINE",
    56: "INTEGRAL_WEAK",
    58: "MILAGRO_POS",
    59: "KONUS_LC",
    60: "SWIFT_BAT_GRB_ALERT",
    61: "SWIFT_BAT_GRB_POS_ACK",
    62: "SWIFT_BAT_GRB_POS_NACK",
    63: "SWIFT_BAT_GRB_LC",
    64: "SWIFT_BAT_SCALEDMAP",
    65: "SWIFT_FOM_OBS",
    66: "SWIFT_SC_SLEW",
    67: "SWIFT_XRT_POSITION",
    68: "SWIFT_XRT_SPECTRUM",
    69: "SWIFT_XRT_IMAGE",
    70: "SWIFT_XRT_LC",
    71: "SWIFT_XRT_CENTROID",
    72: "SWIFT_UVOT_DBURST",
    73: "SWIFT_UVOT_FCHART",
    76: "SWIFT_BAT_GRB_LC_PROC",
    77: "SWIFT_XRT_SPECTRUM_PROC",
    78: "SWIFT_XRT_IMAGE_PROC",
    79: "SWIFT_UVOT_DBURST_PROC",
    80: "SWIFT_UVOT_FCHART_PROC",
    81: "SWIFT_UVOT_POS",
    82: "SWIFT_BAT_GRB_POS_TEST",
    83: "SWIFT_POINTDIR",
    84: "SWIFT_BAT_TRANS",
    85: "SWIFT_XRT_THRESHPIX",
    86: "SWIFT_XRT_THRESHPIX_PROC",
    87: "SWIFT_XRT_SPER",
    88: "SWIFT_XRT_SPER_PROC",
    89: "SWIFT_UVOT_POS_NACK",
    94: "SWIFT_FOM_PPT_ARG_ERR",
    95: "SWIFT_FOM_SAFE_POINT",
    96: "SWIFT_FOM_SLEW_ABORT",
    97: "SWIFT_BAT_QL_POS",
    98: "SWIFT_BAT_SUB_THRESHOLD",
    99: "SWIFT_BAT_SLEW_POS",
    100: "AGILE_GRB_WAKEUP",
    101: "AGILE_GRB_GROUND",
    102: "AGILE_GRB_REFINED",
    103: "SWIFT_ACTUAL_POINTDIR",
    105: "AGILE_MCAL_ALERT",
    107: "AGILE_POINTDIR",
    108: "AGILE_TRANS",
    109: "AGILE_GRB_POS_TEST",
    110: "FERMI_GBM_ALERT",
    111: "FERMI_GBM_FLT_POS",
    112: "FERMI_GBM_GND_POS",
    113: "FERMI_GBM_LC",
    115: "FERMI_GBM_FIN_POS",
    118: "FERMI_GBM_TRANS",
    119: "FERMI_GBM_POS_TEST",
    120: "FERMI_LAT_POS_INI",
    121: "FERMI_LAT_POS_UPD",
    122: "FERMI_LAT_POS_DIAG",
    123: "FERMI_LAT_TRANS",
    124: "FERMI_LAT_POS_TEST",
    125: "FERMI_LAT_MONITOR",
    126: "FERMI_SC_SLEW",
    127: "FERMI_LAT_GND",
    128: "FERMI_LAT_OFFLINE",
    129: "FERMI_POINTDIR",
    130: "SIMBADNED",
    131: "FERMI_GBM_SUBTHRESH",
    133: "SWIFT_BAT_MONITOR",
    134: "MAXI_UNKNOWN",
    135: "MAXI_KNOWN",
    136: "MAXI_TEST",
    137: "OGLE",
    138: "CBAT",
    139: "MOA",
    140: "SWIFT_BAT_SUBSUB",
    141: "SWIFT_BAT_KNOWN_SRC",
    145: "COINCIDENCE",
    148: "SUZAKU_LC",
    149: "SNEWS",
    150: "LVC_PRELIMINARY",
    151: "LVC_INITIAL",
    152: "LVC_UPDATE",
    153: "LVC_TEST",
    154: "LVC_COUNTERPART",
    157: "AMON_ICECUBE_COINC",
    158: "AMON_ICECUBE_HESE",
    160: "CALET_GBM_FLT_LC",
    161: "CALET_GBM_GND_LC",
    163: "LVC_EARLY_WARNING",
    164: "LVC_RETRACTION",
    168: "GWHEN_COINC",
    169: "AMON_ICECUBE_EHE",
    171: "HAWC_BURST_MONITOR",
    172: "AMON_NU_EM_COINC",
    173: "ICECUBE_ASTROTRACK_GOLD",
    174: "ICECUBE_ASTROTRACK_BRONZE",
    175: "SK_SN",
    176: "ICECUBE_CASCADE",
    188: "GECAM_FLT",
    189: "GECAM_GND",
    201: "SVOM_GRM_TRIGGER",
    202: "SVOM_ECLAIRS_WAKEUP",
    204: "SVOM_SLEWING",
    205: "SVOM_NOT_SLEWING",
    209: "SVOM_MXT_INITIAL",
    219: "SVOM_RETRACTION",
}

# Types that retract an earlier notice whatever else they say (the LVC retraction's own
# AlertType param can still read "Preliminary").
RETRACTION_TYPES = frozenset({164, 219})

# Types that refine an event some earlier notice opened (even when they cite nothing: old Fermi
# FIN_POS notices have no Citations).
UPDATE_TYPES = frozenset(
    {63, 65, 66, 67, 69, 71, 72, 73, 76, 78, 79, 80, 81, 89, 99, 101, 102}
    | {54, 55, 111, 112, 113, 115, 121, 127, 128, 151, 152, 204, 205, 209}
)

# Test notice types (in addition to ``role="test"`` and the Test_* flags).
TEST_TYPES = frozenset({82, 109, 119, 124, 136, 153})

# Types whose position is where a spacecraft points, not where a source is.
POINTING_TYPES = frozenset({51, 83, 103, 107, 126, 129})

# Instrument named by the second token of the notice type (``SWIFT_XRT_POSITION`` -> XRT).
INSTRUMENT_TOKENS = frozenset({"BAT", "XRT", "UVOT", "GBM", "LAT", "MCAL", "GSC"})

# Leading token of the notice type -> mission slug.
NAME_PREFIX_MISSION = {
    "SWIFT": "swift",
    "FERMI": "fermi",
    "INTEGRAL": "integral",
    "AGILE": "agile",
    "MAXI": "maxi",
    "SNEWS": "snews",
    "LVC": "lvk",
    "ICECUBE": "icecube",
    "AMON": "amon",
    "SVOM": "svom",
    "GECAM": "gecam",
    "SK": "superk",
    "CALET": "calet",
    "HAWC": "hawc",
    "KONUS": "konus",
    "MILAGRO": "milagro",
    "SUZAKU": "suzaku",
    "MOA": "moa",
    "OGLE": "ogle",
}


def mission_of_notice(name: str) -> str | None:
    if name.startswith(("AMON_ICECUBE", "ICECUBE")):
        return "icecube"
    return NAME_PREFIX_MISSION.get(name.split("_", 1)[0])
