"""A small 2D U-Net tissue segmenter (4 classes) trained with cross-entropy + soft Dice."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
    )  # fmt: skip


class UNet(nn.Module):
    """Three 2× down / up levels, widths ``base·(1, 2, 4, 8)``, skip connections; 271k
    parameters at ``base=12``, 483k at 16. Image ``(B, S, S)`` → logits ``(B, K, S, S)``."""

    def __init__(self, n_labels: int = 4, base: int = 16) -> None:
        super().__init__()
        w = [base * 2**i for i in range(4)]
        self.down = nn.ModuleList([_block(1, w[0]), _block(w[0], w[1]), _block(w[1], w[2])])
        self.bottom = _block(w[2], w[3])
        self.up = nn.ModuleList(nn.ConvTranspose2d(w[i + 1], w[i], 2, 2) for i in range(3))
        self.dec = nn.ModuleList(_block(2 * w[i], w[i]) for i in range(3))
        self.head = nn.Conv2d(w[0], n_labels, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x, skips = images[:, None], []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = self.bottom(x)
        for i in reversed(range(3)):
            x = self.dec[i](torch.cat([self.up[i](x), skips[i]], 1))
        return self.head(x)


def seg_loss(logits: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Cross-entropy + (1 - soft Dice averaged over the tissue classes 1..K-1)."""
    k = logits.shape[1]
    prob = logits.softmax(1)
    target = F.one_hot(index, k).permute(0, 3, 1, 2).float()
    inter = (prob * target).sum((0, 2, 3))
    denom = prob.sum((0, 2, 3)) + target.sum((0, 2, 3))
    soft_dice = ((2 * inter + 1) / (denom + 1))[1:].mean()
    return F.cross_entropy(logits, index) + 1 - soft_dice


def train_segmenter(
    sample: Callable[[torch.Generator, int], tuple[torch.Tensor, torch.Tensor]],
    steps: int,
    seed: int,
    batch_size: int = 8,
    lr: float = 2e-3,
    width: int = 12,
) -> tuple[UNet, dict[str, float]]:
    """Train a fresh :class:`UNet` (weights from ``seed``) for ``steps`` Adam steps on batches
    ``sample(gen, batch_size)`` → (images ``(B, S, S)``, label indices ``(B, S, S)``); cosine
    learning-rate decay. Returns the model (eval mode) and its timing."""
    torch.set_flush_denormal(True)
    torch.manual_seed(seed)
    model = UNet(base=width)
    gen = torch.Generator().manual_seed(seed + 1)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    t0, w0 = time.process_time(), time.perf_counter()
    loss = torch.zeros(())
    for _ in range(steps):
        images, index = sample(gen, batch_size)
        loss = seg_loss(model(images), index)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    facts = {"steps": steps, "batch_size": batch_size, "width": width,
             "parameters": sum(p.numel() for p in model.parameters()),
             "final_loss": round(float(loss.detach()), 4),
             "cpu_s": round(time.process_time() - t0, 1),
             "wall_s": round(time.perf_counter() - w0, 1)}  # fmt: skip
    return model.eval(), facts


@torch.no_grad()
def segment(model: UNet, images: torch.Tensor) -> torch.Tensor:
    """Label indices ``(n, S, S)`` predicted for images ``(n, S, S)``."""
    return torch.cat([model(part).argmax(1) for part in torch.split(images, 32)])
