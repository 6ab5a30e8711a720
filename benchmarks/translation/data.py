"""Co-registered MNI152 pairs (T1 → GM / WM) and a run's held-out slices on the native grid."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from napari_medgan.engine import Volume
from napari_medgan.engine.families.translate.pairs import build_pairs


@dataclass
class PairData:
    """The source and target volumes (native grid, target units) and the paired slices."""

    source: np.ndarray
    target: np.ndarray
    spacing: tuple[float, ...]
    dataset: object  # SliceDataset of pairs at training size


def mni_pair(target: str, size: int) -> PairData:
    from napari_medgan.io import load_mni152

    images = {im.name: im for im in load_mni152(resolution=2)}
    src, tgt = images["T1"], images[target]
    pair = (
        Volume(src.data, src.spacing, name="T1", origin=src.origin),
        Volume(tgt.data, tgt.spacing, name=target, origin=tgt.origin),
    )
    return PairData(
        source=np.asarray(src.data, np.float32),
        target=np.asarray(tgt.data, np.float32),
        spacing=tuple(src.spacing),
        dataset=build_pairs([pair], size=size, slice_axis=0),
    )


def native_slices(dataset) -> np.ndarray:
    """Native slice indices (axis 0) of a (sub)set of paired slices."""
    return np.asarray(dataset.slice_index, dtype=np.int64)
