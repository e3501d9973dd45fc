"""The emulator's UVOT mode table (a few real modes; the real one is huge)."""

from __future__ import annotations

from typing import Any

_F = tuple[
    str, int, int, int, int, int, str
]  # filter, eventmode, fov, binning, max_exp, weight, comment

_SIX = ("uvw1", "u", "b", "uvw2", "v", "uvm2")

UVOT_MODES: dict[int, tuple[_F, ...]] = {
    0x9999: (("fotd", 0, 17, 1, 3000, 0, "filter of the day (chosen by the UVOT team)"),),
    0x01AB: (("u", 0, 17, 1, 3000, 3000, "FILL THE SNAPSHOT"),),
    0x30ED: tuple(
        (f, 0, 17, 1, 1500, w, "")
        for f, w in zip(_SIX, (450, 150, 150, 600, 150, 450), strict=True)
    ),
    0x223F: (("uvw1", 0, 17, 1, 1500, 600, ""), ("uvm2", 0, 17, 1, 1500, 900, "")),
    0x2019: (("uvw2", 0, 17, 1, 3000, 3000, "FILL THE SNAPSHOT"),),
    0x015A: (("uvm2", 0, 17, 1, 3000, 3000, "FILL THE SNAPSHOT"),),
    0x018C: (("v", 0, 17, 1, 3000, 3000, "FILL THE SNAPSHOT"),),
    0x0270: (("ugrism", 0, 17, 1, 3000, 3000, "grism; consider slew in place"),),
}
# What the service assumes when the mode is free text or filter-of-the-day: the six filters.
DEFAULT_FILTERS = ("u", "b", "v", "uvw1", "uvw2", "uvm2")


def filters_of(mode: int | str) -> tuple[str, ...]:
    if isinstance(mode, int) and mode in UVOT_MODES and mode != 0x9999:
        return tuple(f[0] for f in UVOT_MODES[mode])
    return DEFAULT_FILTERS


def uvot_entries(mode: int, *, v1: bool) -> list[dict[str, Any]]:
    """Entries as each protocol writes them (v1: ``uvotmode`` hex text; v2: ``uvot_mode`` int)."""
    out: list[dict[str, Any]] = []
    for seq, (name, event, fov, binning, max_exp, weight, comment) in enumerate(UVOT_MODES[mode]):
        entry: dict[str, Any] = {
            "filter_num": seq,
            "min_exposure": 0,
            "filter_name": name,
            "filter_pos": seq,
            "filter_seqid": seq + 1,
            "eventmode": event,
            "field_of_view": fov,
            "binning": binning,
            "max_exposure": max_exp,
            "weight": weight,
            "special": 0,
            "comment": comment,
        }
        if v1:
            out.append(
                {"api_name": "UVOT_mode_entry", "api_data": {"uvotmode": f"0x{mode:04x}", **entry}}
            )
        else:
            out.append({"uvot_mode": mode, **entry})
    return out
