"""Physically plausible synthetic products, deterministic per job (seeded by the JobID).

Positions scatter around the target's true X-ray position by about their own 90% error;
light curves follow the source's count rate and decay over the observations the job uses;
spectra are absorbed power laws (and APEC/blackbody when asked for) with sensible fluxes;
source lists hold the target plus a few serendipitous sources, every value a string.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from autotoo.emulators.sky import Observation, Target
from autotoo.emulators.ukssdc.jobs import Job, met

ARCSEC: Final = 1.0 / 3600.0
LC_COLUMNS: Final = [
    "Time", "TimePos", "TimeNeg", "Rate", "RatePos", "RateNeg", "FracExp", "BGrate", "BGerr",
    "CorrFact", "CtsInSrc", "BGInSrc", "Exposure", "Sigma", "SNR",
]  # fmt: skip
BAND_COLUMNS: Final = ["Time", "TimePos", "TimeNeg", "Rate", "RateErr"]
HR_COLUMNS: Final = ["Time", "TimePos", "TimeNeg", "HR", "HRErr"]
# Spectral model name on the wire -> its shape parameter.
MODEL_KEYS: Final = {
    "powerlaw": ("PowerLaw", "Gamma"),
    "apec": ("APEC", "KT"),
    "blackbody": ("BlackBody", "KT"),
}


def rng_for(job: Job, salt: str) -> random.Random:
    return random.Random(f"{job.job_id}:{salt}")  # noqa: S311 - simulation, not security


@dataclass(frozen=True, slots=True)
class Fix:
    ra: float
    dec: float
    err90: float  # arcsec


def total_counts(target: Target, observations: list[Observation]) -> float:
    return sum(rate_at(target, o.start, observations[0].start) * o.exposure_s for o in observations)


def rate_at(target: Target, when: datetime, first: datetime) -> float:
    """Count rate decaying as t**-decay from the first observation (t in days, floored)."""
    days = max((when - first).total_seconds() / 86400.0, 0.0) + 1.0
    decay: float = days ** (-target.source.decay_index)
    return target.source.count_rate * decay


def position(job: Job, short: str, target: Target, observations: list[Observation]) -> Fix:
    counts = max(total_counts(target, observations), 1.0)
    systematic, statistical = {"psf": (3.5, 20.0), "enh": (1.4, 12.0), "xastrom": (2.0, 14.0)}[
        short
    ]
    err90 = math.hypot(systematic, statistical / math.sqrt(counts))
    rng = rng_for(job, short)
    sigma = err90 / 2.146 * ARCSEC  # 90% radius of a 2-D Gaussian is 2.146 sigma
    dec = target.source.dec + rng.gauss(0, sigma)
    ra = target.source.ra + rng.gauss(0, sigma) / max(math.cos(math.radians(dec)), 1e-6)
    return Fix(ra % 360.0, max(-90.0, min(90.0, dec)), round(err90, 1))


def _bin_row(
    rate: float, exposure: float, t: float, half: float, rng: random.Random
) -> list[float]:
    counts = max(rate * exposure, 0.0)
    measured = max(rng.gauss(counts, math.sqrt(counts + 1.0)), 0.5)
    err = math.sqrt(measured) / exposure
    bg = 2e-4
    snr = measured / math.sqrt(measured + bg * exposure)
    return [t, half, -half, measured / exposure, err, -err, 0.95, bg, bg / 3, 1.1,
            measured, bg * exposure, exposure, snr * 1.1, snr]  # fmt: skip


def light_curve(
    job: Job, target: Target, observations: list[Observation], *, nosys: str, incbad: str
) -> dict[str, Any]:
    """The getLCData reply body (without OK/APIVersion)."""
    rng = rng_for(job, "lc")
    t0 = met(observations[0].start) if "Tstart" not in job.pars else float(job.pars["Tstart"])
    mjd = str(job.pars.get("lctimetype", "s")) in ("m", "mjd")
    method = str(job.pars.get("binMeth"))
    per_obs = {"obsid": 1, "snapshot": 2}.get(method, 3)  # bins per observation
    with_obsid = method in ("obsid", "snapshot")
    rows: dict[str, list[list[Any]]] = {}
    for obs in observations:
        mode = obs.mode
        for k in range(per_obs):
            span = (obs.end - obs.start).total_seconds() / per_obs
            when = datetime.fromtimestamp(obs.start.timestamp() + (k + 0.5) * span, UTC)
            exposure = obs.exposure_s / per_obs
            t = (met(when) - t0) if not mjd else met(when) / 86400.0 + 51910.0
            half = span / 2 / (86400.0 if mjd else 1.0)
            row: list[Any] = _bin_row(
                rate_at(target, when, observations[0].start), exposure, t, half, rng
            )
            kind = "UL" if row[13] < 3.0 else ""
            if kind:
                row[3] = row[3] + 3 * row[4]  # an upper limit sits 3 sigma above the estimate
            if with_obsid:
                row.append(f"::ObsID={obs.obsid}")
            rows.setdefault(f"{mode}{kind}", []).append(row)
            soft, hard = row[3] * 0.55, row[3] * 0.45
            rows.setdefault(f"{mode}Soft", []).append([t, half, -half, soft, row[4] * 0.7])
            rows.setdefault(f"{mode}Hard", []).append([t, half, -half, hard, row[4] * 0.7])
            rows.setdefault(f"{mode}HR", []).append([t, half, -half, hard / soft, 0.1])
    out: dict[str, Any] = {"Datasets": []}
    for base, data in rows.items():
        rate_columns = [*LC_COLUMNS, "ObsID"] if with_obsid else LC_COLUMNS
        columns = {"Soft": BAND_COLUMNS, "Hard": BAND_COLUMNS, "HR": HR_COLUMNS}.get(
            base.removeprefix("WT").removeprefix("PC"), rate_columns
        )
        for name in _variants(base, nosys=nosys, incbad=incbad):
            out["Datasets"].append(name)
            out[f"{name}Data"] = {
                "columns": columns,
                "data": data,
                "URL": f"{job.url}/lc/{name}.qdp",
            }
    binning = {"counts": "Counts", "time": "Time", "obsid": "Observation", "snapshot": "Snapshot"}
    out["Binning"] = binning.get(str(job.pars.get("binMeth")), "Unknown")
    out["TimeFormat"] = "MJD" if mjd else "MET"
    out["T0"] = t0
    return out


def _variants(base: str, *, nosys: str, incbad: str) -> list[str]:
    sys_tags = {"yes": ["_nosys"], "no": [""], "both": ["", "_nosys"]}[nosys]
    if not base.startswith("WT"):
        sys_tags = [""]  # only WT mode carries the systematic error
    bad_tags = {"yes": ["_incbad"], "no": [""], "both": ["", "_incbad"]}[incbad]
    return [f"{base}{s}{b}" for s in sys_tags for b in bad_tags]


def spectrum(job: Job, target: Target, observations: list[Observation]) -> dict[str, Any]:
    """The getSpecData reply: the new-style spectrum dict, always with GalNH_unfitted."""
    rng = rng_for(job, "spec")
    t0 = met(observations[0].start)
    nh_gal = round(3e20 + 5e20 * abs(math.sin(math.radians(target.dec))), -18)
    out: dict[str, Any] = {
        "T0": t0,
        "DeltaFitStat": float(job.pars.get("dchi", 2.706)),
        "GalNH_unfitted": nh_gal,
        "rnames": [],
    }
    slices = _slices(job, observations)
    models = [str(m).lower() for m in job.pars.get("models", ["powerlaw"])]
    for rname, obs in slices:
        out["rnames"].append(rname)
        modes = sorted({o.mode for o in obs}, key=lambda m: m != "WT")
        entry: dict[str, Any] = {
            "DataFile": f"{job.url}/spec/{rname}.tar.gz",
            "Start": round(met(obs[0].start) - t0, 1),
            "Stop": round(met(obs[-1].end) - t0, 1),
            "Modes": modes,
        }
        for mode in modes:
            used = [o for o in obs if o.mode == mode]
            exposure = sum(o.exposure_s for o in used)
            block: dict[str, Any] = {
                "MeanTime": round(met(used[0].start) - t0 + exposure / 2, 1),
                "Exposure": exposure,
            }
            if str(job.pars.get("doNotFit", 0)) in ("1", "True"):
                block["NOFIT"] = 1
            else:
                block["Models"] = [MODEL_KEYS[m][0] for m in models if m in MODEL_KEYS]
                for model in models:
                    if model in MODEL_KEYS:
                        block[MODEL_KEYS[model][0]] = _fit(
                            job, model, rng, exposure, nh_gal, rname, mode
                        )
            entry[mode] = block
        out[rname] = entry
    return out


def _slices(job: Job, observations: list[Observation]) -> list[tuple[str, list[Observation]]]:
    kind = job.pars.get("timeslice", "single")
    if kind == "obsid":
        return [(f"Obs_{o.obsid}", [o]) for o in observations]
    if kind == "snapshot":
        return [(f"Snapshot{i + 1}", [o]) for i, o in enumerate(observations)]
    if kind == "user":
        names = [job.pars[f"rname{i}"] for i in range(1, 5) if f"rname{i}" in job.pars]
        return [(str(n), observations) for n in names]
    return [(str(job.pars.get("specstem", "interval0")), observations)]


def _fit(
    job: Job, model: str, rng: random.Random, exposure: float, nh_gal: float, rname: str, mode: str
) -> dict[str, Any]:
    name, shape = MODEL_KEYS[model]
    nh = nh_gal * (1.5 + rng.random())
    value = {"powerlaw": 1.9, "apec": 1.2, "blackbody": 0.3}[model] + rng.gauss(0, 0.1)
    flux = 1e-11 * (0.5 + rng.random())
    rel = 1.0 / math.sqrt(max(exposure, 100.0) / 100.0)
    fit: dict[str, Any] = {"NH": nh, "NHPos": nh * rel, "NHNeg": -nh * rel}
    fit |= {shape: round(value, 3), f"{shape}Pos": round(0.2 * rel, 3)}
    fit[f"{shape}Neg"] = round(-0.2 * rel, 3)
    for key, flux_value in (("ObsFlux", flux), ("UnabsFlux", flux * 1.3)):
        fit |= {key: flux_value, f"{key}Pos": flux_value * rel, f"{key}Neg": -flux_value * rel}
    fit |= {"Cstat": round(200 + 50 * rng.random(), 2), "Dof": 210}
    fit["FitChi"] = round(205 + 40 * rng.random(), 2)
    fit["Image"] = f"{job.url}/spec/{rname}{mode.lower()}_{name.lower()}.gif"
    if str(job.pars.get("galactic", 0)) == "1":
        fit["GalacticNH"] = nh_gal
    if str(job.pars.get("specz", 0)) == "1":
        fit["Redshift_abs"] = float(job.pars.get("zval", 0))
    return fit


def galactic(ra: float, dec: float) -> tuple[float, float]:
    """Equatorial J2000 -> Galactic (l, b) in degrees."""
    ra_gp, dec_gp, l_ncp = math.radians(192.85948), math.radians(27.12825), math.radians(122.93192)
    r, d = math.radians(ra), math.radians(dec)
    sin_b = math.sin(d) * math.sin(dec_gp) + math.cos(d) * math.cos(dec_gp) * math.cos(r - ra_gp)
    b = math.asin(max(-1.0, min(1.0, sin_b)))
    y = math.cos(d) * math.sin(r - ra_gp)
    x = math.sin(d) * math.cos(dec_gp) - math.cos(d) * math.sin(dec_gp) * math.cos(r - ra_gp)
    return math.degrees(l_ncp - math.atan2(y, x)) % 360.0, math.degrees(b)


def source_list(job: Job, targets: list[Target], observations: list[Observation]) -> dict[str, Any]:
    """Band -> sources with string values only (the reference client parses them itself)."""
    rng = rng_for(job, "sourceDet")
    exposure = sum(o.exposure_s for o in observations)
    sources: list[tuple[float, float, float]] = [
        (t.source.ra, t.source.dec, t.source.count_rate) for t in targets if t.source.detectable
    ]
    centre = targets[0] if targets else None
    if centre is not None:
        for _ in range(3):
            dra, ddec = rng.uniform(-8, 8) / 60, rng.uniform(-8, 8) / 60
            sources.append((centre.ra + dra, centre.dec + ddec, 10 ** rng.uniform(-3, -1.5)))
    bands = ["Total"] + (["Soft", "Medium", "Hard"] if job.pars.get("detbands") == "all" else [])
    out: dict[str, Any] = {}
    for band in bands:
        share = {"Total": 1.0, "Soft": 0.4, "Medium": 0.35, "Hard": 0.25}[band]
        rows = []
        for n, (ra, dec, rate) in enumerate(sources, start=1):
            counts = max(rate * share * exposure, 3.0)
            err = math.hypot(3.5, 20 / math.sqrt(counts))
            gl, gb = galactic(ra, dec)
            pixel = 3600 / 2.36  # XRT pixels per degree
            row = {"sno": str(n), "x": f"{500 + (ra - sources[0][0]) * pixel:.2f}"}
            row["y"] = f"{500 + (dec - sources[0][1]) * pixel:.2f}"
            for axis, value in (("ra", ra), ("dec", dec)):
                row |= {axis: f"{value:.5f}", f"{axis}_pos": f"{err / 3600:.6f}"}
                row[f"{axis}_neg"] = f"{-err / 3600:.6f}"
            row |= {"err90": f"{err:.1f}", "l": f"{gl:.5f}", "b": f"{gb:.5f}"}
            row |= {"C": f"{counts:.1f}", "C_pos": f"{math.sqrt(counts):.1f}"}
            row |= {"C_neg": f"{-math.sqrt(counts):.1f}", "rate": f"{counts / exposure:.6f}"}
            row["detFlag"] = "Good"
            rows.append(row)
        out[band] = rows
    return out
