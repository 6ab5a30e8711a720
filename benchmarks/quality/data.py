"""The benchmark's data: MNI152 axial slices and its held-out splits (per condition one volume,
slices in level order), and :func:`setup`, which makes both for a run."""

from __future__ import annotations

import numpy as np
import torch

from napari_medgan.engine import Volume, build_dataset


def mni_dataset(size: int):
    from napari_medgan.io import load_mni152

    vols = [
        Volume(im.data, im.spacing, condition=im.name, name=f"MNI152 {im.name}")
        for im in load_mni152()
    ]
    return build_dataset(vols, size=size, slice_axis=0)


def slab_split(labels: np.ndarray, n_cls: int, fraction: float, slabs: int, gap: int):
    """Per condition: indices of training and held-out slices (contiguous slabs + gaps)."""
    train, held = [], []
    for c in range(n_cls):
        idx = np.flatnonzero(labels == c)  # one volume per condition: in slice order
        n = len(idx)
        width = max(1, round(n * fraction / slabs))
        centres = [int(n * (k + 1) / (slabs + 1)) for k in range(slabs)]
        is_held = np.zeros(n, bool)
        dropped = np.zeros(n, bool)
        for m in centres:
            a, b = max(0, m - width // 2), min(n, m - width // 2 + width)
            is_held[a:b] = True
            dropped[max(0, a - gap) : min(n, b + gap)] = True
        train.append(idx[~dropped])
        held.append(idx[is_held])
    return train, held


def interleaved_split(labels: np.ndarray, n_cls: int, fraction: float, gap: int):
    """Per condition: every ``1/fraction``-th slice held out, ``gap`` slices dropped each side.

    Unlike slabs, the held-out slices then span every level of the volume, so a generator
    that leaves out the top or bottom of the brain is not rewarded for it (see
    ``--split`` and docs/quality.md, "level controls").
    """
    every = max(2 * gap + 2, round(1 / fraction))
    train, held = [], []
    for c in range(n_cls):
        idx = np.flatnonzero(labels == c)
        n = len(idx)
        is_held = np.zeros(n, bool)
        is_held[every // 2 :: every] = True
        dropped = is_held.copy()
        for k in range(1, gap + 1):
            dropped[k:] |= is_held[:-k]
            dropped[:-k] |= is_held[k:]
        train.append(idx[~dropped])
        held.append(idx[is_held])
    return train, held


def setup(args):
    """The dataset, its training part and, per condition, training and held-out slices as
    ``--split``, ``--holdout``, ``--slabs`` and ``--gap`` of ``args`` say."""
    torch.set_num_threads(args.threads)
    ds = mni_dataset(args.size)
    labels = ds.labels.numpy()
    n_cls = len(ds.class_names)
    if getattr(args, "split", "slabs") == "interleaved":
        gap = 1 if args.gap is None else args.gap
        tr_idx, he_idx = interleaved_split(labels, n_cls, args.holdout, gap)
    else:
        gap = 4 if args.gap is None else args.gap
        tr_idx, he_idx = slab_split(labels, n_cls, args.holdout, args.slabs, gap)
    imgs = ds.images.numpy()[:, 0]
    train_by_c = [imgs[i] for i in tr_idx]
    held_by_c = [imgs[i] for i in he_idx]
    all_tr = np.concatenate(tr_idx)
    train_ds = ds.subset(all_tr)
    return ds, train_ds, train_by_c, held_by_c
