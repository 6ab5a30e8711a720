"""How many held-out slabs per single-scan condition? Coverage of the anatomy vs training lost.

``python benchmarks/bench_holdout_slabs.py [--sizes 32,64] [--slabs 1,2,3,4]`` splits the MNI152
T1 / GM / WM axial slices (the demo's data and slicing) with ``engine.holdout.split_dataset`` at
the default fraction (0.2) and gap (4), for several slab counts and seeds, and prints per count:

- ``train``: training slices kept (each slab costs ``2 x gap`` slices besides itself);
- ``cover mean / max``: for every slice of the scan (training, gap and held-out alike), the pixel
  RMS distance to the nearest held-out slice of the same condition, as a fraction of the mean
  distance between two random slices of that scan; averaged over slices (mean) and the worst
  slice (max). Low = the held-out reference shows every level of the anatomy;
- ``far``: the share of slices whose nearest held-out slice is farther than half a random pair
  (levels the reference does not represent).

Numbers are means over 8 seeds (the slab position depends on the seed). Pure numpy: seconds.
"""

from __future__ import annotations

import argparse

import numpy as np

from napari_medgan.cli.demo import DEMO_CONFIG, load_demo_volumes
from napari_medgan.engine.data import build_dataset
from napari_medgan.engine.holdout import split_dataset


def coverage(ds, held_mask: np.ndarray) -> tuple[float, float, float]:
    """Mean / max normalised distance to the nearest held-out slice, and the share above 0.5."""
    means, maxes, far = [], [], []
    x = ds.images[:, 0].numpy().reshape(len(ds), -1).astype(np.float64)
    labels = ds.labels.numpy()
    for c in np.unique(labels):
        sel = labels == c
        xc, hc = x[sel], x[sel & held_mask]
        d_all = np.sqrt(((xc[:, None] - xc[None]) ** 2).mean(-1))
        scale = d_all[np.triu_indices(len(xc), 1)].mean()
        d = np.sqrt(((xc[:, None] - hc[None]) ** 2).mean(-1)).min(1) / scale
        means.append(d.mean())
        maxes.append(d.max())
        far.append((d > 0.5).mean())
    return float(np.mean(means)), float(np.mean(maxes)), float(np.mean(far))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="32,64")
    p.add_argument("--slabs", default="1,2,3,4")
    p.add_argument("--seeds", type=int, default=8)
    args = p.parse_args()
    vols = load_demo_volumes()
    for size in (int(s) for s in args.sizes.split(",")):
        ds = build_dataset(vols, size, DEMO_CONFIG.slice_axis, DEMO_CONFIG.min_foreground)
        print(f"{size} px: {len(ds)} slices {ds.counts()}")
        print("| slabs | train kept | held out | cover mean | cover max | far (> 0.5) |")
        print("|---|---|---|---|---|---|")
        for k in (int(s) for s in args.slabs.split(",")):
            rows = []
            for seed in range(args.seeds):
                _, _, split = split_dataset(ds, 0.2, seed=seed, slabs=k)
                _, held = split.masks(ds)
                rows.append((split.n_train, split.n_heldout, *coverage(ds, held)))
            m = np.mean(rows, 0)
            print(f"| {k} | {m[0]:.0f} | {m[1]:.0f} | {m[2]:.3f} | {m[3]:.3f} | {m[4]:.2f} |")


if __name__ == "__main__":
    main()
