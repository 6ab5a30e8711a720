"""Memorization and privacy checks: nearest training slices, AuthPct and the C_T test.

Distances in pixel space are root-mean-square differences per pixel in the model range
[-1, 1] (an L2 distance divided by √pixels, so values do not depend on image size).

- AuthPct (Alaa et al. 2022): a generated image is *authentic* when it is farther from its
  nearest training slice than that slice is from its own nearest other training slice.
- C_T (Meehan et al. 2020), here as an effect size: the space is cut into k-means cells fitted
  on the training set; in each cell Cliff's delta compares the distances to the training set
  of generated images with those of held-out real images, averaged with the held-out share of
  each cell as weight. C_T < 0 (generated images closer to the training data than unseen real
  data is) means copying; C_T > 0 means under-fitting. A permutation null gives its p-value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import rankdata

from .stats import CI_LEVEL, recentred_interval, resample_indices

CT_P_FLAG = 0.01  # permutation p-value below which C_T counts as copying ...
CT_MIN_EFFECT = 0.3  # ... when the effect is also at least this large (delta < -0.3)


def _flat(x: np.ndarray) -> torch.Tensor:
    a = np.asarray(x, dtype=np.float32)
    return torch.as_tensor(a.reshape(len(a), -1))


def nearest_neighbours(
    queries: np.ndarray, references: np.ndarray, k: int = 1, exclude_self: bool = False,
    chunk: int = 512,
) -> tuple[np.ndarray, np.ndarray]:
    """k nearest references of every query (RMS distance per feature/pixel).

    Parameters
    ----------
    queries, references : numpy.ndarray
        ``(N, ...)`` and ``(M, ...)`` arrays (images or feature vectors).
    exclude_self : bool
        Queries are the references themselves: skip the identical index.

    Returns
    -------
    indices, distances : numpy.ndarray
        ``(N, k)`` each, nearest first.
    """
    q, r = _flat(queries), _flat(references)
    if q.shape[1] != r.shape[1]:
        raise ValueError(f"queries of {q.shape[1]} values vs references of {r.shape[1]}")
    k = min(int(k), r.shape[0] - int(exclude_self))
    if k < 1:
        raise ValueError("not enough reference images")
    idx_out, dist_out = [], []
    r2 = (r.double() ** 2).sum(1)
    for s in range(0, q.shape[0], chunk):
        qb = q[s : s + chunk].double()
        d2 = (qb**2).sum(1, keepdim=True) + r2[None] - 2 * qb @ r.double().T
        if exclude_self:
            ar = torch.arange(s, s + qb.shape[0])
            d2[torch.arange(qb.shape[0]), ar] = float("inf")
        d, i = torch.topk(d2.clamp_min(0), k, dim=1, largest=False)
        idx_out.append(i)
        dist_out.append((d / q.shape[1]).sqrt())
    return torch.cat(idx_out).numpy(), torch.cat(dist_out).float().numpy()


def nearest_training_slices(
    generated_image: np.ndarray, train_images: np.ndarray, k: int = 5
) -> tuple[np.ndarray, np.ndarray]:
    """The k training slices nearest to one generated image under the copy distance
    (shift-tolerant, blurred, brightness-invariant; see :mod:`.copies`).

    Parameters
    ----------
    generated_image : numpy.ndarray
        ``(H, W)`` image in [-1, 1].
    train_images : numpy.ndarray
        ``(N, H, W)`` training slices in [-1, 1].

    Returns
    -------
    indices, distances : numpy.ndarray
        ``(k,)`` indices into ``train_images`` and copy distances, nearest first.
    """
    from .copies import copy_distances

    g = np.asarray(generated_image, dtype=np.float32)
    if g.shape != np.shape(train_images)[1:]:
        raise ValueError(f"image {g.shape} vs training slices {np.shape(train_images)[1:]}")
    idx, dist = copy_distances(g[None], train_images, k)
    return idx[0], dist[0]


def authentic(
    gen_to_train: np.ndarray, gen_nn_index: np.ndarray, train_to_train: np.ndarray
) -> np.ndarray:
    """Per generated image, True when farther from its nearest training slice than that
    slice is from its own nearest other training slice."""
    return np.asarray(gen_to_train) > np.asarray(train_to_train)[np.asarray(gen_nn_index)]


def pca_fit(x: np.ndarray, n_components: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Mean and ``(d, k)`` principal axes of flattened ``x``."""
    a = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    mean = a.mean(0)
    _, _, vt = np.linalg.svd(a - mean, full_matrices=False)
    return mean, vt[: min(n_components, vt.shape[0])].T


def pca_apply(x: np.ndarray, mean: np.ndarray, axes: np.ndarray) -> np.ndarray:
    return (np.asarray(x, dtype=np.float64).reshape(len(x), -1) - mean) @ axes


def kmeans(x: np.ndarray, k: int, seed: int = 0, iters: int = 50) -> np.ndarray:
    """Lloyd's k-means with k-means++ seeding; returns ``(k, d)`` centres."""
    x = np.asarray(x, dtype=np.float64)
    rng = np.random.default_rng(seed)
    k = max(1, min(int(k), len(x)))
    centres = [x[rng.integers(len(x))]]
    for _ in range(1, k):
        d2 = ((x[:, None] - np.asarray(centres)[None]) ** 2).sum(-1).min(1)
        p = d2 / d2.sum() if d2.sum() > 0 else np.full(len(x), 1 / len(x))
        centres.append(x[rng.choice(len(x), p=p)])
    c = np.asarray(centres)
    for _ in range(iters):
        lab = assign(x, c)
        new = np.array([x[lab == j].mean(0) if (lab == j).any() else c[j] for j in range(k)])
        if np.allclose(new, c):
            break
        c = new
    return c


def assign(x: np.ndarray, centres: np.ndarray) -> np.ndarray:
    return ((np.asarray(x)[:, None] - centres[None]) ** 2).sum(-1).argmin(1)


def cliffs_delta(dp: np.ndarray, dq: np.ndarray) -> float:
    """P(dq > dp) − P(dq < dp) from ranks: negative when the generated distances ``dq`` are
    smaller than the held-out ones ``dp`` (an effect size in [-1, 1], not a z-score)."""
    m, n = len(dq), len(dp)
    ranks = rankdata(np.concatenate([dq, dp]))
    u = ranks[:m].sum() - m * (m + 1) / 2  # pairs where a generated distance is larger
    return float(2 * u / (m * n) - 1)


@dataclass
class CTResult:
    """C_T as an effect size, its permutation p-value and threshold, and its bootstrap interval."""

    value: float
    n_cells: int
    cells_used: int
    p_value: float = 1.0
    threshold: float = float("nan")
    ci: tuple[float, float] | None = None

    @property
    def copying(self) -> bool:
        """Significantly closer to the training set than held-out real data, by a clear margin."""
        return bool(self.p_value < CT_P_FLAG and self.value < -CT_MIN_EFFECT)

    def to_dict(self) -> dict:
        return {
            "value": self.value,
            "ci": None if self.ci is None else list(self.ci),
            "n_cells": self.n_cells,
            "cells_used": self.cells_used,
            "p_value": self.p_value,
            "null_threshold": self.threshold,
            "min_effect": -CT_MIN_EFFECT,
            "copying": self.copying,
        }


class CTTest:
    """The C_T data-copying test (Meehan et al. 2020) as an effect size against a fixed
    training set, with a permutation null.

    Cells: k-means on the training embeddings. In each cell, Cliff's delta compares the
    distances to the training set of generated images with those of held-out real images;
    C_T is the average weighted by the held-out share of each cell. Unlike the original
    z-score it does not grow with the number of samples, so one threshold fits every size.
    The permutation null swaps generated/held-out labels within cells; ``p_value`` is the
    share of permutations at or below the observed value.

    Parameters
    ----------
    train_emb : numpy.ndarray
        ``(N, d)`` embeddings of the training slices (cells).
    heldout_emb, heldout_dist : numpy.ndarray
        Embeddings of held-out real slices and their distances to the training set.
    n_cells : int, optional
        k-means cells; default keeps about 20 held-out points per cell (at most 10 cells).
    tau : float
        Cells holding less than this fraction of the generated images are skipped.
    """

    def __init__(
        self, train_emb: np.ndarray, heldout_emb: np.ndarray, heldout_dist: np.ndarray,
        n_cells: int | None = None, tau: float = 0.02, seed: int = 0,
    ):
        if n_cells is None:
            n_cells = int(np.clip(len(heldout_emb) // 20, 1, 10))
        self.centres = kmeans(np.asarray(train_emb, dtype=np.float64), n_cells, seed)
        self.tau = tau
        self.heldout_cell = assign(heldout_emb, self.centres)
        self.heldout_dist = np.asarray(heldout_dist, dtype=np.float64)

    def _stat(self, dp: np.ndarray, cp: np.ndarray, dq: np.ndarray, cq: np.ndarray) -> tuple:
        total, weight, used = 0.0, 0.0, 0
        for j in range(len(self.centres)):
            p, q = dp[cp == j], dq[cq == j]
            if len(p) == 0 or len(q) == 0 or len(q) < self.tau * len(dq):
                continue
            w = len(p) / len(dp)
            total += w * cliffs_delta(p, q)
            weight += w
            used += 1
        return (total / weight if weight > 0 else float("nan")), used

    def __call__(
        self, gen_emb: np.ndarray, gen_dist: np.ndarray, n_boot: int = 0, seed: int = 0,
        level: float = CI_LEVEL, heldout_index: np.ndarray | None = None, n_perm: int = 200,
    ) -> CTResult:
        """C_T of generated images given their embeddings and distances to the training set."""
        dq = np.asarray(gen_dist, dtype=np.float64)
        cq = assign(gen_emb, self.centres)
        hidx = np.arange(len(self.heldout_dist)) if heldout_index is None else heldout_index
        dp, cp = self.heldout_dist[hidx], self.heldout_cell[hidx]
        value, used = self._stat(dp, cp, dq, cq)
        rng = np.random.default_rng(seed)
        p_value, thr = 1.0, float("nan")
        if n_perm > 0 and np.isfinite(value):
            d_all, c_all = np.concatenate([dq, dp]), np.concatenate([cq, cp])
            null = []
            for _ in range(n_perm):
                perm = rng.permutation(len(d_all))
                d, c = d_all[perm], c_all[perm]
                null.append(self._stat(d[len(dq):], c[len(dq):], d[: len(dq)], c[: len(dq)])[0])
            null = np.asarray(null)
            null = null[np.isfinite(null)]
            p_value = float((1 + (null <= value).sum()) / (1 + null.size))
            thr = float(np.quantile(null, CT_P_FLAG)) if null.size else thr
        ci = None
        if n_boot > 0:
            ip, iq = resample_indices(len(dp), n_boot, rng), resample_indices(len(dq), n_boot, rng)
            reps = np.array([self._stat(dp[a], cp[a], dq[b], cq[b])[0] for a, b in zip(ip, iq)])
            ci = recentred_interval(value, reps, level)
        return CTResult(value, len(self.centres), used, p_value, thr, ci)
