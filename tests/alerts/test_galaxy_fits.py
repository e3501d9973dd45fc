"""Galaxy catalogues as FITS binary tables, read with the project's own FITS reader.

``tests/data/galaxies/galaxies-example.fits`` holds the rows of
``config/galaxies-example.csv`` (NAME 20A; RA, DEC in deg and DIST_MPC in Mpc as 64-bit
floats; MASS as 32-bit floats, NaN where the CSV cell is blank), written by
:func:`write_example` with astropy.io.fits; the first test checks the committed bytes are
still what it writes.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from astropy.io import fits

from autotoo.alerts import parse_alert
from autotoo.alerts.coverage import plan_coverage, rank_galaxies
from autotoo.alerts.galaxies import CatalogueError, read_catalogue
from autotoo.alerts.regions import SkyMapRegion
from autotoo.alerts.skymaps import region_of
from autotoo.config.problems import ConfigError
from autotoo.rules import load_rules
from tests.alerts.alert_corpus import CORPUS

REPO = Path(__file__).resolve().parents[2]
CSV = REPO / "config" / "galaxies-example.csv"
FITS = REPO / "tests" / "data" / "galaxies" / "galaxies-example.fits"
LVK = CORPUS / "igwn" / "MS181101ab-preliminary.json"


def _csv_columns() -> dict[str, list[str]]:
    lines = [line for line in CSV.read_text().splitlines() if not line.startswith("#")]
    header, *rows = list(csv.reader(lines))
    return {name: [row[i] for row in rows] for i, name in enumerate(header)}


def _table(columns: list[fits.Column], path: Path) -> Path:
    hdu = fits.BinTableHDU.from_columns(fits.ColDefs(columns))
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path, overwrite=True)
    return path


def write_example(path: Path) -> Path:
    col = _csv_columns()
    mass = [float(x) if x.strip() else np.nan for x in col["mass"]]
    return _table(
        [
            fits.Column(name="NAME", format="20A", array=np.array(col["name"])),
            fits.Column(name="RA", format="D", unit="deg", array=np.array(col["ra"], float)),
            fits.Column(name="DEC", format="D", unit="deg", array=np.array(col["dec"], float)),
            fits.Column(
                name="DIST_MPC", format="D", unit="Mpc", array=np.array(col["distance_mpc"], float)
            ),
            fits.Column(name="MASS", format="E", array=np.array(mass)),
        ],
        path,
    )


def test_the_committed_table_is_the_csv_written_as_fits(tmp_path: Path) -> None:
    assert write_example(tmp_path / "again.fits").read_bytes() == FITS.read_bytes()


def test_a_fits_catalogue_reads_as_the_csv_and_ranks_the_same() -> None:
    from_csv, from_fits = read_catalogue(CSV), read_catalogue(FITS)
    assert len(from_fits) == len(from_csv) == 41
    assert from_fits.proxy_column == from_csv.proxy_column == "mass"
    for a, b in zip(from_csv.galaxies, from_fits.galaxies, strict=True):
        assert (a.name, a.ra, a.dec, a.distance_mpc) == (b.name, b.ra, b.dec, b.distance_mpc)
        assert (a.proxy is None) == (b.proxy is None)
        if a.proxy is not None:
            assert b.proxy == pytest.approx(a.proxy, rel=1e-7)  # 32-bit floats in the table
    region, error = region_of(parse_alert(LVK.read_bytes(), "igwn.gwalert"))
    assert isinstance(region, SkyMapRegion), error
    for use_proxy in (True, False):
        ranked_csv, share_csv, _ = rank_galaxies(region, from_csv, 41, use_proxy=use_proxy)
        ranked_fits, share_fits, _ = rank_galaxies(region, from_fits, 41, use_proxy=use_proxy)
        assert [t.name for t in ranked_fits] == [t.name for t in ranked_csv]
        assert share_fits == pytest.approx(share_csv, rel=1e-6)
    plan = plan_coverage(region, catalogue=from_fits, max_targets=3)
    assert [t.name for t in plan.targets] == ["NGC 4968", "NGC 4993", "NGC 4970"]
    assert plan.explanation == plan_coverage(region, catalogue=from_csv, max_targets=3).explanation


def _bad(tmp_path: Path, **change: Any) -> Path:
    """The example table with some columns replaced (None: left out)."""
    col = _csv_columns()
    columns = {
        "NAME": fits.Column(name="NAME", format="20A", array=np.array(col["name"])),
        "RA": fits.Column(name="RA", format="D", unit="deg", array=np.array(col["ra"], float)),
        "DEC": fits.Column(name="DEC", format="D", unit="deg", array=np.array(col["dec"], float)),
        "DISTANCE": fits.Column(
            name="DISTANCE", format="D", unit="Mpc", array=np.array(col["distance_mpc"], float)
        ),
    }
    for name, column in change.items():
        if column is None:
            del columns[name]
        else:
            columns[name] = column
    return _table(list(columns.values()), tmp_path / "bad.fits")


def _dec_with(value: float, row: int) -> fits.Column:
    dec = np.array(_csv_columns()["dec"], float)
    dec[row] = value
    return fits.Column(name="DEC", format="D", unit="deg", array=dec)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"DISTANCE": None},
            (
                "the table needs columns ra, dec and distance_mpc (missing: distance_mpc; it "
                "has NAME, RA, DEC); optional: name, and one of mass, luminosity, proxy"
            ),
        ),
        ({"DEC": _dec_with(-95.0, 6)}, "row 7: dec: -95.0 is not in [-90, 90] degrees"),
        ({"DEC": _dec_with(np.nan, 2)}, "row 3: dec: nan is not in [-90, 90] degrees"),
        (
            {"RA": fits.Column(name="RA", format="D", unit="rad", array=np.zeros(41))},
            "column RA is in 'rad', not deg",
        ),
        (
            {"DISTANCE": fits.Column(name="DISTANCE", format="D", unit="kpc", array=np.ones(41))},
            "column DISTANCE is in 'kpc', not Mpc",
        ),
        (
            {"RA": fits.Column(name="RA", format="2D", unit="deg", array=np.zeros((41, 2)))},
            "column RA is not one number per row",
        ),
    ],
)
def test_a_bad_table_is_refused_with_the_reason(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    path = _bad(tmp_path, **change)
    with pytest.raises(CatalogueError) as caught:
        read_catalogue(path)
    assert str(caught.value) == f"{path}: {message}"


def test_a_file_that_is_not_a_table_is_refused(tmp_path: Path) -> None:
    image = tmp_path / "image.fits"
    fits.PrimaryHDU(np.zeros((4, 4))).writeto(image)
    truncated = tmp_path / "truncated.fits"
    truncated.write_bytes(FITS.read_bytes()[:4000])
    for path, why in [
        (image, "FITS file has no binary table"),
        (truncated, "FITS header ends before its END card"),
    ]:
        with pytest.raises(CatalogueError) as caught:
            read_catalogue(path)
        assert str(caught.value) == f"{path}: not a readable FITS galaxy table: {why}"


def test_a_bad_fits_catalogue_is_a_load_error_of_its_rule(tmp_path: Path) -> None:
    bad = _bad(tmp_path, DEC=_dec_with(-95.0, 6))
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n"
        "  - name: lvk\n"
        "    match: {missions: [lvk]}\n"
        "    too:\n"
        f"      galaxies: {bad.name}\n"
        "      cover: auto\n"
        "      exposure_time_per_tile: 500\n"
        "      source_name: x\n"
        "      source_type: GW counterpart\n"
        "      urgency: 2\n"
        "      obs_type: Light Curve\n"
        "      exp_time_per_visit: 1000\n"
        "      num_of_visits: 1\n"
        "      monitoring_freq: 1 day\n"
        "      other_brightness: unknown\n"
        "      immediate_objective: x\n"
        "      science_just: x\n"
        "      exp_time_just: x\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_rules([rules])
    where = f"{rules}:5:17: rules.0.too.galaxies: galaxy catalogue: {bad}"
    assert [str(p) for p in caught.value.problems] == [
        f"{where}: row 7: dec: -95.0 is not in [-90, 90] degrees"
    ]
