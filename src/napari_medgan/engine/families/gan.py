"""The ``gan`` family: noise + class → image, the seed's GAN and conditional GAN.

``gan_step`` works on the trainer's networks, optimisers, data and random generator; it returns
the losses as device tensors so a GPU run does not wait for the host on every step (the trainer
reads them when it reports).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from ..augment import augment
from ..devices import autocast
from ..ema import recalibrate_batchnorm
from ..heldout_score import HeldoutScorer
from ..losses import d_loss, g_loss, r1_penalty
from ..models import build_models
from .base import Family, update_d, update_g

if TYPE_CHECKING:  # pragma: no cover
    from ..config import TrainConfig
    from ..data import SliceDataset
    from ..trainer import Trainer

#: Latents of the preview: each condition is drawn from the same ones, so a column shows what
#: the condition alone changes and a row shows the variety within a condition.
PREVIEW_LATENTS = 4


def _batch(t: Trainer, b: int) -> tuple[torch.Tensor, torch.Tensor]:
    idx = torch.randint(0, t.images.shape[0], (b,), generator=t.rng, device=t.rng.device)
    idx = idx.to(t.device)
    return t.images[idx], t.labels[idx]


def _latents(t: Trainer, b: int) -> torch.Tensor:
    z = torch.randn(b, t.config.z_dim, generator=t.rng, device=t.rng.device)
    return z.to(t.device)


def _layout(x: torch.Tensor, t: Trainer) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last) if t.config.channels_last else x


def gan_step(t: Trainer) -> torch.Tensor:
    """One D step (with lazy R1) and one G step; returns ``[loss_d, loss_g, D(real), D(fake)]``."""
    cfg, dev, ada = t.config, t.device, t.ada
    b = cfg.batch_size
    real, y = _batch(t, b)
    real = _layout(real, t)
    t.G.train()
    t.D.train()
    # one generator forward serves both updates (as in the textbook loop): D sees it detached,
    # then G is trained through it against the updated D, so no second G forward is needed
    z = _latents(t, b)
    with autocast(dev, t.precision):
        fake_g = t.G(z, y)
    fake = _layout(fake_g.detach().float(), t)
    # discriminator step
    r1_now = cfg.r1_gamma > 0 and t.step % cfg.r1_every == 0
    real_in = augment(real, cfg.augment, t.rng, ada.p)
    if r1_now:
        real_in = real_in.detach().requires_grad_(True)
    with autocast(dev, t.precision, enabled=not r1_now):
        real_logits = t.D(real_in, y).float()
        fake_logits = t.D(augment(fake, cfg.augment, t.rng, ada.p), y).float()
        loss_d = d_loss(real_logits, fake_logits, cfg.loss)
    if r1_now:
        loss_d = loss_d + cfg.r1_gamma / 2 * cfg.r1_every * r1_penalty(real_logits, real_in)
    update_d(t, loss_d, real_logits)
    # generator step
    with autocast(dev, t.precision):
        fake_in = augment(_layout(fake_g.float(), t), cfg.augment, t.rng, ada.p)
        loss_g = g_loss(t.D(fake_in, y).float(), cfg.loss)
    update_g(t, loss_g)
    with torch.no_grad():
        return torch.stack(
            [
                loss_d.detach(),
                loss_g.detach(),
                torch.sigmoid(real_logits).mean(),
                torch.sigmoid(fake_logits).mean(),
            ]
        )


class GanFamily(Family):
    """Noise (and a class) → image: the DCGAN-class networks of ``engine.models``."""

    name = "gan"
    title = "a GAN"
    loss_names = ("loss_d", "loss_g", "d_real", "d_fake")
    score_name = "held-out SWD"

    def networks(self, config: TrainConfig, dataset: SliceDataset) -> tuple[nn.Module, nn.Module]:
        n_cls = len(dataset.class_names) if dataset.conditional else 1
        return build_models(
            config.size,
            n_cls,
            config.z_dim,
            config.base_channels,
            config.max_channels,
            config.arch,
            config.d_spectral_norm,
            config.class_input,
            config.discriminator,
        )

    def prepare(self, t: Trainer) -> None:
        preview_gen = torch.Generator().manual_seed(t.config.seed + 1)
        t.preview_inputs = torch.randn(PREVIEW_LATENTS, t.config.z_dim, generator=preview_gen)

    def step(self, t: Trainer) -> torch.Tensor:
        return gan_step(t)

    def calibrate(self, t: Trainer) -> None:
        seed = t.config.seed * 1_000_003 + t.step
        recalibrate_batchnorm(t.G_ema, t.n_classes, seed, device=t.device)

    @torch.no_grad()
    def preview(self, t: Trainer) -> tuple[np.ndarray, list[str]]:
        """EMA samples, ``(n_classes, PREVIEW_LATENTS, size, size)``: each row one condition,
        every row from the same fixed latents."""
        n, k = t.n_classes, t.preview_inputs.shape[0]
        z = t.preview_inputs.repeat(n, 1).to(t.device)
        labels = torch.arange(n, device=t.device).repeat_interleave(k)
        imgs = t.sampling_generator()(z, labels).float()
        names = t.dataset.class_names if t.dataset.conditional else ["sample"]
        return imgs[:, 0].reshape(n, k, *imgs.shape[-2:]).cpu().numpy(), list(names)

    def scorer(self, t: Trainer) -> HeldoutScorer | None:
        if t.heldout_set is None:
            return None
        return HeldoutScorer(t.train_set, t.heldout_set, t.config.z_dim, t.config.seed)
