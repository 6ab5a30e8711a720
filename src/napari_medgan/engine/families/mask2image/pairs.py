"""Label maps and their scans → a paired training set (label index and image as two channels).

Channel 0 holds each pixel's label *index* (position of its value in the run's sorted label
values, as a float), channel 1 the image in [-1, 1]. Label maps are resized by the majority of
their one-hot channels (area-weighted, never blending two labels into a third), so a thin
structure keeps its label and no in-between value appears.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ...data import (
    DataError,
    IntensityTransform,
    SliceDataset,
    SliceGeometry,
    Volume,
    normalise_and_select,
    resize_pad,
    volume_slices,
)
from ..paired import PairedSlices
from ..translate.pairs import describe_grid, grids_match

LABELS, IMAGE = "labels", "image"
#: Most distinct label values a run takes (one channel each in both networks).
MAX_LABELS = 32
#: Slices resized at a time (bounds the one-hot copy of a large label volume).
CHUNK = 16


def label_values_text(values: list[int]) -> str:
    """``0,1,2,3``: how a run's label values are stored in its roles."""
    return ",".join(str(int(v)) for v in values)


def parse_label_values(text: str) -> list[int]:
    return [int(v) for v in str(text).split(",") if v.strip()]


def check_labels(labels: Volume, known: list[int] | None = None) -> np.ndarray:
    """The sorted distinct values of a label map; :class:`DataError` when it is not one.

    Refused: fractional values (a probability map or an image, not labels), negative values,
    more than :data:`MAX_LABELS` values, and values outside ``known`` (a run's labels).
    """
    data = np.asarray(labels.data)
    if data.dtype.kind == "f":
        finite = np.isfinite(data)
        if not finite.all() or not np.array_equal(data, np.round(data)):
            raise DataError(
                f"{labels.name}: has fractional values, so it is not a label map (an image or "
                "a probability map?); give integer labels (e.g. a napari Labels layer)"
            )
    values = np.unique(data).astype(np.int64)
    if values.size and values[0] < 0:
        raise DataError(f"{labels.name}: negative value {values[0]} is not a label")
    if values.size > MAX_LABELS:
        raise DataError(
            f"{labels.name}: {values.size} distinct label values; at most {MAX_LABELS} are "
            "supported (is this an image rather than a label map?)"
        )
    if known is not None:
        unknown = sorted(set(values.tolist()) - set(known))
        if unknown:
            raise DataError(
                f"{labels.name}: label value{'s' if len(unknown) > 1 else ''} "
                f"{', '.join(map(str, unknown))} never seen in training (the run knows "
                f"{', '.join(map(str, known))}); relabel the map or train on such labels"
            )
    return values


def check_label_pair(labels: Volume, image: Volume) -> None:
    """Raise :class:`DataError` naming both grids unless a label map and its scan share one."""
    if not grids_match(labels, image):
        raise DataError(
            "labels and image are not on the same grid (" + describe_grid(labels) + "; "
            + describe_grid(image) + "); the label map must be drawn on the scan's grid"
        )  # fmt: skip


def to_index(labels: np.ndarray, values: list[int]) -> np.ndarray:
    """Label values → their index in ``values`` (int64); every value must be in ``values``."""
    return np.searchsorted(np.asarray(values), np.asarray(labels).astype(np.int64))


def resize_labels(index: np.ndarray, n_labels: int, geom: SliceGeometry, size: int) -> torch.Tensor:
    """Label-index slices ``(n, h, w)`` → ``(n, 1, size, size)`` on the images' padded grid.

    Each label's one-hot channel is resized with antialiasing and every pixel takes the label
    of the largest share; the padding is label index 0.
    """
    nh, nw = geom.resized_shape
    top, left = (size - nh) // 2, (size - nw) // 2
    out = torch.zeros((len(index), 1, size, size))
    for start in range(0, len(index), CHUNK):
        part = torch.from_numpy(np.ascontiguousarray(index[start : start + CHUNK]))
        one_hot = F.one_hot(part.long(), n_labels).permute(0, 3, 1, 2).float()
        shares = F.interpolate(one_hot, (nh, nw), mode="bilinear", antialias=True)
        chosen = shares.argmax(1, keepdim=True).float()
        out[start : start + len(part), :, top : top + nh, left : left + nw] = chosen
    return out


def labels_to_native(index: np.ndarray, n_labels: int, geom: SliceGeometry) -> np.ndarray:
    """Training-size label indices ``(n, size, size)`` back on the native slice grid."""
    size = index.shape[-1]
    nh, nw = geom.resized_shape
    top, left = (size - nh) // 2, (size - nw) // 2
    crop = torch.from_numpy(np.ascontiguousarray(index[:, top : top + nh, left : left + nw]))
    one_hot = F.one_hot(crop.long(), n_labels).permute(0, 3, 1, 2).float()
    return F.interpolate(one_hot, geom.native_shape, mode="bilinear").argmax(1).numpy()


def build_mask_pairs(
    pairs: list[tuple[Volume, Volume]],
    size: int,
    slice_axis: int = 0,
    min_foreground: float = 0.05,
    transforms: dict[str, IntensityTransform] | None = None,
    ct_window: tuple[float, float] | None = None,
    label_values: list[int] | None = None,
) -> SliceDataset:
    """Slice, normalise and resize ``(labels, image)`` pairs into a ``mask2image`` training set.

    Slices are kept where the label map has a non-background label (value other than the
    smallest) or, without one, where the image has foreground. ``label_values`` fixes the
    run's labels (a resumed run keeps its own); by default the union of all maps' values.

    Raises
    ------
    DataError
        On no pairs, a pair on two grids, non-integer labels, unknown label values or no
        usable slice.
    """
    if not pairs:
        raise DataError("no label map / image pairs given")
    found: set[int] = set()
    for labels, image in pairs:
        check_label_pair(labels, image)
        found.update(check_labels(labels, label_values).tolist())
    values = sorted(found) if label_values is None else list(label_values)
    if len(values) < 2:
        raise DataError(
            f"{pairs[0][0].name}: the label maps hold a single value ({values[0]}); a mask "
            "needs at least two labels (e.g. background and tissue)"
        )
    if transforms is None:
        transforms = {IMAGE: IntensityTransform.fit([img for _, img in pairs], ct_window)}
    if IMAGE not in transforms:
        raise DataError("no intensity transform for the images")
    first_labels, first_image = pairs[0]
    name = str(first_image.condition or first_image.name)
    slices = PairedSlices(slice_axis)
    for labels, image in pairs:
        img, _, in_plane, step = volume_slices(image, slice_axis)
        lab = to_index(volume_slices(labels, slice_axis)[0], values)
        norm, keep = normalise_and_select(img, None, transforms[IMAGE], min_foreground)
        keep |= (lab > 0).reshape(len(lab), -1).any(axis=1)
        if not keep.any():
            continue
        img_r, geom = resize_pad(norm[keep], in_plane, size, step)
        lab_r = resize_labels(lab[keep], len(values), geom, size)
        slices.add(image, torch.cat([lab_r, img_r], dim=1), keep, geom)
    if slices.geometry is None:
        raise DataError("every slice is empty: no label and no image foreground")
    return slices.dataset(
        name,
        transforms,
        roles={
            LABELS: {"name": str(first_labels.condition or first_labels.name),
                     "values": label_values_text(values)},
            IMAGE: {"name": name, "modality": first_image.modality.upper()},
        },
    )  # fmt: skip
