"""Exponential moving average of the generator, with BatchNorm statistics that fit its weights.

Copying the training generator's BatchNorm running statistics into the EMA generator pairs
averaged weights with statistics of different, newer weights (the seed engine's "stale
statistics"): samples then drift in brightness and contrast. Instead, :func:`recalibrate_batchnorm`
re-estimates the statistics of the EMA weights themselves from a few batches of latents, with a
generator of its own seeded from the step, so it never touches the training randomness and a
resumed run recalibrates to the same values.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


@torch.no_grad()
def update_ema(ema: nn.Module, net: nn.Module, decay: float) -> None:
    """``ema = decay * ema + (1 - decay) * net`` for every parameter (buffers are left alone)."""
    ema_params = [p for p in ema.parameters()]
    params = [p.detach() for p in net.parameters()]
    if decay == 0:
        torch._foreach_copy_(ema_params, params)
    else:
        torch._foreach_lerp_(ema_params, params, 1.0 - decay)


def ema_decay(decay: float, step: int) -> float:
    """Decay with a warm-up, so the average does not hold on to the random initial weights."""
    return min(decay, (1 + step) / (10 + step))


@torch.no_grad()
def recalibrate_batchnorm(
    generator: nn.Module,
    num_classes: int,
    seed: int,
    batches: int = 4,
    batch_size: int = 64,
    device: torch.device | str = "cpu",
) -> None:
    """Re-estimate every BatchNorm's running mean/variance of ``generator`` from fresh latents.

    Labels cycle through the classes, as in training batches. The module is left in eval mode.
    """
    norms = [m for m in generator.modules() if isinstance(m, _BatchNorm)]
    if not norms:
        return
    gen = torch.Generator(device="cpu").manual_seed(seed)
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches below
    generator.train()
    try:
        for _ in range(batches):
            z = torch.randn(batch_size, generator.z_dim, generator=gen).to(device)
            y = torch.randint(0, max(num_classes, 1), (batch_size,), generator=gen).to(device)
            generator(z, y)
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        generator.eval()
