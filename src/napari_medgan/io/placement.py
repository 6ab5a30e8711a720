"""One placement rule for generated slices, shared by the CLI and the Generate widget.

A checkpoint stores, per condition, the slice geometry of its source scan (``SliceGeometry``:
native in-plane shape and spacing, slice spacing, slice axis, origin of voxel 0). A stack of ``n``
generated slices ``(n, h, w)`` is placed on the source's grid:

- the stack axis goes back to the source's slice axis; voxel spacing is the native in-plane
  spacing and the slice spacing of the source;
- the frame (axis directions and origin) is the chosen reference's (its layer scale, translate
  and affine) or, without a reference, the source's stored origin with axis-aligned directions
  (LPS, as every reader returns);
- sample ``k`` lies on slice ``first + k`` of that grid: ``first`` is 0 (the CLI), or the slice of
  the grid nearest to a given world point (the Generate widget passes the slice the viewer shows).

The saved affine therefore maps voxel indices to the world coordinates (LPS mm) of the reference
or source scan: sample ``k`` sits where slice ``first + k`` of the source grid would be. It is not
an acquisition position: the samples are independent 2D images, not a volume.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .types import ImageData, split_affine, with_time_axis


@dataclass
class Placement:
    """Where a generated stack sits: its (z, y, x) index -> world map and how it was chosen."""

    index_to_world: np.ndarray
    slice_axis: int
    first_slice: int
    frame: str

    def describe(self) -> dict[str, Any]:
        """JSON-friendly summary kept in layer / file metadata."""
        return {
            "rule": "napari-medgan placement v1",
            "frame": self.frame,
            "slice_axis": int(self.slice_axis),
            "first_slice": int(self.first_slice),
            "index_to_world": np.round(self.index_to_world, 6).tolist(),
        }


def layer_frame(
    ndim: int,
    scale: Sequence[float],
    translate: Sequence[float],
    affine: Any = None,
) -> np.ndarray:
    """The 4x4 (z, y, x) index -> world map of a layer's last three (or two) axes."""
    n = min(ndim, 3)
    lin = np.eye(4)
    lin[4 - n - 1 : 3, 4 - n - 1 : 3] = np.diag(np.asarray(scale, dtype=float)[-n:])
    lin[4 - n - 1 : 3, 3] = np.asarray(translate, dtype=float)[-n:]
    if affine is None:
        return lin
    mat = np.asarray(getattr(affine, "affine_matrix", affine), dtype=float)
    sub = np.eye(4)
    sub[4 - n - 1 : 3, 4 - n - 1 : 3] = mat[-n - 1 : -1, -n - 1 : -1]
    sub[4 - n - 1 : 3, 3] = mat[-n - 1 : -1, -1]
    return sub @ lin


def place_stack(
    geometry: Any,
    stack: np.ndarray,
    frame: np.ndarray | None = None,
    frame_name: str = "",
    at_world: Sequence[float] | None = None,
) -> tuple[np.ndarray, Placement]:
    """Place ``(n, h, w)`` generated slices (or ``(c, n, h, w)``) by the module's rule.

    Parameters
    ----------
    geometry : SliceGeometry
        The checkpoint's geometry of the condition.
    stack : np.ndarray
        Samples in native units; the sample axis is the first (or second, after conditions).
    frame : np.ndarray, optional
        4x4 (z, y, x) index -> world map of the reference (``layer_frame``); None: the source.
    frame_name : str
        Name of the reference, recorded in the placement.
    at_world : sequence of float, optional
        A world point (z, y, x); sample 0 goes on the grid slice nearest to it.

    Returns
    -------
    data, placement
        The stack with the sample axis moved to the slice axis, and its placement.
    """
    axis = 0 if geometry.slice_axis is None else int(geometry.slice_axis)
    spacing = [float(v) for v in geometry.native_spacing]
    spacing.insert(axis, float(geometry.slice_spacing))
    if frame is None:
        origin = [float(v) for v in geometry.origin] if geometry.origin else [0.0] * 3
        origin = ([0.0] * 3 + origin)[-3:]
        directions, start = np.eye(3), np.asarray(origin)
        frame_name = "checkpoint source"
    else:
        norms = np.linalg.norm(frame[:3, :3], axis=0)
        directions, start = frame[:3, :3] / norms[None, :], frame[:3, 3].astype(float)
        frame_name = f"reference {frame_name}".strip()
    first = 0
    if at_world is not None:
        offset = np.asarray(at_world, dtype=float)[-3:] - start
        first = int(np.round(offset @ directions[:, axis] / spacing[axis]))
    index_to_world = np.eye(4)
    index_to_world[:3, :3] = directions @ np.diag(spacing)
    index_to_world[:3, 3] = start + first * spacing[axis] * directions[:, axis]
    return along_slice_axis(geometry, stack), Placement(index_to_world, axis, first, frame_name)


def along_slice_axis(geometry: Any, stack: np.ndarray) -> np.ndarray:
    """``(n, h, w)`` (or ``(c, n, h, w)``) with the sample axis moved to the slice axis: the data
    of a placed stack (a view, no copy)."""
    axis = 0 if geometry.slice_axis is None else int(geometry.slice_axis)
    lead = stack.ndim - 3
    return np.moveaxis(stack, lead, lead + axis)


def placed_image(
    data: np.ndarray,
    placement: Placement,
    name: str,
    modality: str = "OT",
    metadata: dict[str, Any] | None = None,
    contrast_limits: tuple[float, float] | None = None,
) -> ImageData:
    """An ImageData of a placed stack (a leading condition axis gets spacing 1, origin 0)."""
    spacing, origin, affine = split_affine(placement.index_to_world)
    spacing, origin = with_time_axis(spacing, origin, data.ndim)
    meta = {"placement": placement.describe(), **(metadata or {})}
    return ImageData(
        data=data,
        spacing=spacing,
        origin=origin,
        name=name,
        modality=modality,
        affine=affine,
        contrast_limits=contrast_limits,
        metadata=meta,
    )
