"""Dice, a 3×3-neighbourhood tissue classifier and MS-SSIM (torch ops, 64 px)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import TISSUES


def dice(pred: torch.Tensor, truth: torch.Tensor) -> dict[str, float]:
    """Dice per tissue (labels 1..3, pooled over every pixel of every slice) and their mean."""
    out = {}
    for k, name in enumerate(TISSUES, start=1):
        p, t = pred == k, truth == k
        denom = int(p.sum() + t.sum())
        out[name] = 2.0 * int((p & t).sum()) / denom if denom else 1.0
    out["mean"] = sum(out[n] for n in TISSUES) / len(TISSUES)
    return out


class TissueClassifier(nn.Module):
    """Per-pixel tissue logits from intensity and its 3×3 neighbourhood:
    conv3×3(1→16) + ReLU + conv1×1(16→K)."""

    def __init__(self, n_labels: int, hidden: int = 16) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, hidden, 3, padding=1, padding_mode="replicate"), nn.ReLU(),
            nn.Conv2d(hidden, n_labels, 1),
        )  # fmt: skip

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images[:, None])

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> torch.Tensor:
        return self(images).argmax(1)


def fit_classifier(
    images: torch.Tensor, index: torch.Tensor, n_labels: int, steps: int = 400, seed: int = 0
) -> TissueClassifier:
    """Adam (lr 0.01, full batch) on real slices; cross-entropy weighted by 1/sqrt(frequency)
    so that the rare CSF is not ignored."""
    torch.manual_seed(seed)
    model = TissueClassifier(n_labels)
    freq = torch.bincount(index.flatten(), minlength=n_labels).float().clamp(min=1)
    weight = freq.rsqrt() / freq.rsqrt().mean()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(steps):
        loss = F.cross_entropy(model(images), index, weight=weight)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


#: MS-SSIM scales at 64 px: 3 (64, 32, 16 px), since 5 scales with an 11-px window need
#: 161 px; the standard weights of the 3 finest scales, renormalised.
SCALE_WEIGHTS = torch.tensor([0.0448, 0.2856, 0.3001]) / (0.0448 + 0.2856 + 0.3001)


def _gauss(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :])[None, None]


def ms_ssim(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """MS-SSIM of image pairs ``(n, S, S)`` in [-1, 1] (data range 2), one value per pair.

    Three scales (:data:`SCALE_WEIGHTS`), Gaussian window 11 px / σ 1.5, valid convolution.
    With ``mask`` ``(n, S, S)`` (e.g. the brain), the SSIM / contrast-structure maps are
    averaged only where the (downsampled, window-cropped) mask is above 0.5.
    """
    win = _gauss()
    c1, c2 = (0.01 * 2) ** 2, (0.03 * 2) ** 2
    x, y = a[:, None].float(), b[:, None].float()
    m = None if mask is None else mask[:, None].float()
    values = []
    for level in range(len(SCALE_WEIGHTS)):
        mu_x, mu_y = F.conv2d(x, win), F.conv2d(y, win)
        sxx = F.conv2d(x * x, win) - mu_x**2
        syy = F.conv2d(y * y, win) - mu_y**2
        sxy = F.conv2d(x * y, win) - mu_x * mu_y
        cs = (2 * sxy + c2) / (sxx + syy + c2)
        last = level == len(SCALE_WEIGHTS) - 1
        term = cs * (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1) if last else cs
        if m is None:
            values.append(term.mean((1, 2, 3)))
        else:
            w = (F.conv2d(m, win) > 0.5).float()
            values.append((term * w).sum((1, 2, 3)) / w.sum((1, 2, 3)).clamp(min=1))
        if not last:
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
            m = None if m is None else F.avg_pool2d(m, 2)
    stack = torch.stack(values, 1).clamp(min=1e-6)
    return torch.prod(stack**SCALE_WEIGHTS, dim=1)
