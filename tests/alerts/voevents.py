"""Builders for small VOEvent documents in the GCN Classic layout, for the parser tests.

Real files from the shared corpus are used where they exist; these cover notice types the
corpus lacks (Swift pointing directions, legacy LVC, IceCube) with the same structure.
"""

from __future__ import annotations


def param(name: str, value: str, unit: str | None = None, data_type: str | None = None) -> str:
    extra = f' unit="{unit}"' if unit else ""
    extra += f' dataType="{data_type}"' if data_type else ""
    return f'<Param name="{name}" value="{value}"{extra}/>'


def group(name: str | None, *params: str, type_: str | None = None) -> str:
    attributes = (f' name="{name}"' if name else "") + (f' type="{type_}"' if type_ else "")
    return f"<Group{attributes}>{''.join(params)}</Group>"


def where_when(
    iso_time: str = "2026-05-01T10:00:00.00",
    position: tuple[str, str, str] | None = ("10.0", "20.0", "0.05"),
    system: str = "UTC-FK5-GEO",
    observatory: str = '<ObservatoryLocation id="GEOLUN"/>',
) -> str:
    coords = ""
    if position is not None:
        c1, c2, err = position
        coords = (
            f'<Position2D unit="deg"><Name1>RA</Name1><Name2>Dec</Name2>'
            f"<Value2><C1>{c1}</C1><C2>{c2}</C2></Value2>"
            f"<Error2Radius>{err}</Error2Radius></Position2D>"
        )
    return (
        f"<WhereWhen><ObsDataLocation>{observatory}<ObservationLocation>"
        f'<AstroCoordSystem id="{system}"/><AstroCoords coord_system_id="{system}">'
        f'<Time unit="s"><TimeInstant><ISOTime>{iso_time}</ISOTime></TimeInstant></Time>'
        f"{coords}</AstroCoords></ObservationLocation></ObsDataLocation></WhereWhen>"
    )


def observatory_location(
    name: str = "IceCube", lon: str = "-63.453", lat: str = "-89.99", height: str = "2835"
) -> str:
    """An ``ObservatoryLocation`` with the observatory's own geodetic coordinates, as the
    VOEvent 2.0 standard allows (its STC ``AstroCoordSystem``/``AstroCoords``) and neutrino
    telescopes publish: ``UTC-GEOD-TOPO``, a ``Position3D`` of longitude, latitude and height.
    """
    return (
        f'<ObservatoryLocation id="{name}"><AstroCoordSystem id="UTC-GEOD-TOPO"/>'
        '<AstroCoords coord_system_id="UTC-GEOD-TOPO"><Position3D unit="deg-deg-m">'
        "<Name1>longitude</Name1><Name2>latitude</Name2><Name3>elevation</Name3>"
        f"<Value3><C1>{lon}</C1><C2>{lat}</C2><C3>{height}</C3></Value3>"
        "</Position3D></AstroCoords></ObservatoryLocation>"
    )


def citations(cite: str, *ivorns: str) -> str:
    refs = "".join(f'<EventIVORN cite="{cite}">{i}</EventIVORN>' for i in ivorns)
    return f"<Citations>{refs}</Citations>"


def voevent(
    *what: str,
    ivorn: str = "ivo://nasa.gsfc.gcn/SWIFT#Test_1-001",
    role: str = "observation",
    where: str | None = None,
    extra: str = "",
) -> bytes:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<voe:VOEvent xmlns:voe="http://www.ivoa.net/xml/VOEvent/v2.0" '
        f'ivorn="{ivorn}" role="{role}" version="2.0">'
        "<Who><Date>2026-05-01T10:00:30</Date></Who>"
        f"<What>{''.join(what)}</What>{where if where is not None else where_when()}{extra}"
        "</voe:VOEvent>"
    )
    return body.encode()
