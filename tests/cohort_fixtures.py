"""Small on-disk cohorts for the cohort tests: NIfTI files in condition folders, DICOM studies."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom

from io_fixtures import make_series


def write_nifti(path: Path, seed: int, shape=(24, 20, 12), value: float = 100.0) -> Path:
    """A small int16 NIfTI (x, y, z) with a bright blob and noise; different per seed."""
    rng = np.random.default_rng(seed)
    data = rng.normal(0, 5, shape)
    x, y, z = np.ogrid[: shape[0], : shape[1], : shape[2]]
    c = np.array(shape) / 2 + rng.integers(-2, 3, 3)
    blob = ((x - c[0]) ** 2 + (y - c[1]) ** 2 + (z - c[2]) ** 2) < (min(shape) / 2.5) ** 2
    data = (data + value * blob).astype(np.int16)
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(data, np.diag([1.5, 1.5, 3.0, 1.0])), path)
    return path


def folder_cohort(root: Path, per_condition: int = 2, conditions=("healthy", "tumour")) -> Path:
    """ROOT/<condition>/scanK.nii.gz with ``per_condition`` scans each."""
    for ci, cond in enumerate(conditions):
        for k in range(per_condition):
            write_nifti(root / cond / f"scan{k}.nii.gz", seed=10 * ci + k, value=100 + 50 * ci)
    return root


def dicom_study(folder: Path, patient: str = "P1") -> Path:
    """A study folder with two series: a 6-slice 'big' CT and a 3-slice 'small' CT."""
    make_series(folder / "s1", n=6, description="big axial")
    make_series(folder / "s2", n=3, description="small scout")
    for f in sorted(folder.rglob("*.dcm")):
        ds = pydicom.dcmread(f)
        ds.PatientID = patient
        ds.save_as(f)
    return folder
