"""SWD per pyramid level of the samples a quality run saved, against the held-out slices.

``python benchmarks/bench_quality.py perlevel TAG [TAG ...]`` (interleaved split runs) scores the
8 samples per condition that each run saved at its last budget (the ones on the report's sample
sheet) and, as the reference, 8 random training slices per condition; prints SWD×10³ at 64, 32
and 16 px and their mean. Eight images per condition are fewer than the benchmark's 13–14, so
the values are noisier than the report's; what they show is which level a difference comes from.
"""

from __future__ import annotations

import json
import types

import numpy as np

from napari_medgan.engine.metrics.swd import swd

from . import RUNS
from .data import setup
from .report import point_samples


def saved_samples(tag: str) -> list[np.ndarray]:
    run = json.loads((RUNS / f"{tag}.json").read_text())["runs"][0]
    return list(point_samples(run)[1].values())


def per_level(tags: list[str]) -> None:
    """Print each run's SWD per pyramid level (and 8 real training slices', the reference)."""
    args = types.SimpleNamespace(
        threads=1, size=64, split="interleaved", gap=None, holdout=0.2, slabs=3
    )
    _, _, train_by_c, held_by_c = setup(args)
    rng = np.random.default_rng(0)
    sets = {tag: saved_samples(tag) for tag in tags}
    sets["real training slices"] = [t[rng.choice(len(t), 8, replace=False)] for t in train_by_c]
    for name, per_c in sets.items():
        res = [swd(x, h, seed=0) for x, h in zip(per_c, held_by_c)]
        levels = np.mean([r.per_level for r in res], 0) * 1e3
        sizes = res[0].level_sizes
        cells = ", ".join(f"{s} px {v:.0f}" for s, v in zip(sizes, levels))
        print(f"{name}: mean {1e3 * np.mean([r.value for r in res]):.0f} ({cells})")
