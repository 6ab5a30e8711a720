"""Random smooth deformations of label maps: new masks the training set never had."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

#: Spacing of the random control points (mm) and the displacements' standard deviation (mm).
CONTROL_MM, SHIFT_MM = 24.0, 3.0


def deformation_grid(
    shape: tuple[int, ...],
    spacing: tuple[float, ...],
    seed: int,
    shift_mm: float = SHIFT_MM,
    control_mm: float = CONTROL_MM,
) -> torch.Tensor:
    """The ``grid_sample`` grid ``(1, *shape, ndim)`` of a random smooth displacement.

    Displacements are drawn at control points ``control_mm`` apart (normal, ``shift_mm``
    standard deviation per axis, in millimetres) and interpolated smoothly (bicubic in 2D,
    trilinear in 3D) to every voxel. Sample a label map with it by nearest neighbour and its
    image bilinearly to move both alike (``align_corners=True``, ``padding_mode="border"``).
    """
    ndim = len(shape)
    if ndim not in (2, 3):
        raise ValueError(f"labels must be 2D or 3D, not {ndim}D")
    gen = torch.Generator().manual_seed(int(seed))
    extent = [n * s for n, s in zip(shape, spacing)]
    points = [max(2, round(e / control_mm) + 1) for e in extent]
    field = torch.randn(1, ndim, *points, generator=gen, dtype=torch.float64) * shift_mm
    mode = "bicubic" if ndim == 2 else "trilinear"
    field = F.interpolate(field, size=tuple(shape), mode=mode, align_corners=True)[0]
    # grid_sample wants normalised (-1..1) coordinates, last axis first
    axes = [torch.linspace(-1, 1, n, dtype=torch.float64) for n in shape]
    grid = torch.stack(torch.meshgrid(*axes, indexing="ij"))
    scale = torch.tensor([2 / max(e, 1e-9) for e in extent], dtype=torch.float64)
    grid = grid + field * scale.view(ndim, *([1] * ndim))
    return grid.flip(0).permute(*range(1, ndim + 1), 0)[None].float()


def deform_labels(
    labels: np.ndarray,
    spacing: tuple[float, ...],
    seed: int,
    shift_mm: float = SHIFT_MM,
    control_mm: float = CONTROL_MM,
) -> np.ndarray:
    """``labels`` (2D or 3D) moved by :func:`deformation_grid`'s displacement; same shape and
    dtype. Labels are resampled by nearest neighbour, so no new value appears."""
    labels = np.asarray(labels)
    if labels.ndim not in (2, 3):
        raise ValueError(f"labels must be 2D or 3D, not {labels.ndim}D")
    grid = deformation_grid(labels.shape, spacing, seed, shift_mm, control_mm)
    moved = F.grid_sample(
        torch.from_numpy(labels.astype(np.float32))[None, None], grid, mode="nearest",
        padding_mode="border", align_corners=True,
    )  # fmt: skip
    return moved[0, 0].numpy().round().astype(labels.dtype)
