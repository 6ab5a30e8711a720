"""Readers and writers for NIfTI, DICOM and NRRD (kept apart from the engine).

Arrays are in (z, y, x) order of LPS patient coordinates and world coordinates are LPS millimetres
in (z, y, x) order, so layers from different formats line up in napari.
"""

from .dicom import read_dicom
from .dicom_write import write_synthetic_dicom
from .nifti import read_nifti, write_nifti
from .nrrd_io import read_nrrd, write_nrrd
from .readers import read_image
from .templates import load_mni152
from .types import ImageData, ReadError, WriteError

__all__ = [
    "ImageData",
    "ReadError",
    "WriteError",
    "load_mni152",
    "read_dicom",
    "read_image",
    "read_nifti",
    "read_nrrd",
    "write_nifti",
    "write_nrrd",
    "write_synthetic_dicom",
]
