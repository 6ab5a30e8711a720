"""Format dispatch: one ``read_image`` for files and folders of any supported format."""

from __future__ import annotations

from pathlib import Path

from .dicom import has_dicom_magic, is_dicom_file, read_dicom
from .nifti import is_nifti, read_nifti
from .nrrd_io import is_nrrd, read_nrrd
from .types import ImageData, ReadError


def read_image(path: str | Path) -> list[ImageData]:
    """Read a NIfTI, NRRD or DICOM file, or a folder of DICOM files (one entry per series).

    Raises
    ------
    ReadError
        If the path does not exist, its format is not recognised, or the file is corrupt.
    """
    path = Path(path)
    if not path.exists():
        raise ReadError(f"{path}: no such file or folder")
    if path.is_dir():
        return read_dicom(path)
    if is_nifti(path):
        return read_nifti(path)
    if is_nrrd(path):
        return read_nrrd(path)
    if is_dicom_file(path) or has_dicom_magic(path):
        return read_dicom(path)
    raise ReadError(
        f"{path}: unrecognised format "
        "(expected .nii, .nii.gz, .nrrd, .nhdr, DICOM or a DICOM folder)"
    )
