"""Product files and downloadable archives laid out like the real service's.

Every archive has a top-level ``USERPROD_<id>/`` directory with one subdirectory per product:
lc ``curve.qdp``, ``PCCURVE.qdp``...; spec one ``<rname>.tar.gz`` per slice plus ``scripts/``;
psf ``results.dat`` (or ``NOPOS``/``INSXPS``); enh ``success.txt``; xastrom ``corrpos.dat`` and
``xastrom_corr.dat`` (or ``NOCORR``); image ``images.log`` and gzipped images; sourceDet the
source lists.
"""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile
from collections.abc import Mapping
from typing import Any

Files = dict[str, bytes]  # path under USERPROD_<id>/ -> content


def qdp(dataset: Mapping[str, Any], title: str) -> bytes:
    lines = [f"! {title}", "READ TERR 1", "! " + " ".join(dataset["columns"])]
    lines += [
        " ".join(f"{v:.6g}" if isinstance(v, float) else str(v) for v in row)
        for row in dataset["data"]
    ]
    return ("\n".join(lines) + "\n").encode()


def light_curve_files(lc: Mapping[str, Any]) -> Files:
    files: Files = {}
    for name in lc["Datasets"]:
        files[f"lc/{name}.qdp"] = qdp(lc[f"{name}Data"], name)
        if name in ("PC", "WT"):
            files[f"lc/{name}CURVE.qdp"] = files[f"lc/{name}.qdp"]
        if name in ("PCUL", "WTUL"):
            files[f"lc/{name}.qdp"] = qdp(lc[f"{name}Data"], f"{name} upper limits")
    files["lc/curve.qdp"] = b"".join(v for k, v in files.items() if k.endswith("CURVE.qdp"))
    return files


def _tar_gz(members: Files) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def spectrum_files(spec: Mapping[str, Any]) -> Files:
    files: Files = {}
    for rname in spec["rnames"]:
        entry = spec[rname]
        members = {f"{rname}{m.lower()}source.pi": _fake_pha(m) for m in entry["Modes"]}
        members |= {f"{rname}{m.lower()}back.pi": _fake_pha(m) for m in entry["Modes"]}
        files[f"spec/{rname}.tar.gz"] = _tar_gz(members)
        for mode in entry["Modes"]:
            block = entry[mode]
            for model in block.get("Models", []):
                files[f"spec/{rname}{mode.lower()}_{model.lower()}.gif"] = GIF
    files["spec/scripts/fit.xcm"] = b"data interval0pcsource.pi\nmodel tbabs*pow\nfit\n"
    return files


def _fake_pha(mode: str) -> bytes:
    return f"SIMPLE  = T / emulated {mode} spectrum\nEND\n".encode()


def _psf_files(fix: Mapping[str, Any] | None, *, in_sxps: bool) -> Files:
    if fix is None:
        return {"psf/NOPOS": b"No position could be determined.\n"}
    if in_sxps:
        lines = [fix["RA"], fix["Dec"], fix["Err90"], "LSXPS", "", "", "", ""]
        return {"psf/INSXPS": "\n".join(lines).encode()}
    text = f"RA\tDec\tErr90\n{fix['RA']}\t{fix['Dec']}\t{fix['Err90']}\n"
    return {"psf/results.dat": text.encode()}


def _enh_files(fix: Mapping[str, Any] | None) -> Files:
    if fix is None:
        return {"enh/success.txt": b"0\n"}
    lines = ["1", fix["RA"], fix["Dec"], fix["Err90"], *["-"] * 7]
    return {"enh/success.txt": ("\n".join(lines) + "\n").encode()}


def _xastrom_files(fix: Mapping[str, Any] | None) -> Files:
    if fix is None:
        return {"xastrom/NOCORR": b"No astrometric correction could be determined.\n"}
    return {
        "xastrom/corrpos.dat": f"{fix['RA']} {fix['Dec']} {fix['Err90']}\n".encode(),
        "xastrom/xastrom_corr.dat": b"0.0 0.0 0.0\n",
        "xastrom/orig.gif": GIF,
        "xastrom/corrected.gif": GIF,
    }


def position_files(short: str, fix: Mapping[str, Any] | None, *, in_sxps: bool) -> Files:
    if short == "psf":
        return _psf_files(fix, in_sxps=in_sxps)
    return _enh_files(fix) if short == "enh" else _xastrom_files(fix)


def image_files(energies: str, obsids: list[str]) -> Files:
    files: Files = {}
    log = []
    for n, band in enumerate(energies.split(","), start=1):
        files[f"image/image{n}.img.gz"] = gzip.compress(f"emulated image {band} keV\n".encode())
        files[f"image/image{n}.gif"] = GIF
        log.append(f"image{n} {band} {','.join(obsids)}")
    files["image/images.log"] = ("\n".join(log) + "\n").encode()
    files["image/summed_ex.img.gz"] = gzip.compress(b"emulated exposure map\n")
    files["image/summed_vignet_ex.img.gz"] = gzip.compress(b"emulated vignetted exposure map\n")
    return files


def source_list_files(bands: Mapping[str, list[Mapping[str, str]]]) -> Files:
    files: Files = {}
    for band, rows in bands.items():
        keys = list(rows[0]) if rows else ["sno"]
        text = "\t".join(keys) + "\n" + "".join("\t".join(r[k] for k in keys) + "\n" for r in rows)
        files[f"sourceDet/{band.lower()}_sources.txt"] = text.encode()
    return files


# A 1x1 transparent GIF: the plots exist as files, their pixels do not matter here.
GIF = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)


def pack(top: str, files: Files, fmt: str) -> bytes:
    """Archive ``files`` under ``top/`` as zip, tar or tar.gz."""
    buf = io.BytesIO()
    if fmt == "zip":
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for path, data in sorted(files.items()):
                zf.writestr(f"{top}/{path}", data)
        return buf.getvalue()
    mode = "w:gz" if fmt == "tar.gz" else "w"
    with tarfile.open(fileobj=buf, mode=mode) as tar:  # type: ignore[call-overload]  # mode is a runtime str
        for path, data in sorted(files.items()):
            info = tarfile.TarInfo(f"{top}/{path}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return bytes(buf.getvalue())
