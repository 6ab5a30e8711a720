"""Generated images drawn the way the engine's evaluation draws them, through public API only.

``bench_coverage.py``, ``bench_extractors.py`` and ``bench_selection.py`` score the same images
that ``napari-medgan evaluate`` would: per condition, :meth:`Sampler.sample` in model units with
the seed ``seed + 1000 × condition`` (as ``engine.metrics.sampled.evaluate_sampler`` does).
"""

from __future__ import annotations

import numpy as np


def draw_generated(sampler, present: list[int], per: np.ndarray, seed: int) -> np.ndarray:
    """``per[i]`` samples of condition ``present[i]``, concatenated in that order."""
    names = [sampler.class_names[c] if sampler.conditional else None for c in present]
    return np.concatenate(
        [
            sampler.sample(int(k), name, seed=seed + 1000 * c, units="model")
            for c, name, k in zip(present, names, per)
        ]
    )
