"""Sky-map files for the tests: the real LVK map of the corpus, and flat HEALPix maps in the
format Fermi GBM publishes (``glg_healpix_all_bn*.fit``: a PROBABILITY column per pixel, RING
order, NSIDE in the header), written with astropy.io.fits."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
from astropy.io import fits

from autotoo.alerts import healpix
from tests.alerts.alert_corpus import CORPUS

LVK_ALERTS = {
    stage: CORPUS / "igwn" / f"MS181101ab-{stage}.json"
    for stage in ("earlywarning", "preliminary", "initial", "update", "ext-update")
}
LVK_PRELIMINARY = LVK_ALERTS["preliminary"]

# What ligo.skymap 2.5.4 gives for the map of the MS181101ab alerts (crossmatch's
# contour_areas, and the centre of the densest tile by astropy-healpix), see bench/skymap.py.
LVK_AREA_50 = 8.900583435886
LVK_AREA_90 = 30.979860313234
LVK_MAX_POSITION = (194.30419921875, -17.856895095545468)
LVK_DISTANCE = (39.76999609489013, 8.308435058808886)  # DISTMEAN, DISTSTD of the header


def lvk_map_bytes(path: Path = LVK_PRELIMINARY) -> bytes:
    import base64  # noqa: PLC0415

    return base64.b64decode(json.loads(path.read_bytes())["event"]["skymap"])


def gaussian_probabilities(
    order: int, ra: float, dec: float, sigma_deg: float, *, ring: bool
) -> np.ndarray:
    """Probability per pixel of a 2-D Gaussian blob (pixel centres), normalised to 1."""
    ipix = np.arange(12 * 4**order, dtype=np.int64)
    centres = healpix.pix2ang_ring(order, ipix) if ring else healpix.pix2ang_nest(order, ipix)
    pra, pdec = centres
    r0, d0 = math.radians(ra), math.radians(dec)
    cos_sep = np.sin(d0) * np.sin(pdec) + np.cos(d0) * np.cos(pdec) * np.cos(pra - r0)
    sep = np.degrees(np.arccos(np.clip(cos_sep, -1, 1)))
    prob = np.exp(-0.5 * (sep / sigma_deg) ** 2)
    return prob / prob.sum()


def flat_map_bytes(
    prob: np.ndarray,
    *,
    ordering: str = "RING",
    per_row: int = 1,
    column: str = "PROBABILITY",
    coordsys: str = "C",
) -> bytes:
    """A flat HEALPix FITS map as GBM and healpy write them (``per_row`` 1024 as healpy)."""
    nside = int(math.sqrt(len(prob) / 12))
    values = prob.astype(np.float32).reshape(-1, per_row) if per_row > 1 else prob
    form = f"{per_row}E" if per_row > 1 else "E"
    columns = [
        fits.Column(name=column, format=form, array=values),
        fits.Column(name="SIGNIFICANCE", format=form, array=np.zeros_like(values)),
    ]
    table = fits.BinTableHDU.from_columns(columns)
    header = table.header
    header["PIXTYPE"] = "HEALPIX"
    header["ORDERING"] = ordering
    header["NSIDE"] = nside
    header["COORDSYS"] = coordsys
    header["INDXSCHM"] = "IMPLICIT"
    header["OBJECT"] = "bn240812094"
    out = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(out)
    return out.getvalue()
