"""How optimistic is ``best`` (the checkpoint with the lowest held-out SWD during training)?

``python benchmarks/bench_selection.py RUN_DIR [RUN_DIR...]`` scores every checkpoint kept in
each demo run (MNI152 T1/GM/WM, its held-out split re-applied) with the protocol of
``engine.metrics`` against two references:

- **H**, the held-out slices that also selected ``best`` (what ``napari-medgan evaluate``
  scores against);
- **G**, the gap slices beside the held-out slabs: never trained on and never used to select
  (disjoint from H; only slab splits have them).

For each checkpoint it prints the score recorded during training (``heldout.score``), and the
SWD, coverage and recall ratios to the real baseline (training slices vs that reference at the
same counts) on H and on G. Selection optimism shows as ``best`` ranking better on H than on G.
Nothing is written.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from draws import draw_generated

from napari_medgan.cli.demo import load_demo_volumes
from napari_medgan.engine import Sampler
from napari_medgan.engine.holdout import HoldoutSplit
from napari_medgan.engine.metrics import prepare_reference, score
from napari_medgan.engine.metrics.sampled import dataset_for, run_split

N_PER = 150
KEYS = ("swd", "coverage", "recall")


def main(runs: list[str]) -> None:
    torch.set_num_threads(1)
    t0 = time.process_time()
    vols = load_demo_volumes()
    for run in runs:
        run = Path(run)
        best = Sampler.from_checkpoint(run)
        ds, lab = dataset_for(best, vols)
        tm, hm = HoldoutSplit.from_dict(run_split(best)).masks(ds)
        gm = ~(tm | hm)
        x = ds.images[:, 0].numpy()
        names = list(best.class_names)
        refs = {
            ref_name: prepare_reference(x[tm], lab[tm], list(np.asarray(ds.sources)[tm]), names,
                                        heldout=x[m], heldout_labels=lab[m], n_boot=50, seed=0,
                                        classifier_steps=1)
            for ref_name, m in (("H", hm), ("G", gm))
        }
        print(f"\n{run}: best = {best.path.name}; T {int(tm.sum())}, H {int(hm.sum())}, "
              f"G {int(gm.sum())} slices")
        print("| checkpoint | training score (H) | " + " | ".join(
            f"{k} ratio on {r}" for r in refs for k in KEYS) + " |")
        print("|---|---|" + "---|" * (len(refs) * len(KEYS)))
        for ck in sorted((run / "checkpoints").iterdir()):
            smp = Sampler.from_checkpoint(ck)
            state = json.loads((ck / "state.json").read_text())
            held = (state.get("extra") or {}).get("heldout") or {}
            gen = draw_generated(smp, list(range(len(names))), np.array([N_PER] * len(names)), 0)
            gl = np.repeat(np.arange(len(names)), N_PER)
            cells = []
            for ref in refs.values():
                m = score(ref, gen, gl, controls=False).metrics
                cells += [f"{m[k]['ratio']:.2f}" if m[k].get("ratio") is not None else "–"
                          for k in KEYS]
            mark = " (best)" if ck.name == best.path.name else ""
            sc = held.get("score")
            print(f"| {ck.name}{mark} | {'–' if sc is None else f'{sc:.4f}'} | "
                  + " | ".join(cells) + " |", flush=True)
    print(f"CPU {time.process_time() - t0:.0f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
