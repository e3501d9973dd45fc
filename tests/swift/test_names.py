"""The emulators' name catalogue: the file format, and the packaged file's own consistency."""

from __future__ import annotations

import pytest

from autotoo.emulators.names import NameResolver, parse
from autotoo.emulators.sky import Sky, angular_separation_deg


def test_formats_signs_and_aliases() -> None:
    entries = parse(
        "# comment\n"
        "name,ra,dec,kind,aliases\n"
        "A0620-00,06:22:44.54,-00:20:44.7,LMXB,V616 Mon|Nova Mon 1975\n"
        "Degrees,150.25,-12.5\n"
        "Spaces,19 13 03.50,+19 46 24.2,GRB\n"
    )
    resolver = NameResolver(entries)
    a0620 = resolver.resolve("v616mon")
    assert a0620 is not None
    assert a0620.name == "A0620-00"
    assert a0620.dec == pytest.approx(-(20 / 60 + 44.7 / 3600))  # "-00:..." keeps its sign
    assert a0620.ra == pytest.approx((6 + 22 / 60 + 44.54 / 3600) * 15)
    assert resolver.resolve("degrees") is not None
    spaces = resolver.resolve("SPACES")
    assert spaces is not None
    assert (round(spaces.ra, 4), round(spaces.dec, 4)) == (288.2646, 19.7734)
    with pytest.raises(ValueError, match="row 1"):
        parse("Bad,12:00:00,+95:00:00\n")
    with pytest.raises(ValueError, match="row 1"):
        parse("Bad,not-an-angle,+10\n")


def test_the_packaged_catalogue_agrees_with_the_archive() -> None:
    """Every archive target the catalogue also names sits within 2 arcsec of it."""
    sky = Sky()
    catalogue = NameResolver.packaged()
    assert len(catalogue) > 200
    checked = 0
    for target in sky.targets():
        named = catalogue.resolve(target.name)
        if named is None:
            continue
        checked += 1
        assert angular_separation_deg(target.ra, target.dec, named.ra, named.dec) < 2 / 3600
    assert checked >= 3
