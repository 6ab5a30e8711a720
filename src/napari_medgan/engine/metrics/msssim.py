"""MS-SSIM and the pairwise diversity score (mean MS-SSIM over random pairs).

Diversity follows Odena et al. (2017): a low mean MS-SSIM between random pairs of one class
means varied images; a generator that collapses scores higher than real data, one that makes
noise scores lower. The number of scales and the gaussian window shrink for small images so
that the coarsest scale still holds a full window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

# Wang et al. (2003) weights for 5 scales; fewer scales use the first ones, renormalised.
MS_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
K1, K2 = 0.01, 0.03


@dataclass(frozen=True)
class MSSSIMConfig:
    """Window and scales used for a given image size."""

    window: int
    sigma: float
    scales: int

    @property
    def weights(self) -> torch.Tensor:
        w = torch.tensor(MS_WEIGHTS[: self.scales], dtype=torch.float64)
        return (w / w.sum()).float()


def msssim_config(size: int) -> MSSSIMConfig:
    """Largest number of scales (≤ 5) whose coarsest level still holds the window.

    The window is 11 px (σ 1.5) when at least 3 scales fit, else 7 px (σ 1.0), and for tiny
    images the largest odd size that fits (one scale).
    """
    size = int(size)
    for window, sigma in ((11, 1.5), (7, 1.0)):
        scales = 0
        while scales < 5 and size // (2**scales) >= window:
            scales += 1
        if scales >= 3 or (window == 7 and scales >= 1):
            return MSSSIMConfig(window, sigma, scales)
    window = max(1, size if size % 2 else size - 1)
    return MSSSIMConfig(window, max(window / 7.0, 0.5), 1)


def _gauss(window: int, sigma: float) -> torch.Tensor:
    x = torch.arange(window, dtype=torch.float32) - (window - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def _filter(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    k = g.numel()
    x = F.conv2d(x, g.view(1, 1, 1, k))
    return F.conv2d(x, g.view(1, 1, k, 1))


def _ssim_cs(x: torch.Tensor, y: torch.Tensor, g: torch.Tensor) -> tuple:
    c1, c2 = K1**2, K2**2  # data range 1 after mapping [-1, 1] → [0, 1]
    mx, my = _filter(x, g), _filter(y, g)
    sxx = _filter(x * x, g) - mx * mx
    syy = _filter(y * y, g) - my * my
    sxy = _filter(x * y, g) - mx * my
    cs = (2 * sxy + c2) / (sxx + syy + c2)
    lum = (2 * mx * my + c1) / (mx * mx + my * my + c1)
    return (lum * cs).flatten(1).mean(1), cs.flatten(1).mean(1)


def ms_ssim(x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor) -> torch.Tensor:
    """MS-SSIM of image pairs.

    Parameters
    ----------
    x, y : array
        ``(N, H, W)`` images in [-1, 1] (mapped to [0, 1], data range 1).

    Returns
    -------
    torch.Tensor
        ``(N,)`` values in [0, 1]; negative SSIM/contrast terms are clipped at 0 (so the
        fractional powers stay defined) and identical images give exactly 1.
    """
    x = torch.as_tensor(np.asarray(x, dtype=np.float32))
    y = torch.as_tensor(np.asarray(y, dtype=np.float32))
    if x.shape != y.shape or x.ndim != 3:
        raise ValueError(f"expected two (N, H, W) arrays of one shape, got {x.shape}, {y.shape}")
    cfg = msssim_config(min(x.shape[-2:]))
    g = _gauss(cfg.window, cfg.sigma)
    x = ((x + 1) / 2)[:, None]
    y = ((y + 1) / 2)[:, None]
    weights = cfg.weights
    out = torch.ones(x.shape[0])
    for s in range(cfg.scales):
        ssim, cs = _ssim_cs(x, y, g)
        term = ssim if s == cfg.scales - 1 else cs
        out = out * term.clamp_min(0) ** weights[s]
        if s < cfg.scales - 1:
            x = F.avg_pool2d(x, 2)
            y = F.avg_pool2d(y, 2)
    return out


def random_pairs(
    labels: np.ndarray, n_pairs: int, seed: int = 0
) -> dict[int, np.ndarray]:
    """Per condition, up to ``n_pairs`` random index pairs ``(k, 2)`` of distinct images."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    out: dict[int, np.ndarray] = {}
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        if idx.size < 2:
            continue
        n_all = idx.size * (idx.size - 1) // 2
        if n_all <= n_pairs:
            i, j = np.triu_indices(idx.size, 1)
        else:
            i = rng.integers(0, idx.size, n_pairs)
            j = (i + rng.integers(1, idx.size, n_pairs)) % idx.size
        out[int(c)] = np.stack([idx[i], idx[j]], axis=1)
    return out


def pairwise_msssim(
    images: np.ndarray, labels: np.ndarray | None = None, n_pairs: int = 400, seed: int = 0,
    batch: int = 256,
) -> dict[int, np.ndarray]:
    """MS-SSIM of random same-condition pairs: ``{condition: (k,) values}``."""
    images = np.asarray(images, dtype=np.float32)
    labels = np.zeros(len(images), dtype=np.int64) if labels is None else np.asarray(labels)
    out = {}
    for c, pairs in random_pairs(labels, n_pairs, seed).items():
        vals = [
            ms_ssim(images[pairs[s : s + batch, 0]], images[pairs[s : s + batch, 1]])
            for s in range(0, len(pairs), batch)
        ]
        out[c] = torch.cat(vals).numpy().astype(np.float64)
    return out
