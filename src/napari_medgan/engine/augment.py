"""Differentiable augmentation for single-channel medical images, applied with probability ``p``.

The same random transforms are applied to real and fake batches before the discriminator, and
gradients flow through them to the generator (DiffAugment, Zhao et al. 2020; ADA, Karras et al.
2020), so the discriminator cannot overfit a small data set while the generator still learns the
un-augmented distribution. Each operation is applied to each image independently with
probability ``p`` (a float or a 0-dim tensor on the device: :class:`~.ada.AdaptiveAugment`
raises it when the discriminator starts to overfit).

Operations are chosen to be safe for medical images: small rotations (±10°), isotropic scales
(±15 %), translations (±12.5 %), intensity gamma, contrast and brightness, and cutout; a
left-right ``flip`` exists but changes laterality, so it is used only when the user lists it.
Geometric operations are composed into one affine resampling (bilinear, background ``-1``).
Random numbers come from the trainer's ``torch.Generator`` (on the training device), so a resumed
run draws exactly the same numbers and no host round trip happens on a GPU.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

BACKGROUND = -1.0
GEOMETRIC = ("translation", "rotation", "scale", "flip")
INTENSITY = ("brightness", "contrast", "gamma")
OPS = GEOMETRIC + INTENSITY + ("cutout",)
MAX_ROTATION_DEG = 10.0
MAX_SCALE_LOG2 = math.log2(1.15)
MAX_SHIFT = 0.125
CUTOUT_RATIO = 0.5


def augment(
    x: torch.Tensor, ops: tuple[str, ...], gen: torch.Generator, p: float | torch.Tensor = 1.0
) -> torch.Tensor:
    """Apply the listed operations to ``x`` ``(B, 1, H, W)``, each image with probability ``p``.

    Operations run in a fixed order (geometric, intensity, cutout) whatever the order of ``ops``;
    unknown names raise ``ValueError``. The output has the input's shape, dtype and device.
    """
    unknown = [op for op in ops if op not in OPS]
    if unknown:
        raise ValueError(f"unknown augmentation {unknown[0]!r}; choose from {', '.join(OPS)}")
    if not ops or (not isinstance(p, torch.Tensor) and p <= 0):
        return x
    b = x.shape[0]
    geo = [op for op in GEOMETRIC if op in ops]
    if geo:
        x = _affine(x, geo, gen, p)
    if "brightness" in ops:
        x = x + _masked(b, gen, x, p, lambda u: (u - 0.5) * 0.4)
    if "contrast" in ops:
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = (x - mean) * torch.exp2(_masked(b, gen, x, p, lambda u: (u * 2 - 1) * 0.5)) + mean
    if "gamma" in ops:
        gamma = torch.exp2(_masked(b, gen, x, p, lambda u: (u * 2 - 1) * 0.5))
        unit = (x + 1) / 2  # near-black pixels stay as they are (no infinite slope at 0)
        x = torch.where(unit > 1e-4, unit.clamp(min=1e-4).pow(gamma) * 2 - 1, x)
    if "cutout" in ops:
        x = _cutout(x, gen, p)
    return x


def _uniform(shape: tuple[int, ...], gen: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    u = torch.rand(shape, generator=gen, device=gen.device)
    return u.to(device=like.device, dtype=like.dtype)


def _apply(b: int, gen: torch.Generator, like: torch.Tensor, p) -> torch.Tensor:
    """Per image: 1.0 where the operation applies (probability ``p``), else 0.0."""
    return (_uniform((b,), gen, like) < p).to(like.dtype)


def _masked(b, gen, like, p, fn) -> torch.Tensor:
    """A per-image parameter ``fn(u)`` where applied and 0 (identity) elsewhere, ``(B,1,1,1)``."""
    value = fn(_uniform((b,), gen, like)) * _apply(b, gen, like, p)
    return value[:, None, None, None]


def _affine(x: torch.Tensor, ops: list[str], gen, p) -> torch.Tensor:
    b = x.shape[0]
    one, zero = torch.ones(b, dtype=x.dtype, device=x.device), torch.zeros_like(x[:, 0, 0, 0])
    a11, a12, a21, a22, tx, ty = one, zero, zero, one, zero, zero
    if "flip" in ops:
        a11 = 1 - 2 * _apply(b, gen, x, p) * (_uniform((b,), gen, x) < 0.5).to(x.dtype)
    if "rotation" in ops:
        theta = _masked(b, gen, x, p, lambda u: (u * 2 - 1) * math.radians(MAX_ROTATION_DEG))
        c, s = theta.flatten().cos(), theta.flatten().sin()
        a11, a12, a21, a22 = c * a11, -s, s * a11, c
    if "scale" in ops:
        scale = torch.exp2(_masked(b, gen, x, p, lambda u: (u * 2 - 1) * MAX_SCALE_LOG2)).flatten()
        a11, a12, a21, a22 = a11 / scale, a12 / scale, a21 / scale, a22 / scale
    if "translation" in ops:
        tx = _masked(b, gen, x, p, lambda u: (u * 2 - 1) * 2 * MAX_SHIFT).flatten()
        ty = _masked(b, gen, x, p, lambda u: (u * 2 - 1) * 2 * MAX_SHIFT).flatten()
    theta = torch.stack([torch.stack([a11, a12, tx], 1), torch.stack([a21, a22, ty], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    # zero padding of (x - background) pads with the background value
    out = F.grid_sample(x - BACKGROUND, grid, mode="bilinear", align_corners=False)
    return out + BACKGROUND


def _cutout(x: torch.Tensor, gen: torch.Generator, p) -> torch.Tensor:
    b, _, h, w = x.shape
    ch, cw = int(h * CUTOUT_RATIO + 0.5), int(w * CUTOUT_RATIO + 0.5)
    cy = (_uniform((b, 1, 1), gen, x) * h).floor()
    cx = (_uniform((b, 1, 1), gen, x) * w).floor()
    applied = _apply(b, gen, x, p)[:, None, None] > 0
    rows = torch.arange(h, device=x.device, dtype=x.dtype)[None, :, None]
    cols = torch.arange(w, device=x.device, dtype=x.dtype)[None, None, :]
    inside = ((rows - cy).abs() <= ch // 2) & ((cols - cx).abs() <= cw // 2) & applied
    return torch.where(inside[:, None], torch.full_like(x, BACKGROUND), x)
