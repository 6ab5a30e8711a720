"""Writing synthetic images as a DICOM series that carries no patient information.

Every dataset is built from scratch: fresh UIDs, empty patient/study identifiers, no dates, no
institution or physician, ImageType DERIVED\\SECONDARY and a series description that says
"synthetic". Only the pixel values, the geometry and the modality code come from the image.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    CTImageStorage,
    ExplicitVRLittleEndian,
    MRImageStorage,
    SecondaryCaptureImageStorage,
    generate_uid,
)
from pydicom.valuerep import format_number_as_ds

from .types import ImageData, WriteError, zyx_to_lps_xyz

_SOP_CLASSES = {"CT": CTImageStorage, "MR": MRImageStorage}
_INT16 = np.iinfo(np.int16)
# Empty (type 2) attributes: present as the IODs ask, but never filled from any source.
_EMPTY_IDENTIFIERS = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
    "StudyID",
    "AccessionNumber",
)


def _ds(value: float) -> float:
    """Round ``value`` to what a DICOM decimal string (16 characters) can hold."""
    return float(format_number_as_ds(float(value)))


def quantise(data: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Map values to int16 with a slope/intercept such that ``stored * slope + intercept ~ data``.

    Integer-valued data spanning at most 65536 values are stored exactly (slope 1). Otherwise the
    error is at most ``(max - min) / 131060`` (below 1e-5 of the value range).
    """
    values = np.asarray(data, dtype=np.float64)
    lo, hi = float(values.min()), float(values.max())
    if np.array_equal(values, np.round(values)) and hi - lo <= 65535:
        intercept = 0.0 if lo >= _INT16.min and hi <= _INT16.max else lo - _INT16.min
        return (values - intercept).astype(np.int16), 1.0, intercept
    slope = _ds((hi - lo) / 65530.0) if hi > lo else 1.0
    intercept = _ds((hi + lo) / 2.0)
    stored = np.clip(np.round((values - intercept) / slope), _INT16.min, _INT16.max)
    return stored.astype(np.int16), slope, intercept


def _unit(vec: np.ndarray) -> np.ndarray:
    return vec / np.linalg.norm(vec)


def _check_writable(folder: Path, image: ImageData) -> np.ndarray:
    if folder.exists():
        raise WriteError(f"{folder}: already exists; refusing to overwrite it")
    if not folder.parent.exists():
        raise WriteError(f"{folder}: folder {folder.parent} does not exist")
    data = np.asarray(image.data)
    if data.ndim == 2:
        data = data[None]
    if data.ndim != 3:
        raise WriteError(
            f"{image.name}: synthetic DICOM takes a 2D or 3D image, not shape {data.shape}; "
            "write one time point at a time"
        )
    if not (np.issubdtype(data.dtype, np.number) or data.dtype == np.bool_) or np.iscomplexobj(
        data
    ):
        raise WriteError(f"{image.name}: cannot store {data.dtype} values in DICOM")
    if not np.isfinite(data).all():
        raise WriteError(f"{image.name}: contains NaN or infinite values, which DICOM cannot store")
    return data


def write_synthetic_dicom(
    folder: str | Path, image: ImageData, description: str = "synthetic"
) -> list[Path]:
    """Write ``image`` as a new DICOM series, one file per slice, into a new folder.

    Parameters
    ----------
    folder : str or Path
        Folder to create; an existing one is refused with WriteError.
    image : ImageData
        2D or 3D image in the LPS (z, y, x) convention; values are stored as int16 with a
        rescale slope/intercept so that reading returns the same numbers.
    description : str
        Series description; "synthetic" is prefixed when missing.

    Returns
    -------
    list of Path
        The written files, in slice order.
    """
    folder = Path(folder)
    data = _check_writable(folder, image)
    stored, slope, intercept = quantise(data)
    lps = zyx_to_lps_xyz(image.index_to_world())  # (x, y, z) index -> LPS (x, y, z) mm
    row_vec, col_vec, slice_vec = lps[:3, 0], lps[:3, 1], lps[:3, 2]
    row_dir, col_dir = _unit(row_vec), _unit(col_vec)
    normal = np.cross(row_dir, col_dir)
    modality = str(image.modality or "OT").upper()
    if "synthetic" not in description.lower():
        description = f"synthetic {description}".strip()
    series = _series_template(modality, description[:64], slope, intercept, image)
    series.ImageOrientationPatient = [format_number_as_ds(float(v)) for v in (*row_dir, *col_dir)]
    series.PixelSpacing = [
        format_number_as_ds(float(np.linalg.norm(col_vec))),
        format_number_as_ds(float(np.linalg.norm(row_vec))),
    ]
    thickness = format_number_as_ds(float(np.linalg.norm(slice_vec)))
    series.SliceThickness = thickness
    series.SpacingBetweenSlices = thickness
    series.Rows, series.Columns = int(data.shape[1]), int(data.shape[2])

    folder.mkdir()
    written = []
    for k in range(data.shape[0]):
        ds = _slice_dataset(series)
        position = lps[:3, 3] + k * slice_vec
        ds.ImagePositionPatient = [format_number_as_ds(float(v)) for v in position]
        ds.SliceLocation = format_number_as_ds(float(np.dot(position, normal)))
        ds.InstanceNumber = k + 1
        ds.PixelData = np.ascontiguousarray(stored[k]).tobytes()
        path = folder / f"slice_{k + 1:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        written.append(path)
    return written


def _series_template(
    modality: str, description: str, slope: float, intercept: float, image: ImageData
) -> Dataset:
    """Attributes shared by every slice of the new series (nothing copied from any source)."""
    ds = Dataset()
    ds.SOPClassUID = _SOP_CLASSES.get(modality, SecondaryCaptureImageStorage)
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.FrameOfReferenceUID = generate_uid()
    for keyword in _EMPTY_IDENTIFIERS:
        setattr(ds, keyword, "")
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = "napari-medgan synthetic image; no source identifiers written"
    ds.Modality = modality
    ds.ImageType = ["DERIVED", "SECONDARY"]
    ds.SeriesDescription = description
    ds.SeriesNumber = 1
    ds.Manufacturer = "napari-medgan"
    ds.BurnedInAnnotation = "NO"
    ds.ConversionType = "SYN"
    ds.PositionReferenceIndicator = ""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.RescaleSlope = format_number_as_ds(slope)
    ds.RescaleIntercept = format_number_as_ds(intercept)
    ds.RescaleType = "HU" if modality == "CT" else "US"
    if image.contrast_limits is not None:
        lo, hi = (float(v) for v in image.contrast_limits)
        if hi > lo:
            ds.WindowCenter = format_number_as_ds((lo + hi) / 2.0)
            ds.WindowWidth = format_number_as_ds(hi - lo)
    return ds


def _slice_dataset(series: Dataset) -> Dataset:
    ds = Dataset()
    ds.update(series)
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.preamble = b"\x00" * 128
    return ds
