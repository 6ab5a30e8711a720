"""NRRD (.nrrd, .nhdr; 3D Slicer's format) reading and writing with pynrrd, geometry included."""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import nrrd
import numpy as np
from nrrd import reader as _nrrd_reader

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
from .voxels import c_contiguous, native, read_into

NRRD_SUFFIXES = (".nrrd", ".nhdr")
LABELS_KEY = "napari_layer_type"
# Sign that turns each world axis of a NRRD space into LPS.
_SPACE_SIGNS = {
    "left-posterior-superior": (1.0, 1.0, 1.0),
    "lps": (1.0, 1.0, 1.0),
    "right-anterior-superior": (-1.0, -1.0, 1.0),
    "ras": (-1.0, -1.0, 1.0),
    "left-anterior-superior": (1.0, -1.0, 1.0),
    "las": (1.0, -1.0, 1.0),
}


def is_nrrd(path: str | Path) -> bool:
    """Return True if the path name ends in .nrrd or .nhdr."""
    return str(path).lower().endswith(NRRD_SUFFIXES)


def read_nrrd(path: str | Path) -> list[ImageData]:
    """Read a NRRD file into one ImageData in the LPS (z, y, x) convention.

    A non-spatial axis (``space directions`` entry ``none``: time, list, vector) becomes the
    leading axis. Raises ReadError for unreadable files, unknown spaces or more than 4 axes.
    """
    path = Path(path)
    if not path.exists():
        raise ReadError(f"{path}: no such file")
    try:
        data, header, owned = _read(path)
    except Exception as exc:  # pynrrd raises NRRDError, ValueError, zlib/EOF errors...
        raise ReadError(f"{path}: not a readable NRRD file ({type(exc).__name__}: {exc})") from exc
    check_ndim(data, path)
    spatial, directions = _spatial_axes(data, header, path)
    lps = _space_signs(header, path)
    aff = np.eye(4)
    for col, axis in enumerate(spatial):
        aff[:3, col] = np.asarray(directions[axis], dtype=float) * lps
    origin = np.asarray(header.get("space origin", np.zeros(3)), dtype=float)
    aff[:3, 3] = np.nan_to_num(origin[:3]) * lps
    others = [a for a in range(data.ndim) if a not in spatial]
    data = np.transpose(data, [*spatial, *others])
    if len(spatial) == 2:
        data = data[:, :, None]
        aff[:3, 2] = np.cross(aff[:3, 0], aff[:3, 1])
        aff[:3, 2] /= np.linalg.norm(aff[:3, 2]) or 1.0
    arr, spacing, org, affine = canonicalise(data, aff)
    arr = c_contiguous(arr, owned)
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    spacing, org = with_time_axis(spacing, org, arr.ndim)
    facts: dict[str, Any] = {
        "source": str(path),
        "format": "NRRD",
        "space": str(header.get("space", "")),
        "kinds": [str(k) for k in header.get("kinds", [])],
        **nan_facts(arr),
    }
    if str(header.get(LABELS_KEY, "")) == "labels" or path.name.lower().endswith(".seg.nrrd"):
        facts["labels_hint"] = True
    name = path.name[: -len(path.suffix)] if path.suffix else path.name
    return [
        ImageData(
            data=arr,
            spacing=spacing,
            origin=org,
            name=name,
            modality=str(header.get("modality", "OT")),
            affine=affine,
            contrast_limits=finite_limits(arr),
            metadata=facts,
        )
    ]


def _read(path: Path) -> tuple[np.ndarray, dict, np.ndarray | None]:
    """Voxels in the file's (Fortran) index order, the header, and the buffer read into.

    Raw and gzip data in the header's file are read straight into one array (pynrrd holds the
    compressed bytes, a growing decompressed copy and one more copy); anything else (detached
    data, ASCII, bzip2, skips) is read by pynrrd, and the buffer is then None.
    """
    with open(path, "rb") as fh:
        header = nrrd.read_header(fh)
        buf = _read_voxels(fh, header, str(path))
        if buf is None:
            return nrrd.read_data(header, fh, str(path)), header, None
    buf = native(buf)
    return buf.T, header, buf


def _read_voxels(fh: Any, header: dict, where: str) -> np.ndarray | None:
    encoding = str(header.get("encoding", "")).lower()
    plain = not any(k in header for k in ("data file", "datafile", "line skip", "byte skip"))
    if not plain or encoding not in ("raw", "gzip", "gz"):
        return None
    try:
        dtype = _nrrd_reader._determine_datatype(header)
    except (AttributeError, KeyError):  # another pynrrd, or a header pynrrd will explain
        return None
    buf = np.empty(tuple(int(n) for n in header["sizes"][::-1]), dtype)
    if encoding == "raw":
        return read_into(fh, buf, where)
    view = memoryview(buf.reshape(-1).view(np.uint8))
    inflate = zlib.decompressobj(zlib.MAX_WBITS | 16)  # gzip, as pynrrd
    pos = 0
    while pos < view.nbytes:
        src = inflate.unconsumed_tail or fh.read(1 << 20)
        if not src or inflate.eof:
            raise OSError(f"{where}: expected {view.nbytes} bytes of voxels, got {pos}")
        out = inflate.decompress(src, min(view.nbytes - pos, 1 << 22))
        view[pos : pos + len(out)] = out
        pos += len(out)
    return buf


def _spatial_axes(data: np.ndarray, header: dict, path: Path) -> tuple[list[int], list]:
    """Return the indices of spatial axes and one direction vector per data axis."""
    if "space directions" in header:
        dirs = [
            None if d is None else np.asarray(d, dtype=float) for d in header["space directions"]
        ]
        dirs = [None if d is None or not np.isfinite(d).all() else d for d in dirs]
    else:
        spacings = header.get("spacings", [1.0] * data.ndim)
        dirs = []
        for axis, step in enumerate(spacings):
            step = float(step) if np.isfinite(step) else 1.0
            vec = np.zeros(3)
            vec[min(axis, 2)] = step
            dirs.append(vec if axis < 3 else None)
    spatial = [a for a, d in enumerate(dirs) if d is not None]
    if len(spatial) not in (2, 3):
        raise ReadError(f"{path}: {len(spatial)} spatial axes in a NRRD image; expected 2 or 3")
    return spatial, dirs


def _space_signs(header: dict, path: Path) -> np.ndarray:
    space = str(header.get("space", "left-posterior-superior")).lower()
    if space not in _SPACE_SIGNS:
        raise ReadError(f"{path}: NRRD space '{space}' is not supported (use LPS or RAS)")
    return np.asarray(_SPACE_SIGNS[space])


def write_nrrd(path: str | Path, image: ImageData) -> Path:
    """Write ``image`` as a gzip NRRD in LPS space; refuse to overwrite an existing file."""
    path = refuse_existing(path)
    if not path.name.lower().endswith(".nrrd"):
        raise WriteError(f"{path}: a NRRD file name must end in .nrrd")
    data = np.asarray(image.data)
    if data.ndim == 2:
        data = data[None]
    if data.ndim not in (3, 4):
        raise WriteError(f"{image.name}: cannot write a {data.ndim}D image as NRRD (3D or 4D)")
    if data.dtype == np.bool_:
        data = data.astype(np.uint8)
    lps = zyx_to_lps_xyz(image.index_to_world())
    directions = [lps[:3, 0], lps[:3, 1], lps[:3, 2]]
    kinds = ["domain", "domain", "domain"]
    if data.ndim == 4:
        directions.append(np.full(3, np.nan))
        kinds.append("list")
    header = {
        "space": "left-posterior-superior",
        "space directions": np.asarray(directions, dtype=float),
        "space origin": lps[:3, 3].astype(float),
        "kinds": kinds,
        "encoding": "gzip",
    }
    if image.modality and image.modality != "OT":
        header["modality"] = image.modality
    if image.metadata.get("layer_type") == "labels":
        header[LABELS_KEY] = "labels"  # a key/value pair; the reader opens it as Labels
    fortran = np.moveaxis(data, (-1, -2, -3), (0, 1, 2))  # (t, z, y, x) -> (x, y, z, t)
    nrrd.write(str(path), np.asfortranarray(fortran), header, index_order="F")
    return path
