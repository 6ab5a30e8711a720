"""Disguised-copy detection: a shift-tolerant image distance and a calibrated near-copy gate.

Copy distance
    Both images are blurred (gaussian, σ = 1 px: damps pixel noise and resampling differences)
    and their mean is removed (brightness-invariant); the distance is the norm of the
    difference *relative to the norm of the training slice* (so a 5 % contrast change is 0.05
    and a flat, low-contrast image is far from everything, not close to near-empty slices),
    minimised over integer shifts of up to ``MAX_SHIFT`` px of the query (the background, -1,
    fills what is shifted in). A verbatim copy, a copy shifted by 1–2 px, or one with a global
    brightness change is at ~0; small rotations, contrast changes and noise keep it below
    the distance of unseen real slices to the training set.

Near-copy gate
    The threshold is the ``alpha`` quantile of the copy distances of *held-out real slices* to
    the training set: an honest generator as good as real data has about ``alpha`` of its
    samples below it. The gate counts the samples below it and tests the excess with a binomial
    tail; the copied fraction is estimated as ``(observed − alpha) / (1 − alpha)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import binom

from .stats import CI_LEVEL, recentred_interval, resample_indices

MAX_SHIFT = 2
BLUR_SIGMA = 1.0
ALPHA = 0.02  # calibration quantile of held-out-to-training distances
P_FLAG = 1e-3  # binomial tail probability below which the excess of near-copies is flagged
MIN_COPIED = 0.05  # ... and the estimated copied fraction must be at least this


def _gauss(sigma: float) -> torch.Tensor:
    r = max(1, round(3 * sigma))
    g = torch.exp(-(torch.arange(-r, r + 1, dtype=torch.float32) ** 2) / (2 * sigma * sigma))
    return g / g.sum()


def prepare(images: np.ndarray | torch.Tensor, sigma: float = BLUR_SIGMA) -> torch.Tensor:
    """Blurred, mean-removed, flattened ``(N, P)`` float64 copy-distance descriptors."""
    t = torch.as_tensor(np.asarray(images, dtype=np.float32))
    if t.ndim == 3:
        t = t[:, None]
    g = _gauss(sigma)
    r = (len(g) - 1) // 2
    t = F.conv2d(F.pad(t, (r, r, 0, 0), mode="replicate"), g[None, None, None, :])
    t = F.conv2d(F.pad(t, (0, 0, r, r), mode="replicate"), g[None, None, :, None])
    f = t.reshape(len(t), -1).double()
    return f - f.mean(1, keepdim=True)


def _shifted(queries: np.ndarray, max_shift: int) -> list[torch.Tensor]:
    t = torch.as_tensor(np.asarray(queries, dtype=np.float32))[:, None]
    m, s = int(max_shift), t.shape[-1]
    if m == 0:
        return [t]
    pad = F.pad(t, (m, m, m, m), value=-1.0)
    h = t.shape[-2]
    return [pad[:, :, m + dy : m + dy + h, m + dx : m + dx + s]
            for dy in range(-m, m + 1) for dx in range(-m, m + 1)]


def copy_distances(
    queries: np.ndarray, references: np.ndarray, k: int = 1, exclude_self: bool = False,
    max_shift: int = MAX_SHIFT, sigma: float = BLUR_SIGMA, chunk: int = 256,
) -> tuple[np.ndarray, np.ndarray]:
    """k nearest references of every query under the copy distance (see module docstring).

    Parameters
    ----------
    queries, references : numpy.ndarray
        ``(N, S, S)`` and ``(M, S, S)`` images in [-1, 1].
    exclude_self : bool
        Queries are the references themselves: skip the identical index.

    Returns
    -------
    indices, distances : numpy.ndarray
        ``(N, k)`` each, nearest first; distances are relative (``‖x − y‖ / ‖y‖`` after
        blurring and mean removal; 0 for a copy, about 1 for an unrelated flat image).
    """
    q = np.asarray(queries, dtype=np.float32)
    r = prepare(references, sigma)
    if q.shape[1:] != tuple(np.shape(references)[1:]):
        raise ValueError(f"images {q.shape[1:]} vs references {np.shape(references)[1:]}")
    k = min(int(k), r.shape[0] - int(exclude_self))
    if k < 1:
        raise ValueError("not enough reference images")
    r2 = (r**2).sum(1)
    r2_safe = r2.clamp_min(1e-12)[None]
    idx_out, dist_out = [], []
    for s in range(0, len(q), chunk):
        best = None
        for shifted in _shifted(q[s : s + chunk], max_shift):
            f = prepare(shifted, sigma)
            d2 = ((f**2).sum(1, keepdim=True) + r2[None] - 2 * f @ r.T) / r2_safe
            best = d2 if best is None else torch.minimum(best, d2)
        if exclude_self:
            rows = torch.arange(best.shape[0])
            best[rows, rows + s] = float("inf")
        d, i = torch.topk(best.clamp_min(0), k, dim=1, largest=False)
        idx_out.append(i)
        dist_out.append(d.sqrt())
    return torch.cat(idx_out).numpy(), torch.cat(dist_out).float().numpy()


@dataclass
class CopyGate:
    """Near-copy threshold calibrated on held-out real slices (see module docstring)."""

    threshold: float
    alpha: float
    n_calibration: int
    capped: bool = False

    @classmethod
    def calibrate(cls, heldout_distances: np.ndarray, alpha: float = ALPHA,
                  cap: float | None = None) -> CopyGate:
        """``alpha`` quantile of held-out-to-training distances, at most ``cap`` if given.

        The cap is for held-out slabs of the training volumes: they sit a gap away from every
        training slice, farther than an honest new slice of those volumes, so their quantile
        would call honest samples copies. The median distance between neighbouring training
        slices bounds "new" there: closer than that is treated as a copy.
        """
        d = np.asarray(heldout_distances, dtype=np.float64)
        if d.size < 2:
            raise ValueError("the near-copy gate needs at least 2 held-out slices")
        thr = float(np.quantile(d, alpha))
        capped = cap is not None and cap < thr
        return cls(float(cap) if capped else thr, float(alpha), int(d.size), bool(capped))

    def test(self, distances: np.ndarray, n_boot: int = 200, seed: int = 0) -> dict:
        """Near-copy fraction, its excess over ``alpha`` and the flag, for copy distances."""
        d = np.asarray(distances, dtype=np.float64)
        near = d < self.threshold
        n, k = int(d.size), int(near.sum())
        frac = k / n if n else float("nan")
        p = float(binom.sf(k - 1, n, self.alpha)) if n else 1.0
        copied = max(0.0, (frac - self.alpha) / (1 - self.alpha))
        rng = np.random.default_rng(seed)
        reps = near[resample_indices(n, n_boot, rng)].mean(1) if n_boot and n else np.zeros(0)
        lo, hi = recentred_interval(frac, reps, CI_LEVEL) if reps.size else (frac, frac)
        ci = [max(0.0, (v - self.alpha) / (1 - self.alpha)) for v in (lo, hi)]
        return {
            "value": frac,
            "ci": [float(lo), float(hi)],
            "expected": self.alpha,
            "copied_fraction": copied,
            "copied_fraction_ci": ci,
            "p_value": p,
            "flagged": bool(p < P_FLAG and copied >= MIN_COPIED),
            "near_copies": [int(i) for i in np.flatnonzero(near)],
            "threshold": self.threshold,
        }
