"""Co-registered scan pairs → a paired training set (source and target as two channels)."""

from __future__ import annotations

import numpy as np
import torch

from ...data import (
    DataError,
    IntensityTransform,
    SliceDataset,
    Volume,
    normalise_and_select,
    resize_pad,
    volume_slices,
)
from ..paired import PairedSlices

SOURCE, TARGET = "source", "target"
#: Grids agree when spacing and origin match to this many millimetres.
GRID_TOLERANCE_MM = 1e-3


def describe_grid(v: Volume) -> str:
    """``name: shape 91x109x91, spacing 2x2x2 mm, origin (-90, -126, -72)`` for messages."""
    shape = "x".join(map(str, np.shape(v.data)))
    spacing = "x".join(f"{s:g}" for s in v.spacing)
    origin = ", ".join(f"{o:g}" for o in (v.origin or (0.0,) * len(v.spacing)))
    return f"{v.name}: shape {shape}, spacing {spacing} mm, origin ({origin})"


def grids_match(a: Volume, b: Volume) -> bool:
    """True when two scans have the same shape, spacing and origin (to a micrometre)."""
    return (
        np.shape(a.data) == np.shape(b.data)
        and np.allclose(a.spacing, b.spacing, atol=GRID_TOLERANCE_MM, rtol=0)
        and np.allclose(
            a.origin or (0.0,) * len(a.spacing),
            b.origin or (0.0,) * len(b.spacing),
            atol=GRID_TOLERANCE_MM,
            rtol=0,
        )
    )


def check_pair(source: Volume, target: Volume) -> None:
    """Raise :class:`DataError` naming both grids unless the two scans share one."""
    if not grids_match(source, target):
        raise DataError(
            "source and target are not on the same grid ("
            + describe_grid(source) + "; " + describe_grid(target)
            + "); co-register them, or resample the target onto the source's grid, first"
        )  # fmt: skip


def build_pairs(
    pairs: list[tuple[Volume, Volume]],
    size: int,
    slice_axis: int = 0,
    min_foreground: float = 0.05,
    transforms: dict[str, IntensityTransform] | None = None,
    ct_window: tuple[float, float] | None = None,
) -> SliceDataset:
    """Slice, normalise and resize co-registered ``(source, target)`` scans into pairs.

    Slices are kept where the source has foreground (or its mask is set); both images of a
    pair are resized alike. ``images`` is ``(N, 2, size, size)``: channel 0 the source, channel 1
    the target, each in [-1, 1] through its own intensity transform (``transforms["source"]``
    and ``transforms["target"]``, fitted on all sources / all targets unless given).

    Raises
    ------
    DataError
        On no pairs, a pair on two grids, or no usable slice.
    """
    if not pairs:
        raise DataError("no source/target pairs given")
    for source, target in pairs:
        check_pair(source, target)
    if transforms is None:
        transforms = {
            SOURCE: IntensityTransform.fit([s for s, _ in pairs], ct_window),
            TARGET: IntensityTransform.fit([t for _, t in pairs], ct_window),
        }
    missing = [r for r in (SOURCE, TARGET) if r not in transforms]
    if missing:
        raise DataError(f"no intensity transform for the {' and '.join(missing)} images")
    first_source, first_target = pairs[0]
    name = str(first_target.condition or first_target.name)
    slices = PairedSlices(slice_axis)
    for source, target in pairs:
        src, mask, in_plane, step = volume_slices(source, slice_axis)
        tgt = volume_slices(target, slice_axis)[0]
        src, keep = normalise_and_select(src, mask, transforms[SOURCE], min_foreground)
        if not keep.any():
            continue
        low = transforms[TARGET].low
        tgt = transforms[TARGET].forward(np.nan_to_num(tgt[keep], nan=low))
        src_r, geom = resize_pad(src[keep], in_plane, size, step)
        tgt_r, _ = resize_pad(tgt, in_plane, size, step)
        slices.add(source, torch.cat([src_r, tgt_r], dim=1), keep, geom)
    if slices.geometry is None:
        raise DataError(
            f"every source slice is near-empty (less than {min_foreground:.0%} foreground); "
            "check the images or the mask"
        )
    return slices.dataset(
        name,
        transforms,
        roles={
            SOURCE: {"name": str(first_source.condition or first_source.name),
                     "modality": first_source.modality.upper()},
            TARGET: {"name": name, "modality": first_target.modality.upper()},
        },
    )  # fmt: skip
