"""How the benchmark scores a generator against the held-out slices of its split.

* SWD (``engine.metrics.swd``, ×10³) of generated samples vs the held-out slices, at the
  held-out count, averaged over draws; the baseline is training real vs held-out real at the same
  count (:func:`real_baseline`);
* median nearest-training-slice L2 distance of samples divided by that of the held-out slices
  (1 = as close to the training set as unseen real slices; far below 1 = copies);
* diversity, coverage of the held-out slices and conditional accuracy.
"""

from __future__ import annotations

import numpy as np
import torch

from napari_medgan.engine.metrics.classifier import correct
from napari_medgan.engine.metrics.coverage import coverage_scores
from napari_medgan.engine.metrics.msssim import pairwise_msssim
from napari_medgan.engine.metrics.swd import swd


def nn_dist(x: np.ndarray, ref: np.ndarray) -> np.ndarray:
    a = torch.as_tensor(x.reshape(len(x), -1))
    b = torch.as_tensor(ref.reshape(len(ref), -1))
    return torch.cdist(a, b).min(dim=1).values.numpy()


#: Images per condition for the diversity scores (pairwise distances within a condition).
DIVERSITY_N = 32


def diversity(x: np.ndarray) -> dict:
    """Within-set variety: mean pairwise pixel L2 and mean pairwise MS-SSIM (lower = more varied).

    SWD against a dozen held-out slices cannot see a generator that makes one image per
    condition (it scores *below* the real baseline); these can.
    """
    flat = torch.as_tensor(x.reshape(len(x), -1), dtype=torch.float32)
    n = len(flat)
    l2 = float(torch.cdist(flat, flat).sum() / (n * (n - 1)))
    sim = pairwise_msssim(x, n_pairs=200, seed=0)[0]
    return {"l2div": l2, "msssim": float(np.mean(sim))}


#: Neighbour that sizes the coverage balls (held-out slices, radii from the training slices).
COVERAGE_K = 5


def _coverage(he: np.ndarray, x: np.ndarray, tr: np.ndarray) -> float:
    """Share of held-out slices with a sample inside their ball (the protocol's coverage)."""
    return coverage_scores(he, x, k=COVERAGE_K, radius_feats=tr)["coverage"]


def score(sample_fn, train_by_c, held_by_c, draws=3, classifier=None):
    """Per condition: SWD×1e3 (mean of ``draws`` sample sets), nearest-real ratio, diversity,
    coverage of the held-out slices (mean over the draws) and, with a ``classifier`` trained on
    the training slices, the share of samples it assigns to their condition."""
    out = []
    for c, (tr, he) in enumerate(zip(train_by_c, held_by_c)):
        n = len(he)
        sets = [sample_fn(n, c, 1000 + k) for k in range(draws)]
        s = [swd(x, he, seed=k).value for k, x in enumerate(sets)]
        fake = sample_fn(n, c, 2000)
        ratio = float(np.median(nn_dist(fake, tr)) / np.median(nn_dist(he, tr)))
        div = diversity(sample_fn(DIVERSITY_N, c, 3000))
        extra = {"coverage": float(np.mean([_coverage(he, x, tr) for x in sets]))}
        if classifier is not None:
            extra["cond_acc"] = float(correct(classifier, np.concatenate(sets), c).mean())
        out.append({"swd": 1e3 * float(np.mean(s)), "nn_ratio": ratio, **div, **extra})
    return out


def real_baseline(train_by_c, held_by_c, draws=3, classifier=None):
    """The scores of training real against held-out real (same count), held-out slices'
    conditional accuracy, and the diversity of training slices."""
    out = []
    for c, (tr, he) in enumerate(zip(train_by_c, held_by_c)):
        rng = np.random.default_rng(0)
        sets = [tr[rng.choice(len(tr), len(he), replace=False)] for _ in range(draws)]
        s = [swd(x, he, seed=k).value for k, x in enumerate(sets)]
        div = diversity(tr[rng.choice(len(tr), min(DIVERSITY_N, len(tr)), replace=False)])
        extra = {"coverage": float(np.mean([_coverage(he, x, tr) for x in sets]))}
        if classifier is not None:
            extra["cond_acc"] = float(correct(classifier, he, c).mean())
        out.append({"swd": 1e3 * float(np.mean(s)), **div, **extra})
    return out
