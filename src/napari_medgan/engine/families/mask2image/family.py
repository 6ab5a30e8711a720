"""The ``mask2image`` family's update, preview and held-out score (SPADE-class).

G turns a label map and noise into an image; D judges (labels, image) pairs patch by patch at
two scales. G's loss is the seed's adversarial loss (``config.loss``) plus ``config.fm_weight``
times the feature-matching distance (pix2pixHD): D's intermediate features of the synthetic image
against those of the real image of the same mask, both passed through the same augmentation.
There is no pixel loss, so the noise is free to vary the image. Geometric augmentations move a
mask and its image alike (labels as one-hot maps); intensity ones and cutout touch D's images only.
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
from .networks import MaskPatchDiscriminator, SpadeGenerator, make_noise, one_hot
from .pairs import IMAGE, LABELS, parse_label_values

if TYPE_CHECKING:  # pragma: no cover
    from ...config import TrainConfig
    from ...data import SliceDataset
    from ...trainer import Trainer

#: Masks shown in the preview (held-out ones when there are any).
PREVIEW_PAIRS = 4
#: Held-out pairs scored at most.
MAX_SCORED = 64
#: Noise stream of the preview and the scorer, apart from the batch stream.
NOISE_STREAM = 3


def n_labels_of(dataset: SliceDataset) -> int:
    return len(parse_label_values((dataset.roles or {})[LABELS]["values"]))


def label_image(index: torch.Tensor, n_labels: int) -> torch.Tensor:
    """Label indices shown as an image in [-1, 1] (first label black, last white)."""
    return index / max(n_labels - 1, 1) * 2 - 1


class Mask2ImageFamily(Family):
    """Label map + noise → image; reports the adversarial terms and feature matching."""

    name = "mask2image"
    title = "a mask-to-image synthesis"
    loss_names = ("loss_d", "loss_g", "fm", "d_real", "d_fake")
    score_name = "held-out SWD"

    def check_dataset(self, dataset: SliceDataset) -> None:
        from ...data import DataError

        roles = dataset.roles or {}
        if LABELS not in roles or dataset.images.shape[1] != 2:
            raise DataError(
                "a mask-to-image run needs pairs of a label map and its scan (give --labels "
                "with the scans, or a Labels layer with the image), not single images"
            )

    def networks(self, config: TrainConfig, dataset: SliceDataset) -> tuple[nn.Module, nn.Module]:
        k = n_labels_of(dataset)
        g = SpadeGenerator(config.size, k, config.base_channels, config.max_channels, config.crop)
        return g, MaskPatchDiscriminator(k, config.base_channels, config.max_channels)

    def prepare(self, t: Trainer) -> None:
        self.n_labels = n_labels_of(t.dataset)
        shown = t.heldout_set if t.heldout_set is not None else t.train_set
        t.preview_inputs = shown.images[spread(len(shown), PREVIEW_PAIRS)].clone()
        gen = torch.Generator().manual_seed(t.config.seed + NOISE_STREAM)
        size = t.config.size
        self.preview_noise = make_noise(2 * PREVIEW_PAIRS, size, size, gen)

    def step(self, t: Trainer) -> torch.Tensor:
        return mask2image_step(t, self.n_labels)

    @torch.no_grad()
    def preview(self, t: Trainer) -> tuple[np.ndarray, list[str]]:
        """Rows: the masks, two syntheses of each (two noises) by the EMA generator, the real."""
        pairs = t.preview_inputs.to(t.device)
        k, n = self.n_labels, len(pairs)
        labels = one_hot(pairs[:, :1], k)
        g = t.sampling_generator()
        noise = self.preview_noise.to(t.device)
        fakes = [g(labels, noise[i * n : (i + 1) * n]).float()[:, 0] for i in range(2)]
        rows = torch.stack([label_image(pairs[:, 0], k), *fakes, pairs[:, 1]]).cpu().numpy()
        roles = t.dataset.roles or {}
        image = roles.get(IMAGE, {}).get("name", IMAGE)
        return rows, [roles.get(LABELS, {}).get("name", LABELS), "synthetic", "synthetic",
                      image]  # fmt: skip

    def scorer(self, t: Trainer) -> MaskPairScorer | None:
        if t.heldout_set is None:
            return None
        return MaskPairScorer(t.train_set, t.heldout_set, self.n_labels, t.config.seed)


class MaskPairScorer:
    """SWD of syntheses from the held-out masks (fixed noise) to the held-out images.

    ``baseline`` is the same distance from as many real *training* images to the held-out ones.
    """

    def __init__(
        self, train_set: SliceDataset, heldout_set: SliceDataset, n_labels: int, seed: int
    ) -> None:
        from ...metrics.swd import swd  # imported only when scoring is on

        self._swd, self.seed, self.n_labels = swd, int(seed), n_labels
        self.pairs = heldout_set.images[spread(len(heldout_set), MAX_SCORED)]
        size = self.pairs.shape[-1]
        gen = torch.Generator().manual_seed(self.seed + NOISE_STREAM + 1)
        self.noise = make_noise(len(self.pairs), size, size, gen)
        self.real = self.pairs[:, 1].numpy()
        train = train_set.images[:, 1].numpy()
        self.baseline = self._distance(train[spread(len(train), len(self.real))])

    def _distance(self, images: np.ndarray) -> float:
        return float(self._swd(images, self.real, seed=self.seed).value)

    @torch.no_grad()
    def score(self, generator: nn.Module, device: torch.device) -> float:
        was_training = generator.training
        generator.eval()
        try:
            fakes = []
            for pairs, noise in zip(torch.split(self.pairs, 32), torch.split(self.noise, 32)):
                labels = one_hot(pairs[:, :1].to(device), self.n_labels)
                fakes.append(generator(labels, noise.to(device)).float()[:, 0].clamp(-1, 1).cpu())
        finally:
            generator.train(was_training)
        return self._distance(torch.cat(fakes).numpy())


def _labels_and_image(t: Trainer, n_labels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of (one-hot labels, image), cropped and geometrically augmented alike."""
    cfg = t.config
    pair = pair_batch(t)
    geometric = tuple(op for op in cfg.augment if op in GEOMETRIC)
    x = torch.cat([one_hot(pair[:, :1], n_labels) * 2 - 1, pair[:, 1:]], dim=1)
    x = augment(x, geometric, t.rng, t.ada.p)
    labels = (x[:, :n_labels] + 1) / 2
    # what the resampling moved in from outside the slice is background (index 0)
    outside = (1 - labels.sum(1, keepdim=True)).clamp(min=0)
    labels = torch.cat([labels[:, :1] + outside, labels[:, 1:]], dim=1)
    return labels, x[:, n_labels:]


def mask2image_step(t: Trainer, n_labels: int) -> torch.Tensor:
    """One D and one G update on a batch of (labels, image) pairs; the values of ``loss_names``."""
    cfg, dev, ada = t.config, t.device, t.ada
    d_only = tuple(op for op in cfg.augment if op not in GEOMETRIC)
    labels, real = _labels_and_image(t, n_labels)
    noise = make_noise(len(real), real.shape[-2], real.shape[-1], t.rng, dev)
    t.G.train()
    t.D.train()
    with autocast(dev, t.precision):
        fake_g = t.G(labels, noise)
    fake = fake_g.detach().float()
    r1_now = cfg.r1_gamma > 0 and t.step % cfg.r1_every == 0
    real_in = augment(real, d_only, t.rng, ada.p)
    if r1_now:
        real_in = real_in.detach().requires_grad_(True)
    with autocast(dev, t.precision, enabled=not r1_now):
        real_logits = t.D(labels, real_in)[0].float()
        fake_logits = t.D(labels, augment(fake, d_only, t.rng, ada.p))[0].float()
        loss_d = d_loss(real_logits, fake_logits, cfg.loss)
    if r1_now:
        loss_d = loss_d + cfg.r1_gamma / 2 * cfg.r1_every * r1_penalty(real_logits, real_in)
    update_d(t, loss_d, real_logits)
    with autocast(dev, t.precision):
        # the same augmentation for the real and the synthetic image of each mask
        both = augment(torch.cat([real, fake_g.float()], 1), d_only, t.rng, ada.p)
        with torch.no_grad():
            real_feats = t.D(labels, both[:, :1])[1]
        logits, fake_feats = t.D(labels, both[:, 1:])
        adversarial = g_loss(logits.float(), cfg.loss)
        fm = torch.stack(
            [(f.float() - r.float()).abs().mean() for f, r in zip(fake_feats, real_feats)]
        ).mean()
        loss_g = adversarial + cfg.fm_weight * fm
    update_g(t, loss_g)
    with torch.no_grad():
        return torch.stack(
            [
                loss_d.detach(),
                adversarial.detach(),
                fm.detach(),
                torch.sigmoid(real_logits).mean(),
                torch.sigmoid(fake_logits).mean(),
            ]
        )
