"""XRT and UVOT mode vocabularies shared by both protocol generations."""

from __future__ import annotations

import re
from typing import Final

XRT_MODES: Final[dict[int, str]] = {
    0: "Auto",
    1: "Null",
    2: "ShortIM",
    3: "LongIM",
    4: "PUPD",
    5: "LRPD",
    6: "WT",
    7: "PC",
    8: "Raw",
    9: "Bias",
    150: "PC_150",
    200: "PC_200",
    255: "Manual",
}
MODES_XRT: Final[dict[str, int]] = {name: code for code, name in XRT_MODES.items()}

UVOT_FILTER_OF_THE_DAY: Final = 0x9999
OBS_TYPES: Final = ("Spectroscopy", "Light Curve", "Position", "Timing")
INSTRUMENTS: Final = ("XRT", "UVOT", "BAT")
NUMBER_OF_TILES: Final = ("4", "7", "19", "37", "Other")
MONITORING_UNITS: Final = ("second", "minute", "hour", "day", "week", "month", "year", "orbit")
# swifttools 4.x's cadence regex knows only these; we assume the v2 service agrees (docs).
MONITORING_UNITS_V2: Final = ("second", "minute", "day", "week", "month", "orbit")

_HEX = re.compile(r"^0x([0-9a-fA-F]+)$")


def xrt_mode_code(mode: int | str) -> int:
    """Name or number to the code; the messages are swifttools', verbatim."""
    if isinstance(mode, str):
        if mode in MODES_XRT:
            return MODES_XRT[mode]
        raise ValueError(f"Unknown mode ({mode}), should be PC, WT or Auto")
    if mode in XRT_MODES:
        return mode
    raise ValueError(f"Unknown mode ({mode}), should be PC (7), WT (6) or Auto (0)")


def uvot_mode_value(mode: int | str) -> int | str:
    """An int (also given as ``0x..`` hex or decimal text), or free text kept verbatim.

    Server-returned modes may read ``"0x30ed:..."``; the part before ``:`` is the code.
    """
    if isinstance(mode, bool):
        raise ValueError("Invalid UVOT mode.")  # noqa: TRY004 -- pydantic reports ValueError only
    if isinstance(mode, int):
        if 0 <= mode <= 0xFFFF:
            return mode
        raise ValueError("Invalid UVOT mode.")
    text = mode.strip()
    head = text.split(":", 1)[0]
    if (m := _HEX.match(head)) is not None and int(m.group(1), 16) <= 0xFFFF:
        return int(m.group(1), 16)
    if text.isascii() and text.isdigit() and int(text) <= 0xFFFF:
        return int(text)
    return mode


def mode_code(mode: int | str) -> int:
    """A UVOT mode that must be a code (lookups), not free text."""
    code = uvot_mode_value(mode)
    if not isinstance(code, int):
        raise TypeError(f"not a UVOT mode code: {mode!r}")
    return code


def uvot_mode_text(mode: int | str) -> str:
    """How swifttools shows a mode: lower-case hex for codes, free text as is."""
    return f"0x{mode:04x}" if isinstance(mode, int) else mode
