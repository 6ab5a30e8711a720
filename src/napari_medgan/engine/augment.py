"""Differentiable augmentation (DiffAugment, Zhao et al. 2020) for single-channel images.

The same random transforms are applied to real and fake batches before the discriminator, and
gradients flow through them to the generator, so the discriminator cannot overfit a small data
set while the generator still learns the un-augmented distribution. Random parameters come from a
CPU ``torch.Generator`` owned by the trainer, so a resumed run draws exactly the same numbers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

BACKGROUND = -1.0


def augment(x: torch.Tensor, ops: tuple[str, ...], gen: torch.Generator) -> torch.Tensor:
    """Apply each op in ``ops`` (brightness, contrast, translation, cutout) to a batch."""
    for op in ops:
        x = _OPS[op](x, gen)
    return x


def _rand(shape: tuple[int, ...], gen: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    return torch.rand(shape, generator=gen).to(device=like.device, dtype=like.dtype)


def _brightness(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    return x + (_rand((x.shape[0], 1, 1, 1), gen, x) - 0.5) * 0.5


def _contrast(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_rand((x.shape[0], 1, 1, 1), gen, x) * 0.5 + 0.75) + mean


def _translation(x: torch.Tensor, gen: torch.Generator, ratio: float = 0.125) -> torch.Tensor:
    b, _, h, w = x.shape
    pad = max(1, int(h * ratio + 0.5))
    shift = torch.randint(-pad, pad + 1, (2, b), generator=gen).to(x.device)
    rows = torch.arange(h, device=x.device)[None, :, None] + (shift[0] + pad)[:, None, None]
    cols = torch.arange(w, device=x.device)[None, None, :] + (shift[1] + pad)[:, None, None]
    padded = F.pad(x, (pad, pad, pad, pad), value=BACKGROUND)
    batch = torch.arange(b, device=x.device)[:, None, None]
    return padded[batch, :, rows, cols].permute(0, 3, 1, 2)


def _cutout(x: torch.Tensor, gen: torch.Generator, ratio: float = 0.5) -> torch.Tensor:
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h + (1 - ch % 2), (b, 1, 1), generator=gen).to(x.device)
    cx = torch.randint(0, w + (1 - cw % 2), (b, 1, 1), generator=gen).to(x.device)
    rows = torch.arange(h, device=x.device)[None, :, None]
    cols = torch.arange(w, device=x.device)[None, None, :]
    inside = ((rows - cy).abs() <= ch // 2) & ((cols - cx).abs() <= cw // 2)
    return torch.where(inside[:, None], torch.full_like(x, BACKGROUND), x)


_OPS = {
    "brightness": _brightness,
    "contrast": _contrast,
    "translation": _translation,
    "cutout": _cutout,
}
