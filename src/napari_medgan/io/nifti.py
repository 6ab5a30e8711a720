"""NIfTI (.nii, .nii.gz) reading and writing with nibabel, in the LPS (z, y, x) convention."""

from __future__ import annotations

import zlib
from pathlib import Path

import nibabel as nib
import numpy as np
from nibabel.filebasedimages import ImageFileError

from .types import (
    ImageData,
    ReadError,
    WriteError,
    canonicalise,
    check_ndim,
    finite_limits,
    nan_facts,
    refuse_existing,
    with_time_axis,
    zyx_to_lps_xyz,
)

NIFTI_SUFFIXES = (".nii", ".nii.gz")
_RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


def is_nifti(path: str | Path) -> bool:
    """Return True if the path name ends in .nii or .nii.gz."""
    return str(path).lower().endswith(NIFTI_SUFFIXES)


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".nii.gz", ".nii"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def read_nifti(path: str | Path) -> list[ImageData]:
    """Read a 3D or 4D NIfTI file into one ImageData (time axis first for 4D).

    Raises
    ------
    ReadError
        If the file is missing, truncated or corrupt, or has more than 4 axes.
    """
    path = Path(path)
    try:
        img = nib.load(path)
        data = np.asanyarray(img.dataobj)
    except FileNotFoundError as exc:
        raise ReadError(f"{path}: no such file") from exc
    except (ImageFileError, EOFError, OSError, zlib.error, ValueError) as exc:
        raise ReadError(f"{path}: not a readable NIfTI file ({type(exc).__name__}: {exc})") from exc
    return [nifti_image_to_imagedata(img, data, _stem(path), source=str(path))]


def nifti_image_to_imagedata(
    img: nib.Nifti1Image, data: np.ndarray, name: str, source: str = ""
) -> ImageData:
    """Convert a loaded nibabel image and its array into an ImageData in LPS (z, y, x) order."""
    where = source or name
    # Singleton axes after the third (x, y, z, 1, 3 vector images...) carry no voxels.
    while data.ndim > 4 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    check_ndim(data, where)
    if data.ndim == 2:
        data = data[..., None]
    ras = np.asarray(img.affine, dtype=float)
    arr, spacing, origin, affine = canonicalise(data, _RAS_TO_LPS @ ras)
    arr = np.ascontiguousarray(arr)
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    spacing, origin = with_time_axis(spacing, origin, arr.ndim)
    header = img.header
    facts = {
        "source": source,
        "format": "NIfTI",
        "original_affine": ras.tolist(),
        "qform_code": int(header["qform_code"]) if "qform_code" in header else None,
        "sform_code": int(header["sform_code"]) if "sform_code" in header else None,
        "descrip": _text(header.get("descrip")),
        "dtype": str(arr.dtype),
        **nan_facts(arr),
    }
    if _intent(header) == "label":
        facts["labels_hint"] = True
    if arr.ndim == 4:
        zooms = header.get_zooms()
        facts["time_step"] = float(zooms[3]) if len(zooms) > 3 else 1.0
    return ImageData(
        data=arr,
        spacing=spacing,
        origin=origin,
        name=name,
        modality="OT",
        affine=affine,
        contrast_limits=finite_limits(arr),
        metadata=facts,
    )


def _intent(header) -> str:
    try:
        return str(header.get_intent()[0])
    except (AttributeError, KeyError, ValueError):
        return ""


def _text(value: object) -> str:
    if value is None:
        return ""
    value = np.asarray(value).item()
    if isinstance(value, bytes):
        return value.decode("latin-1").strip("\x00 ")
    return str(value)


def imagedata_to_nifti(image: ImageData) -> nib.Nifti1Image:
    """Build a Nifti1Image (RAS affine, x fastest) from an ImageData."""
    data = np.asarray(image.data)
    if data.ndim == 2:
        data = data[None]
    if data.ndim not in (3, 4):
        raise WriteError(f"{image.name}: cannot write a {data.ndim}D image as NIfTI (3D or 4D)")
    if data.dtype == np.bool_:
        data = data.astype(np.uint8)
    if data.dtype == np.float16:
        data = data.astype(np.float32)
    if data.dtype in (np.int64, np.uint64):  # napari labels are often 64-bit; NIfTI tools are not
        if data.size == 0 or (
            data.min() >= np.iinfo(np.int32).min and data.max() <= np.iinfo(np.int32).max
        ):
            data = data.astype(np.int32)
    lps_xyz = zyx_to_lps_xyz(image.index_to_world())
    ras = _RAS_TO_LPS @ lps_xyz
    spatial_xyz = np.moveaxis(data, (-1, -2, -3), (0, 1, 2))  # (t, z, y, x) -> (x, y, z, t)
    img = nib.Nifti1Image(spatial_xyz, ras)
    img.header.set_qform(ras, code=1)
    img.header.set_sform(ras, code=1)
    img.header.set_xyzt_units("mm", "sec")
    if image.metadata.get("layer_type") == "labels":
        img.header.set_intent("label")  # NIFTI_INTENT_LABEL: the reader opens it as Labels
    if data.ndim == 4:
        zooms = list(img.header.get_zooms())
        zooms[3] = float(image.metadata.get("time_step", 1.0))
        img.header.set_zooms(zooms)
    return img


def write_nifti(path: str | Path, image: ImageData) -> Path:
    """Write ``image`` to ``path`` (.nii or .nii.gz); refuse to overwrite an existing file."""
    path = refuse_existing(path)
    if not is_nifti(path):
        raise WriteError(f"{path}: a NIfTI file name must end in .nii or .nii.gz")
    nib.save(imagedata_to_nifti(image), path)
    return path
