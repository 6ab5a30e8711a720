"""Adversarial losses on raw discriminator logits, and the R1 penalty.

``minimax`` is the original game of the seed document,
``min_G max_D E[log D(x)] + E[log(1 - D(G(z)))]``
with ``D = sigmoid(logit)``: D minimises ``softplus(-l_real) + softplus(l_fake)`` and G minimises
``log(1 - D(G(z))) = -softplus(l_fake)``. ``nonsaturating`` keeps D's loss but G maximises
``log D(G(z))`` instead (stronger gradients early on). ``hinge`` is the SNGAN/BigGAN variant.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, kind: str) -> torch.Tensor:
    """Discriminator loss (to minimise)."""
    if kind in ("minimax", "nonsaturating"):
        return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
    if kind == "hinge":
        return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()
    raise ValueError(f"unknown loss {kind!r}")


def g_loss(fake_logits: torch.Tensor, kind: str) -> torch.Tensor:
    """Generator loss (to minimise)."""
    if kind == "minimax":
        return -F.softplus(fake_logits).mean()
    if kind == "nonsaturating":
        return F.softplus(-fake_logits).mean()
    if kind == "hinge":
        return -fake_logits.mean()
    raise ValueError(f"unknown loss {kind!r}")


def r1_penalty(real_logits: torch.Tensor, real_images: torch.Tensor) -> torch.Tensor:
    """Mean squared gradient norm of D at real images (``real_images`` must require grad)."""
    (grad,) = torch.autograd.grad(real_logits.sum(), real_images, create_graph=True)
    return grad.pow(2).flatten(1).sum(1).mean()
