"""Shared helpers for the IO tests: real test files and small series built from them."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pydicom
from nibabel.testing import data_path as _nib_data
from pydicom.uid import generate_uid

NIB_DATA = Path(_nib_data)


def dicom_file(name: str) -> Path:
    """Return a pydicom / pydicom-data test file (never downloads)."""
    from pydicom.data import get_testdata_file

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = get_testdata_file(name)
    assert path is not None, f"{name} is not installed"
    return Path(path)


def make_series(
    folder: Path,
    n: int = 5,
    step: float = 2.5,
    source: str = "CT_small.dcm",
    description: str = "test series",
    names: list[str] | None = None,
) -> list[Path]:
    """Write ``n`` slices copied from a real file, stepped along the slice normal.

    Slice ``k`` holds the source pixels plus ``k`` so the order can be checked. ``names`` gives
    the file names in slice order (e.g. shuffled).
    """
    folder.mkdir(parents=True, exist_ok=True)
    src = pydicom.dcmread(dicom_file(source))
    iop = np.asarray([float(v) for v in src.ImageOrientationPatient])
    normal = np.cross(iop[:3], iop[3:])
    ipp0 = np.asarray([float(v) for v in src.ImagePositionPatient])
    series_uid = generate_uid()
    names = names or [f"im{k:03d}.dcm" for k in range(n)]
    paths = []
    for k in range(n):
        ds = pydicom.dcmread(dicom_file(source))
        ds.SeriesInstanceUID = series_uid
        ds.SeriesDescription = description
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [f"{v:.4f}" for v in ipp0 + k * step * normal]
        pixels = ds.pixel_array.astype(ds.pixel_array.dtype) + k
        ds.PixelData = pixels.tobytes()
        path = folder / names[k]
        ds.save_as(path)
        paths.append(path)
    return paths


def as_generated(image, checkpoint: str = "tests/checkpoint", step: int = 0, seed: int = 0):
    """Mark ``image`` as if this plugin's generator made it (what generated layers carry).

    Only for tests of the DICOM writer's value round trip: a real scan marked this way stands in
    for a generated image of the same shape and values.
    """
    from napari_medgan.io.synthetic import generated_marker

    image.metadata.update(generated_marker(image.data, checkpoint, step, seed))
    return image
