"""Held-out splits of ``bench_quality.py``: per condition, one volume, slices in level order."""

from __future__ import annotations

import numpy as np


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
