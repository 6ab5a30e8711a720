"""Peak memory of reading and preparing one CT-sized scan, per file format and per CLI path.

Builds one synthetic CT of 512x512x400 int16 (200 MiB in memory; air at -1000 HU around a
body ellipse with noise and a bone ring) under ``--data`` (default /tmp/medgan_bench_memory;
never in the repository) in each format: ``.nii.gz``, ``.nii``, ``.nii.gz`` stored as uint16 with
``scl_inter = -1024`` (scaled, as some converters write CT), gzip NRRD and a DICOM series
(400 files, rescale intercept -1024). Each measurement runs in a fresh Python process:

- ``read``: ``read_image`` only (the reader's share);
- ``train``: what ``napari-medgan train SCAN`` does (``load_volumes`` + ``build_dataset``);
- ``cohort``: what ``napari-medgan train --cohort DIR`` does (discovery + ``prepare_cached``
  into a fresh cache folder).

The child's baseline is its RSS after importing torch, the engine and the readers and preparing
a small warm-up volume (so torch's lazy set-up is in the baseline); the peak RSS is then reset
(``/proc/self/clear_refs``) and read back as ``VmHWM`` after the run. growth = peak - baseline,
in MiB and in multiples of the scan's int16 size. Preparation is at 64 px along axis 0 with the
defaults a new user gets (no ``--modality``: NIfTI and NRRD are windowed by percentiles, DICOM
CT by the HU window).

Run: ``nice -n 10 .venv/bin/python benchmarks/bench_memory.py --label after`` (``--label before``
on the old code). Results accumulate in ``DATA/results.json``; ``benchmarks/results_memory.md``
is rewritten with every label measured so far.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHAPE = (400, 512, 512)  # (z, y, x)
SPACING = (1.25, 0.7, 0.7)  # mm, (z, y, x)
INT16_MIB = SHAPE[0] * SHAPE[1] * SHAPE[2] * 2 / 2**20
FORMATS = ("nii.gz", "nii", "nii.gz-scaled", "nrrd", "dicom")
PATHS = ("read", "train", "cohort")
HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results_memory.md"


def ct_slice(z: int, rng) -> object:
    """One (y, x) int16 slice in HU: air, a soft-tissue ellipse with noise and a bone ring."""
    import numpy as np

    y, x = np.ogrid[: SHAPE[1], : SHAPE[2]]
    r = ((x - 256) / 200.0) ** 2 + ((y - 256) / (150 + 20 * np.sin(z / 50))) ** 2
    sl = np.where(r < 1, 40, -1000).astype(np.int16)
    sl[(r > 0.8) & (r < 0.9)] = 700
    sl += rng.integers(-20, 21, sl.shape, dtype=np.int16)
    return sl


def build_data(root: Path) -> dict[str, Path]:
    """Write the CT in every format under ``root`` (once); return format -> scan path."""
    import nibabel as nib
    import numpy as np

    paths = {f: root / f / "ct" / _file_name(f) for f in FORMATS}  # f/ct: a cohort
    if all(p.exists() for p in paths.values()):
        return paths
    rng = np.random.default_rng(0)
    vol = np.empty(SHAPE, np.int16)
    for z in range(SHAPE[0]):
        vol[z] = ct_slice(z, rng)
    xyz = np.ascontiguousarray(np.transpose(vol, (2, 1, 0))[::-1, ::-1])  # (z,y,x) LPS -> RAS
    affine = np.diag([SPACING[2], SPACING[1], SPACING[0], 1.0])
    for fmt, path in paths.items():
        if path.exists():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if fmt in ("nii.gz", "nii"):
            nib.save(nib.Nifti1Image(xyz, affine), path)
        elif fmt == "nii.gz-scaled":
            img = nib.Nifti1Image((xyz.astype(np.int32) + 1024).astype(np.uint16), affine)
            img.header.set_slope_inter(1.0, -1024.0)
            nib.save(img, path)
        elif fmt == "nrrd":
            from napari_medgan.io.nrrd_io import write_nrrd
            from napari_medgan.io.types import ImageData

            write_nrrd(path, ImageData(vol, SPACING, (0.0, 0.0, 0.0), "ct", modality="CT"))
        else:
            _write_dicom(path, vol)
        print(f"built {path}", file=sys.stderr, flush=True)
    return paths


def _file_name(fmt: str) -> str:
    return {"nii.gz-scaled": "ct.nii.gz", "dicom": "series"}.get(fmt, f"ct.{fmt}")


def _write_dicom(folder: Path, vol) -> None:
    """A CT series: one uint16 file per slice, rescale slope 1 and intercept -1024."""
    import numpy as np
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    folder.mkdir(parents=True)
    study, series = generate_uid(), generate_uid()
    for z in range(vol.shape[0]):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.PatientID, ds.Modality, ds.SeriesDescription = "BENCH", "CT", "bench ct"
        ds.InstanceNumber = z + 1
        ds.ImagePositionPatient = [0.0, 0.0, float(z * SPACING[0])]
        ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        ds.PixelSpacing = [SPACING[1], SPACING[2]]
        ds.SliceThickness = SPACING[0]
        ds.Rows, ds.Columns = vol.shape[1], vol.shape[2]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
        ds.PixelData = (vol[z].astype(np.int32) + 1024).astype(np.uint16).tobytes()
        ds.save_as(folder / f"im{z:04d}.dcm", enforce_file_format=True)


# ---------------------------------------------------------------------- child measurement
def child(path_kind: str, scan: Path) -> dict:
    """One measurement in this (fresh) process; returns a JSON-able dict."""
    import numpy as np
    import torch

    from napari_medgan.cli.common import load_volumes
    from napari_medgan.engine.data import Volume, build_dataset
    from napari_medgan.engine.slicecache import prepare_cached
    from napari_medgan.io import read_image
    from napari_medgan.io.cohort import discover

    torch.set_num_threads(1)
    warm = np.random.default_rng(0).normal(size=(16, 64, 64)).astype(np.float32)
    build_dataset([Volume(warm, name="warm-up")], 64)
    baseline = reset_peak()
    t0 = time.perf_counter()
    slices = 0
    if path_kind == "read":
        images = read_image(scan)
        dtype = str(images[0].data.dtype)
    elif path_kind == "train":
        volumes = load_volumes([str(scan)], None)
        dtype = str(volumes[0].data.dtype)
        slices = len(build_dataset(volumes, 64, 0, 0.05))
    else:
        cohort = discover(scan.parent.parent)  # FORMAT/ct/SCAN: one condition "ct"
        with tempfile.TemporaryDirectory(prefix="medgan-cache-") as cache:
            prepared = prepare_cached(cohort.scans, 64, 0, 0.05, cache_dir=cache)
        dtype = ""
        slices = len(prepared.dataset)
    return {
        "baseline_mib": baseline,
        "peak_mib": peak_mib(),
        "wall_s": time.perf_counter() - t0,
        "slices": slices,
        "dtype": dtype,
    }


def _status_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


def reset_peak() -> float:
    """Reset this process's peak RSS to its current RSS (Linux ``clear_refs``); return it, MiB.

    ``ru_maxrss`` is no good in a child: Linux carries the parent's RSS at ``fork`` over
    ``exec`` into it. Without ``/proc`` the ``ru_maxrss`` so far is the baseline.
    """
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return _status_mib("VmRSS")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_mib() -> float:
    """Peak RSS since :func:`reset_peak` (``VmHWM``), MiB."""
    try:
        return _status_mib("VmHWM")
    except (OSError, KeyError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(path_kind: str, scan: Path) -> dict:
    cmd = [sys.executable, __file__, "--child", path_kind, str(scan)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{path_kind} {scan} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------- report
def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


NOTES = """\
## Where the memory went, and what changed

- `train SCAN` (`build_dataset`) cast the whole volume to float32 and normalised it whole
  (`nan_to_num`, the window map, `clip`: several float32 copies, 11x int16 in all); it now
  normalises and resizes 8 slices at a time, as the cohort path already did (`prepare_scan`).
  The percentile window's subsample no longer makes a float copy of the volume first.
- NIfTI with `scl_slope`/`scl_inter` came back from nibabel as float64 (4x int16, 8.5x at
  peak). The reader now reads the stored voxels straight into one array (no decompressed byte
  string beside it, no memory map plus copy), applies the scaling block by block, to an integer
  type when exact and in range (HU: int16), else float32, and reorients (RAS -> LPS flips) in
  place.
- NRRD (pynrrd) held the compressed bytes, a growing decompressed buffer and a copy of it; raw
  and gzip data are now read/inflated straight into one array.
- DICOM kept every file's pixel bytes and pydicom's cached arrays, made a list of float32
  slices, stacked it and copied it to reorient (7x). Pixel data is now read when a slice is
  decoded and dropped after; slices go straight into one array laid out in LPS order, whatever
  the orientation. CT stays float32 (2x int16), as before.
- Values are unchanged (bit for bit), except that a scaled NIfTI's dtype is now the exact
  integer type (or float32) instead of float64.
"""


def write_report(rows: list[dict]) -> None:
    labels = list(dict.fromkeys(r["label"] for r in rows))
    by = {(r["label"], r["format"], r["path"]): r for r in rows}
    head = "| format | path | " + " | ".join(
        f"{lab} peak MiB | {lab} growth MiB | {lab} × int16" for lab in labels
    )
    lines = [
        "# Memory per scan (`benchmarks/bench_memory.py`)",
        "",
        f"One synthetic CT of 512×512×400 int16 ({INT16_MIB:.0f} MiB in memory) in each format; "
        "every cell is a fresh Python process. growth = peak RSS (`VmHWM`, reset after the "
        "warm-up) − the same process's RSS after imports and a small warm-up preparation; "
        "× int16 = growth / "
        f"{INT16_MIB:.0f} MiB. Target: ≤ 3 × int16 for `train` and `cohort` in every format. "
        "Paths: `read` = `read_image` only; `train` = `napari-medgan train SCAN` "
        "(`load_volumes` + `build_dataset`); `cohort` = `napari-medgan train --cohort DIR` "
        "(discovery + `prepare_cached`). 64 px, axis 0, default modality (percentile window for "
        "NIfTI/NRRD, HU window for DICOM CT). `nii.gz-scaled` is stored as uint16 with "
        "`scl_inter = -1024`.",
        "",
        "Redo: `nice -n 10 .venv/bin/python benchmarks/bench_memory.py --label after` "
        "(data under /tmp/medgan_bench_memory). The `before` columns ran the code before the "
        "fix the same way: `git archive <commit> src | tar -x -C /tmp/old` and "
        "`PYTHONPATH=/tmp/old/src ... --label before`.",
        "",
        f"CPU: {_cpu()} ({os.cpu_count()} cores, shared with other jobs); Python "
        f"{platform.python_version()}; "
        + "; ".join(
            f"{lab}: {next(r['when'] for r in rows if r['label'] == lab)}" for lab in labels
        ),
        "",
        head + " |",
        "|---|---|" + "---|" * (3 * len(labels)),
    ]
    for fmt in FORMATS:
        for kind in PATHS:
            cells = []
            for lab in labels:
                r = by.get((lab, fmt, kind))
                if r is None:
                    cells += ["—"] * 3
                    continue
                growth = r["peak_mib"] - r["baseline_mib"]
                cells += [f"{r['peak_mib']:.0f}", f"{growth:.0f}", f"{growth / INT16_MIB:.2f}"]
            if any(c != "—" for c in cells):
                lines.append(f"| {fmt} | {kind} | " + " | ".join(cells) + " |")
    base = [
        f"{lab}: {min(r['baseline_mib'] for r in rows if r['label'] == lab):.0f}" for lab in labels
    ]
    lines += ["", "Baseline (imports + warm-up) MiB, lowest per label: " + ", ".join(base) + "."]
    RESULTS.write_text("\n".join([*lines, "", NOTES]) + "\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=Path("/tmp/medgan_bench_memory"))
    p.add_argument("--label", default="after", help="column group in the report (before/after)")
    p.add_argument("--formats", nargs="*", default=list(FORMATS), choices=FORMATS)
    p.add_argument("--paths", nargs="*", default=list(PATHS), choices=PATHS)
    p.add_argument("--child", nargs=2, metavar=("PATH_KIND", "SCAN"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], Path(args.child[1]))))
        return
    scans = build_data(args.data)
    store = args.data / "results.json"
    rows = json.loads(store.read_text()) if store.exists() else []
    when = time.strftime("%Y-%m-%d")
    for fmt in args.formats:
        for kind in args.paths:
            r = run_child(kind, scans[fmt])
            r.update(label=args.label, format=fmt, path=kind, when=when)
            key = (args.label, fmt, kind)
            rows = [x for x in rows if (x["label"], x["format"], x["path"]) != key]
            rows.append(r)
            growth = r["peak_mib"] - r["baseline_mib"]
            print(
                f"{args.label:7s} {fmt:14s} {kind:7s} peak {r['peak_mib']:6.0f} MiB  growth "
                f"{growth:6.0f} MiB = {growth / INT16_MIB:.2f} x int16  {r['wall_s']:.1f} s "
                f"{r['dtype']}",
                flush=True,
            )
            store.write_text(json.dumps(rows, indent=1))
    write_report(rows)


if __name__ == "__main__":
    main()
