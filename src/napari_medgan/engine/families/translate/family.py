"""The ``translate`` family's update, preview and held-out score (pix2pix-class).

G maps a source slice to the same slice in the target contrast; D judges (source, image) pairs
patch by patch. G's loss is the seed's adversarial loss (``config.loss``) plus
``config.l1_weight`` times the L1 distance to the true target. Geometric augmentations of
``config.augment`` move both images of a pair alike before either network sees them; the
intensity ones and cutout are applied to D's inputs only (real and fake alike), so G still
learns the true intensity mapping.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from ...augment import GEOMETRIC, augment
from ...devices import autocast
from ...heldout_score import spread
from ...losses import d_loss, g_loss, r1_penalty
from ..base import Family, update_d, update_g
from ..paired import pair_batch
from .networks import PatchDiscriminator, UNetGenerator
from .pairs import SOURCE, TARGET

if TYPE_CHECKING:  # pragma: no cover
    from ...config import TrainConfig
    from ...data import SliceDataset
    from ...trainer import Trainer

#: Pairs shown in the preview (held-out ones when there are any).
PREVIEW_PAIRS = 4
#: Held-out pairs scored at most (spread over the held-out slices).
MAX_SCORED = 64


class TranslateFamily(Family):
    """Source image → target image; reports the adversarial terms and the L1 distance."""

    name = "translate"
    title = "an image-to-image translation"
    loss_names = ("loss_d", "loss_g", "l1", "d_real", "d_fake")
    score_name = "held-out MAE"

    def check_dataset(self, dataset: SliceDataset) -> None:
        from ...data import DataError

        if dataset.roles is None or dataset.images.shape[1] != 2:
            raise DataError(
                "a translation run needs source/target image pairs (give a source and a "
                "target scan), not single images"
            )

    def networks(self, config: TrainConfig, dataset: SliceDataset) -> tuple[nn.Module, nn.Module]:
        g = UNetGenerator(config.size, config.base_channels, config.max_channels, config.crop)
        return g, PatchDiscriminator(config.base_channels, config.max_channels)

    def prepare(self, t: Trainer) -> None:
        shown = t.heldout_set if t.heldout_set is not None else t.train_set
        t.preview_inputs = shown.images[spread(len(shown), PREVIEW_PAIRS)].clone()

    def step(self, t: Trainer) -> torch.Tensor:
        return translate_step(t)

    @torch.no_grad()
    def preview(self, t: Trainer) -> tuple[np.ndarray, list[str]]:
        """Rows: the sources, their translations by the EMA generator, the true targets."""
        pairs = t.preview_inputs.to(t.device)
        fake = t.sampling_generator()(pairs[:, :1]).float()
        rows = torch.stack([pairs[:, 0], fake[:, 0], pairs[:, 1]]).cpu().numpy()
        roles = t.dataset.roles or {}
        src = roles.get(SOURCE, {}).get("name", SOURCE)
        tgt = roles.get(TARGET, {}).get("name", TARGET)
        return rows, [src, f"{src} → {tgt}", tgt]

    def scorer(self, t: Trainer) -> PairScorer | None:
        if t.heldout_set is None:
            return None
        return PairScorer(t.heldout_set)


class PairScorer:
    """Mean absolute error of translated held-out sources to their true targets (model range).

    ``baseline`` is the identity's error: the source itself, in its own [-1, 1] window, taken
    as the target.
    """

    def __init__(self, heldout_set: SliceDataset, max_pairs: int = MAX_SCORED) -> None:
        self.pairs = heldout_set.images[spread(len(heldout_set), max_pairs)]
        self.baseline = float((self.pairs[:, 0] - self.pairs[:, 1]).abs().mean())

    @torch.no_grad()
    def score(self, generator: nn.Module, device: torch.device) -> float:
        was_training = generator.training
        generator.eval()
        try:
            errors = []
            for chunk in torch.split(self.pairs, 32):
                chunk = chunk.to(device)
                fake = generator(chunk[:, :1]).float()
                errors.append((fake[:, 0] - chunk[:, 1]).abs().flatten(1).mean(1).cpu())
        finally:
            generator.train(was_training)
        return float(torch.cat(errors).mean())


def translate_step(t: Trainer) -> torch.Tensor:
    """One D and one G update on a batch of pairs; the values of ``loss_names``."""
    cfg, dev, ada = t.config, t.device, t.ada
    pair = pair_batch(t)
    geometric = tuple(op for op in cfg.augment if op in GEOMETRIC)
    d_only = tuple(op for op in cfg.augment if op not in GEOMETRIC)
    pair = augment(pair, geometric, t.rng, ada.p)  # one transform for both images of a pair
    source, target = pair[:, :1], pair[:, 1:]
    t.G.train()
    t.D.train()
    with autocast(dev, t.precision):
        fake_g = t.G(source)
    fake = fake_g.detach().float()
    r1_now = cfg.r1_gamma > 0 and t.step % cfg.r1_every == 0
    real_in = augment(torch.cat([source, target], 1), d_only, t.rng, ada.p)
    if r1_now:
        real_in = real_in.detach().requires_grad_(True)
    fake_in = augment(torch.cat([source, fake], 1), d_only, t.rng, ada.p)
    with autocast(dev, t.precision, enabled=not r1_now):
        real_logits = t.D(real_in[:, :1], real_in[:, 1:]).float()
        fake_logits = t.D(fake_in[:, :1], fake_in[:, 1:]).float()
        loss_d = d_loss(real_logits, fake_logits, cfg.loss)
    if r1_now:
        loss_d = loss_d + cfg.r1_gamma / 2 * cfg.r1_every * r1_penalty(real_logits, real_in)
    update_d(t, loss_d, real_logits)
    with autocast(dev, t.precision):
        fake_in = augment(torch.cat([source, fake_g.float()], 1), d_only, t.rng, ada.p)
        adversarial = g_loss(t.D(fake_in[:, :1], fake_in[:, 1:]).float(), cfg.loss)
        l1 = (fake_g.float() - target).abs().mean()
        loss_g = adversarial + cfg.l1_weight * l1
    update_g(t, loss_g)
    with torch.no_grad():
        return torch.stack(
            [
                loss_d.detach(),
                adversarial.detach(),
                l1.detach(),
                torch.sigmoid(real_logits).mean(),
                torch.sigmoid(fake_logits).mean(),
            ]
        )
