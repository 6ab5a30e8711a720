"""NIfTI (.nii, .nii.gz) reading and writing with nibabel, in the LPS (z, y, x) convention."""

from __future__ import annotations

import os
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np
from nibabel.arrayproxy import ArrayProxy
from nibabel.filebasedimages import ImageFileError
from nibabel.openers import ImageOpener

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
from .voxels import blocks, c_contiguous, native, read_into, value_range

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
        data, owned = _voxels(img)
    except FileNotFoundError as exc:
        raise ReadError(f"{path}: no such file") from exc
    except (ImageFileError, EOFError, OSError, zlib.error, ValueError) as exc:
        raise ReadError(f"{path}: not a readable NIfTI file ({type(exc).__name__}: {exc})") from exc
    return [nifti_image_to_imagedata(img, data, _stem(path), source=str(path), owned=owned)]


def _voxels(img: nib.Nifti1Image) -> tuple[np.ndarray, np.ndarray | None]:
    """The voxels in the file's (x, y, z, ...) index order, and the buffer they were read into.

    Reads straight into one array of the stored type (``np.asanyarray(img.dataobj)`` holds the
    decompressed bytes twice, or maps the file and copies it); scaling (``scl_slope``,
    ``scl_inter``) is applied block by block: to an integer type when it is exact and fits,
    else to float32 for 8/16-bit data (float64 for wider), not to a float64 volume. The
    second value is None when the voxels did not come from such a read.
    """
    proxy = img.dataobj
    if not (isinstance(proxy, ArrayProxy) and isinstance(proxy.file_like, (str, os.PathLike))):
        return np.asanyarray(proxy), None
    slope, inter = float(proxy.slope), float(proxy.inter)
    stored = np.dtype(proxy.dtype)
    if (slope, inter) != (1.0, 0.0) and stored.kind not in "iu":
        return np.asanyarray(proxy), None  # scaled float voxels: rare, nibabel's way
    fortran = proxy.order == "F"
    raw = np.empty(proxy.shape[::-1] if fortran else proxy.shape, stored)
    with ImageOpener(proxy.file_like) as fh:
        fh.seek(proxy.offset)
        read_into(fh, raw, str(proxy.file_like))
    raw = _scaled(native(raw), slope, inter)
    return (raw.T if fortran else raw), raw


def _scaled(raw: np.ndarray, slope: float, inter: float) -> np.ndarray:
    """``raw * slope + inter`` block by block, in place when the result type has raw's size."""
    if (slope, inter) == (1.0, 0.0):
        return raw
    target: np.dtype = np.dtype(np.float32 if raw.itemsize <= 2 else np.float64)
    if slope.is_integer() and inter.is_integer() and raw.size:
        lo, hi = sorted(v * slope + inter for v in value_range(raw))
        for t in (np.int16, np.int32):
            if np.iinfo(t).min <= lo and hi <= np.iinfo(t).max:
                target = np.dtype(t)
                break
    out = raw.view(target) if target.itemsize == raw.itemsize else np.empty(raw.shape, target)
    work = np.int64 if target.kind == "i" else np.float64
    pos = 0
    for block in blocks(raw, 1 << 20):  # C-order views of raw, lined up with out's flat view
        end = pos + block.size
        values = block.astype(work)  # a copy, so an in-place ``out`` may overwrite the block
        if target.kind == "i":
            values *= int(slope)
            values += int(inter)
        else:
            values = values * slope + inter
        out.reshape(-1)[pos:end] = values
        pos = end
    return out


def nifti_image_to_imagedata(
    img: nib.Nifti1Image,
    data: np.ndarray,
    name: str,
    source: str = "",
    owned: np.ndarray | None = None,
) -> ImageData:
    """Convert a loaded nibabel image and its array into an ImageData in LPS (z, y, x) order.

    ``owned`` is the buffer behind ``data`` when nothing else refers to it (as from
    :func:`read_nifti`): it is then reoriented in place instead of copied.
    """
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
    arr = c_contiguous(arr, owned)
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
