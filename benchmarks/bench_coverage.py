"""Which feature space, k and sample count make coverage/recall (and SWD) see what the eye sees?

``python benchmarks/bench_coverage.py RUN_DIR`` re-applies a demo run's held-out split to the
MNI152 slices (training T, held-out H, gap slices G: in neither) and scores, against H, per
condition and pooled over conditions (mean of 5 random draws):

- baseline: training slices T; collapsed: one training slice per condition repeated with noise
  σ = 0.02 (mode collapse); missing: T without the lowest third of each condition's slice
  levels (a missing anatomy level); untrained: the run's generator re-initialised;
  best / latest: the run's two checkpoints (150 samples per condition);
- feature spaces: ``pix`` (the model-size pixels) and ``cnn`` (the default random-CNN
  features, standardised by T ∪ H); k in 3, 5, 8; counts: H's (13-14 per condition, what the
  protocol compares) and T's (every training slice of the condition);
- coverage as in the protocol (ball around each held-out slice, radius = distance to its k-th
  nearest training slice), coverage as in Naeem et al. (radius = k-th nearest held-out slice),
  recall (Kynkäänniemi et al.), and the protocol's SWD at both counts;
- last, the protocol's recall (``coverage.recall_block``: training counts, each baseline
  count-matched to its set, 200 bootstrap replicates) for k in 3, 5, 6, 8, 10.

Nothing is written; the printed tables are quoted in docs/evaluation.md.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import torch
from draws import draw_generated

from napari_medgan.cli.demo import load_demo_volumes
from napari_medgan.engine import Sampler
from napari_medgan.engine.holdout import HoldoutSplit
from napari_medgan.engine.metrics.coverage import coverage_scores
from napari_medgan.engine.metrics.randnet import RandomFeatures
from napari_medgan.engine.metrics.sampled import dataset_for, run_split, untrained_like
from napari_medgan.engine.metrics.swd import swd

N_GEN, DRAWS = 150, 5


def sets_of(run: str):
    best = Sampler.from_checkpoint(run)
    latest = Sampler.from_checkpoint(run, prefer="latest")
    ds, lab = dataset_for(best, load_demo_volumes())
    tm, hm = HoldoutSplit.from_dict(run_split(best)).masks(ds)
    x, sidx = ds.images[:, 0].numpy(), ds.slice_index.numpy()
    n_c = len(best.class_names)
    real = {"T": (x[tm], lab[tm], sidx[tm]), "H": (x[hm], lab[hm], sidx[hm])}
    t, tl, ts = real["T"]
    rng = np.random.default_rng(0)
    scored = {"baseline": (t, tl)}
    for name, smp in (("best", best), ("latest", latest),
                      ("untrained", untrained_like(best, 0))):
        scored[name] = (draw_generated(smp, list(range(n_c)), np.array([N_GEN] * n_c), 0),
                        np.repeat(np.arange(n_c), N_GEN))
    one = [t[tl == c][rng.integers((tl == c).sum())] for c in range(n_c)]
    scored["collapsed"] = (np.concatenate([o[None] + rng.normal(0, 0.02, (N_GEN, *o.shape))
                                           for o in one]).astype(np.float32),
                           np.repeat(np.arange(n_c), N_GEN))
    keep = np.zeros(len(t), bool)
    for c in range(n_c):
        mine = tl == c
        keep |= mine & (ts > np.quantile(ts[mine], 1 / 3))
    scored["missing"] = (t[keep], tl[keep])
    return best, real, scored, n_c


def main(run: str) -> None:
    torch.set_num_threads(1)
    t0 = time.process_time()
    best, real, scored, n_c = sets_of(run)
    t, tl, _ = real["T"]
    h, hl, _ = real["H"]
    net = RandomFeatures(0)
    pooled = net.features(np.concatenate([t, h]))
    mu, sd = pooled.mean(0), pooled.std(0)
    sd = np.maximum(sd, 0.1 * np.median(sd) + 1e-12)
    spaces = {"pix": lambda a: a.reshape(len(a), -1).astype(np.float64),
              "cnn": lambda a: (net.features(a) - mu) / sd}
    counts = {"H": [int((hl == c).sum()) for c in range(n_c)],
              "T": [int((tl == c).sum()) for c in range(n_c)]}
    print(f"run {run}: best step {best.step}; T {counts['T']}, H {counts['H']} per condition")
    for sp_name, space in spaces.items():
        hf = {c: space(h[hl == c]) for c in range(n_c)}
        tf = {c: space(t[tl == c]) for c in range(n_c)}
        feats = {name: space(x) for name, (x, _) in scored.items()}
        for cname, per in counts.items():
            for k in (3, 5, 8):
                print(f"\n{sp_name}, {cname} count, k = {k}: coverage (protocol) / coverage "
                      "(paper) / recall, mean ± sd over draws")
                for name, (_, lab) in scored.items():
                    vals = []
                    for d in range(DRAWS):
                        rng = np.random.default_rng(100 + d)
                        acc = np.zeros(3)
                        for c in range(n_c):
                            idx = np.flatnonzero(lab == c)
                            pick = rng.choice(idx, min(per[c], idx.size), replace=False)
                            f = feats[name][pick]
                            a = coverage_scores(hf[c], f, k, radius_feats=tf[c])
                            b = coverage_scores(hf[c], f, k)
                            acc += len(hf[c]) * np.array([a["coverage"], b["coverage"],
                                                          a["recall"]])
                        vals.append(acc / len(h))
                    m, s = np.mean(vals, 0), np.std(vals, 0)
                    print(f"  {name:10s} " + " / ".join(f"{a:.2f}±{b:.2f}" for a, b in zip(m, s)))
    print("\nprotocol SWD against H, mean ± sd over draws")
    for cname, per in counts.items():
        for name, (x, lab) in scored.items():
            vals = []
            for d in range(DRAWS):
                rng = np.random.default_rng(200 + d)
                pick = np.concatenate([rng.choice(np.flatnonzero(lab == c),
                                                  min(per[c], (lab == c).sum()), replace=False)
                                       for c in range(n_c)])
                vals.append(swd(x[pick], h, seed=d, n_boot=0).value)
            print(f"  {cname} count {name:10s} {np.mean(vals):.4f} ± {np.std(vals):.4f}")
    protocol_recall(best, real, scored)
    print(f"CPU {time.process_time() - t0:.0f} s")


def protocol_recall(best, real, scored) -> None:
    """Recall as the protocol computes it, value [interval] vs its count-matched baseline."""
    from napari_medgan.engine.metrics import coverage as cov
    from napari_medgan.engine.metrics import prepare_reference

    t, tl, _ = real["T"]
    h, hl, _ = real["H"]
    ref = prepare_reference(t, tl, None, list(best.class_names), heldout=h, heldout_labels=hl,
                            n_boot=200, seed=0, classifier_steps=1)
    print("\nprotocol recall at the training counts: value [95 % CI] vs baseline [CI] (ratio)")
    for k in (3, 5, 6, 8, 10):
        print(f"k = {k}")
        for name, (x, lab) in scored.items():
            if name == "baseline":
                continue
            counts = cov.training_counts(ref, lab)
            v = cov.recall_block(ref, x, lab, counts, 0, k=k)
            b = cov.recall_block(ref, t, tl, counts, 5, k=k)
            print(f"  {name:10s} {v['value']:.2f} [{v['ci'][0]:.2f}, {v['ci'][1]:.2f}] vs "
                  f"{b['value']:.2f} [{b['ci'][0]:.2f}, {b['ci'][1]:.2f}] "
                  f"({v['value'] / max(b['value'], 1e-9):.2f}x)")


if __name__ == "__main__":
    main(sys.argv[1])
