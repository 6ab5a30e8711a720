"""Synthetic dataset export: one 2D file per generated sample plus a manifest a pipeline can read.

Each sample is one slice in scan units (e.g. HU) on the source's native slice grid, with its
pixel spacing (or on the training grid with the run's training pixel spacing). ``manifest.csv``
lists ``file, condition, seed, checkpoint, step, memorization, format, units, spacing_mm,
rows, columns``; a sample is reproduced by ``Sampler.sample(1, condition, seed)`` of that
checkpoint. Files are written under temporary names and renamed when complete; the manifest is
rewritten atomically after every file, so an interrupted export leaves a consistent folder.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .synthetic import generated_marker
from .types import ImageData, WriteError

FORMATS = {"nifti": ".nii.gz", "nrrd": ".nrrd", "dicom": ".dcm", "png": ".png"}
GRIDS = ("native", "training")
MANIFEST = "manifest.csv"
COLUMNS = (
    "file",
    "condition",
    "seed",
    "checkpoint",
    "step",
    "memorization",
    "format",
    "units",
    "spacing_mm",
    "rows",
    "columns",
)


class ExportCancelled(Exception):
    """The export was cancelled; the files written so far are listed in the manifest."""


@dataclass
class ExportResult:
    """Where the export went."""

    folder: Path
    manifest: Path
    files: list[Path]


def check_target(folder: str | Path, append: bool = False) -> Path:
    """A new or empty folder (or, with ``append``, a previous export's folder).

    Raises
    ------
    WriteError
        For a file in the way, a non-empty folder without ``append``, or a missing parent.
    """
    folder = Path(folder).expanduser()
    if folder.exists():
        if not folder.is_dir():
            raise WriteError(f"{folder}: exists and is not a folder")
        if any(folder.iterdir()) and not append:
            raise WriteError(
                f"{folder}: folder is not empty; choose an empty one or add to it with --append"
            )
        if append and any(folder.iterdir()) and not (folder / MANIFEST).is_file():
            raise WriteError(f"{folder}: not an export folder (no {MANIFEST}); cannot append")
    elif not folder.parent.is_dir():
        raise WriteError(f"{folder}: parent folder {folder.parent} does not exist")
    return folder


def export_dataset(
    sampler,
    folder: str | Path,
    n: int,
    conditions: list[str] | None = None,
    fmt: str = "nifti",
    seed: int = 0,
    append: bool = False,
    memorization: str = "not evaluated",
    grid: str = "native",
    modality: str = "OT",
    progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> ExportResult:
    """Write ``n`` samples per condition, one file each, and the manifest.

    Parameters
    ----------
    sampler : napari_medgan.engine.Sampler
        The loaded generator.
    folder : path
        Target folder: new, empty, or a previous export with ``append``.
    n : int
        Samples per condition; sample ``i`` uses seed ``seed + i``.
    conditions : list of str, optional
        Conditions to export (default: all of the model's).
    fmt : str
        ``nifti``, ``nrrd``, ``dicom`` (synthetic, no patient data) or ``png`` (8-bit over the
        condition's intensity window; PNG carries no spacing, see the manifest).
    memorization : str
        The checkpoint's memorization verdict, copied into every manifest row.
    grid : str
        ``native`` (source slice grid and spacing) or ``training`` (training size and spacing).
    modality : str
        DICOM modality code of the written series.
    """
    if fmt not in FORMATS:
        raise WriteError(f"format must be one of {', '.join(FORMATS)} (got {fmt!r})")
    if grid not in GRIDS:
        raise WriteError(f"grid must be one of {', '.join(GRIDS)} (got {grid!r})")
    if not isinstance(n, int) or n < 1:
        raise WriteError(f"number of samples must be a positive integer (got {n!r})")
    if fmt == "dicom" and memorization.startswith("flag"):
        raise WriteError(
            f"the checkpoint was {memorization}; its samples may copy training scans, so they "
            "are not written as synthetic DICOM (choose nifti, nrrd or png)"
        )
    folder = check_target(folder, append)
    names = [sampler.check_condition(c) for c in (conditions or sampler.class_names)]
    folder.mkdir(exist_ok=True)
    manifest = folder / MANIFEST
    rows = _read_manifest(manifest) if append and manifest.exists() else []
    start = len(rows)
    units = "native" if grid == "native" else "scan"
    files: list[Path] = []
    total = n * len(names)
    checkpoint = str(sampler.path) if sampler.path is not None else ""
    for ci, name in enumerate(names):
        geom = sampler.geometry[name]
        if grid == "native":
            spacing = tuple(float(s) for s in geom.native_spacing)
        else:
            spacing = (float(geom.pixel_spacing),) * 2
        for i in range(n):
            if cancel is not None and cancel.is_set():
                raise ExportCancelled(f"export cancelled after {len(files)} of {total} files")
            image = sampler.sample(1, name, seed=seed + i, units=units)[0]
            index = start + len(files) + 1
            path = folder / f"{index:05d}_{_safe(name)}{FORMATS[fmt]}"
            if path.exists():
                raise WriteError(f"{path}: already exists; refusing to overwrite it")
            flagged = [memorization[len("flagged: ") :]] if memorization.startswith("flag") else []
            marker = generated_marker(image, checkpoint, sampler.step, seed + i, flagged)
            _write(path, image, spacing, fmt, name, modality, sampler.transforms[name], marker)
            files.append(path)
            rows.append(
                {
                    "file": path.name,
                    "condition": name,
                    "seed": seed + i,
                    "checkpoint": checkpoint,
                    "step": sampler.step,
                    "memorization": memorization,
                    "format": fmt,
                    "units": "8-bit window" if fmt == "png" else units,
                    "spacing_mm": " ".join(f"{s:g}" for s in spacing),
                    "rows": image.shape[0],
                    "columns": image.shape[1],
                }
            )
            _write_manifest(manifest, rows)
            if progress is not None:
                progress(ci * n + i + 1, total)
    return ExportResult(folder=folder, manifest=manifest, files=files)


def _write(
    path: Path, image: np.ndarray, spacing, fmt: str, name: str, modality: str, t, marker: dict
) -> None:
    """Write one 2D sample under a temporary name, then rename it into place.

    ``marker`` is the generation marker (:func:`.synthetic.generated_marker`) the synthetic-DICOM
    writer checks; it refuses a checkpoint flagged by the memorization test.
    """
    tmp_dir = Path(tempfile.mkdtemp(prefix=".export-", dir=path.parent))
    try:
        tmp = tmp_dir / path.name
        data = np.asarray(image, dtype=np.float32)
        meta = {"synthetic": True, "condition": name, "source": "napari-medgan", **marker}
        img = ImageData(
            data=data, spacing=spacing, origin=(0.0, 0.0), name=f"synthetic {name}", metadata=meta
        )
        if fmt == "nifti":
            from .nifti import write_nifti

            write_nifti(tmp, img)
        elif fmt == "nrrd":
            from .nrrd_io import write_nrrd

            write_nrrd(tmp, img)
        elif fmt == "dicom":
            from .dicom_write import write_synthetic_dicom

            img.modality = modality
            img.contrast_limits = (float(t.low), float(t.high))
            (written,) = write_synthetic_dicom(tmp_dir / "series", img)
            os.replace(written, tmp)
        else:
            from PIL import Image

            scaled = (np.clip((data - t.low) / (t.high - t.low), 0, 1) * 255).round()
            Image.fromarray(scaled.astype(np.uint8)).save(tmp)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)


def _read_manifest(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if rows and set(rows[0]) != set(COLUMNS):
        raise WriteError(f"{path}: columns differ from an napari-medgan manifest; cannot append")
    return rows


def _write_manifest(path: Path, rows: list[dict]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(buf.getvalue())
    os.replace(tmp, path)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


def memorization_verdict(evaluation: str | Path | None, checkpoint: str | Path | None) -> str:
    """The verdict recorded by ``napari-medgan evaluate --out DIR`` (its ``metrics.json``).

    Returns ``"not evaluated"`` without an evaluation, ``"ok"`` or ``"flagged: reasons"``.

    Raises
    ------
    WriteError
        When the evaluation is missing, unreadable or of another checkpoint.
    """
    import json

    if evaluation is None:
        return "not evaluated"
    path = Path(evaluation).expanduser()
    path = path / "metrics.json" if path.is_dir() else path
    try:
        data = json.loads(path.read_text())
        mem = data["memorization"]
    except (OSError, ValueError, KeyError) as exc:
        raise WriteError(f"{path}: not an evaluation's metrics.json ({exc})") from None
    ck = (data.get("checkpoint") or {}).get("path")
    if ck and checkpoint and Path(ck).resolve() != Path(checkpoint).resolve():
        raise WriteError(f"{path}: evaluates checkpoint {ck}, not {checkpoint}")
    return ("flagged: " + "; ".join(mem.get("reasons", []))) if mem.get("flagged") else "ok"
