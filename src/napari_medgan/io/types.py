"""The in-memory image every reader returns and every writer takes, plus shared geometry helpers.

Convention: arrays are in (z, y, x) order of LPS patient coordinates (axis 2 increases toward the
patient's Left, axis 1 toward Posterior, axis 0 toward Superior); world coordinates are LPS
millimetres in (z, y, x) order. A leading time axis (t, z, y, x) has spacing 1 and origin 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from nibabel.orientations import apply_orientation, inv_ornt_aff, io_orientation, ornt_transform

from .voxels import blocks

# Index order after canonicalisation: data axis i increases along world axis i (x, y, z of LPS).
_CANONICAL_ORNT = np.array([[0, 1], [1, 1], [2, 1]], dtype=float)
# Swaps (x, y, z) <-> (z, y, x) in homogeneous 4x4 coordinates; it is its own inverse.
_REVERSE = np.array([[0, 0, 1, 0], [0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]], dtype=float)
_TOL = 1e-6


class ReadError(ValueError):
    """A file or folder that a reader claims cannot be read (message names file and problem)."""


class WriteError(ValueError):
    """An image cannot be written (existing target, unsupported shape, ...)."""


@dataclass
class ImageData:
    """An image array with its patient geometry and header facts.

    Attributes
    ----------
    data : np.ndarray
        Voxels in napari axis order: (z, y, x) of LPS, or (t, z, y, x); 2D images are (y, x).
    spacing, origin : tuple of float
        Millimetres per axis and world position (LPS, mm) of voxel index 0, one per axis.
    name : str
        Layer name.
    modality : str
        DICOM modality code ("CT", "MR", ...; "OT" when unknown).
    affine : np.ndarray or None
        4x4 map from (z, y, x) index to (z, y, x) LPS world when the grid is rotated or sheared.
    contrast_limits : tuple of float or None
        Display window (e.g. from DICOM WindowCenter/Width).
    metadata : dict
        Header facts: modality, series description, source path, ``has_nan``, ...
    """

    data: np.ndarray
    spacing: tuple[float, ...]
    origin: tuple[float, ...]
    name: str
    modality: str = "OT"
    affine: np.ndarray | None = None
    contrast_limits: tuple[float, float] | None = None
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.spacing = tuple(float(s) for s in self.spacing)
        self.origin = tuple(float(o) for o in self.origin)
        if len(self.spacing) != self.data.ndim or len(self.origin) != self.data.ndim:
            raise ValueError(
                f"{self.name}: spacing {self.spacing} and origin {self.origin} need one value "
                f"per axis of the {self.data.ndim}D array"
            )
        if self.affine is not None:
            self.affine = np.asarray(self.affine, dtype=float)

    def index_to_world(self) -> np.ndarray:
        """Return the 4x4 map from (z, y, x) index to (z, y, x) LPS world of the spatial axes."""
        if self.affine is not None:
            return self.affine.copy()
        sp = (1.0,) * (3 - self.data.ndim) + self.spacing[-3:]
        org = (0.0,) * (3 - self.data.ndim) + self.origin[-3:]
        aff = np.diag([*sp, 1.0])
        aff[:3, 3] = org
        return aff

    def to_layer_data(self, layer_type: str = "image") -> tuple[np.ndarray, dict[str, Any], str]:
        """Return a napari LayerDataTuple ``(data, kwargs, layer_type)``.

        ``scale`` and ``translate`` are the spacing and origin; a rotation or shear becomes the
        layer ``affine``, applied about the origin so that ``translate`` stays the origin.
        ``layer_type`` is "image" or "labels" (labels get no contrast limits).
        """
        kwargs: dict[str, Any] = {
            "name": self.name,
            "scale": self.spacing,
            "translate": self.origin,
            "metadata": {**self.metadata, "modality": self.modality},
        }
        if self.contrast_limits is not None and layer_type == "image":
            kwargs["contrast_limits"] = self.contrast_limits
        if self.affine is not None and self.data.ndim >= 3:
            kwargs["affine"] = _layer_affine(self.affine, self.spacing[-3:], self.data.ndim)
        return self.data, kwargs, layer_type


def _layer_affine(index_to_world: np.ndarray, spacing: tuple[float, ...], ndim: int) -> np.ndarray:
    """Return the napari layer affine M with ``M(spacing*i + origin) == index_to_world(i)``."""
    lin = index_to_world[:3, :3] / np.asarray(spacing)[None, :]
    origin = index_to_world[:3, 3]
    out = np.eye(ndim + 1)
    out[-4:-1, -4:-1] = lin
    out[-4:-1, -1] = origin - lin @ origin
    return out


def check_ndim(data: np.ndarray, source: str | Path) -> None:
    """Raise ReadError for arrays napari-medgan cannot show (more than 4 axes, or 1)."""
    if data.ndim > 4:
        raise ReadError(
            f"{source}: {data.ndim}D image of shape {data.shape} is not supported "
            "(at most 4D: time, z, y, x)"
        )
    if data.ndim < 2:
        raise ReadError(f"{source}: {data.ndim}D data of shape {data.shape} is not an image")


def nan_facts(data: np.ndarray) -> dict[str, Any]:
    """Return ``{"has_nan": bool, "nan_count": int}`` for float arrays (NaNs are kept)."""
    if not np.issubdtype(data.dtype, np.floating):
        return {"has_nan": False}
    count = sum(int(np.count_nonzero(np.isnan(b))) for b in blocks(data))
    return {"has_nan": count > 0, "nan_count": count}


def finite_limits(data: np.ndarray) -> tuple[float, float] | None:
    """Return (min, max) of the finite values when data has NaN/inf, else None (napari decides).

    Scanned block by block, so a float volume costs no whole-size mask or copy.
    """
    if not np.issubdtype(data.dtype, np.floating):
        return None
    if all(np.isfinite(b).all() for b in blocks(data)):
        return None
    lo, hi = np.inf, -np.inf
    for b in blocks(data):
        finite = b[np.isfinite(b)]
        if finite.size:
            lo, hi = min(lo, float(finite.min())), max(hi, float(finite.max()))
    if lo > hi:  # no finite value
        return (0.0, 1.0)
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


def canonicalise(
    data: np.ndarray, index_to_lps_xyz: np.ndarray
) -> tuple[np.ndarray, tuple[float, ...], tuple[float, ...], np.ndarray | None]:
    """Flip/permute the three spatial axes so that they run along LPS, in (z, y, x) order.

    A single slice (a spatial axis of length 1) keeps its plane: its axes are only reversed to
    (slice, row, column) order and any rotation stays in the returned affine.

    Parameters
    ----------
    data : np.ndarray
        Array whose first three axes are spatial, in any order; trailing axes (time) are kept
        and moved to the front.
    index_to_lps_xyz : np.ndarray
        4x4 map from the data's spatial index to LPS world in (x, y, z) order.

    Returns
    -------
    data, spacing, origin, affine
        Data in (z, y, x) (or (t, z, y, x)) order, spacing and origin of the spatial axes, and
        the full 4x4 (z, y, x) index -> world affine if a rotation or shear remains, else None.
    """
    aff_xyz = index_to_lps_xyz
    if min(data.shape[:3]) > 1:
        transform = ornt_transform(io_orientation(index_to_lps_xyz), _CANONICAL_ORNT)
        shape3 = data.shape[:3]
        data = apply_orientation(data, transform)
        aff_xyz = index_to_lps_xyz @ inv_ornt_aff(transform, shape3)
    data = np.moveaxis(data, (0, 1, 2), (-1, -2, -3))  # spatial (x,y,z,t...) -> (t..., z,y,x)
    aff = _REVERSE @ aff_xyz @ _REVERSE
    return (data, *split_affine(aff))


def split_affine(aff: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...], np.ndarray | None]:
    """Return spacing, origin and (affine or None when diagonal) of a (z, y, x) 4x4 affine."""
    lin = aff[:3, :3]
    spacing = tuple(float(v) for v in np.linalg.norm(lin, axis=0))
    origin = tuple(float(v) for v in aff[:3, 3])
    diagonal = np.allclose(lin, np.diag(np.diag(lin)), atol=_TOL) and (np.diag(lin) > 0).all()
    return spacing, origin, (None if diagonal else aff.copy())


def zyx_to_lps_xyz(aff_zyx: np.ndarray) -> np.ndarray:
    """Convert a (z, y, x) index -> (z, y, x) world affine to an (x, y, z) -> (x, y, z) one."""
    return _REVERSE @ aff_zyx @ _REVERSE


def with_time_axis(
    spacing: tuple[float, ...], origin: tuple[float, ...], ndim: int
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Prefix spacing 1 / origin 0 for leading non-spatial axes of an ``ndim`` array."""
    extra = ndim - len(spacing)
    return (1.0,) * extra + tuple(spacing), (0.0,) * extra + tuple(origin)


def refuse_existing(path: str | Path) -> Path:
    """Return ``path`` as a Path, raising WriteError if something already exists there."""
    path = Path(path)
    if path.exists():
        raise WriteError(f"{path}: already exists; refusing to overwrite it")
    if not path.parent.exists():
        raise WriteError(f"{path}: folder {path.parent} does not exist")
    return path


def image_from_layer(data: Any, attributes: dict[str, Any]) -> ImageData:
    """Rebuild an ImageData from napari layer data and its attributes (scale, translate, affine)."""
    arr = np.asarray(data)
    ndim = arr.ndim
    scale = attributes.get("scale")
    translate = attributes.get("translate")
    scale = tuple(float(v) for v in (scale if scale is not None else (1.0,) * ndim))
    translate = tuple(float(v) for v in (translate if translate is not None else (0.0,) * ndim))
    metadata = dict(attributes.get("metadata") or {})
    layer_aff = attributes.get("affine")
    affine = None
    if layer_aff is not None and ndim >= 3:
        layer_aff = np.asarray(getattr(layer_aff, "affine_matrix", layer_aff), dtype=float)
        sub = np.eye(4)
        sub[:3, :3] = layer_aff[-4:-1, -4:-1]
        sub[:3, 3] = layer_aff[-4:-1, -1]
        if not np.allclose(sub, np.eye(4), atol=_TOL):
            base = np.diag([*scale[-3:], 1.0])
            base[:3, 3] = translate[-3:]
            affine = sub @ base
    return ImageData(
        data=arr,
        spacing=scale,
        origin=translate,
        name=str(attributes.get("name") or "image"),
        modality=str(metadata.get("modality", "OT")),
        affine=affine,
        metadata=metadata,
    )
