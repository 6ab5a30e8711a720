"""A cheap held-out score during training, for picking the best checkpoint.

Every ``score_every`` steps the trainer renders a fixed set of EMA samples (fixed latents, so
only the weights change between scores) and measures their sliced Wasserstein distance
(``engine.metrics.swd``: Laplacian-pyramid 7x7 patches) to the held-out slices of the same
condition, with as many samples as held-out slices per condition (at most
``MAX_PER_CONDITION``). The score is the mean over conditions; lower is better.

Beside it, ``baseline`` is the same distance from the same number of *training* slices to the
held-out ones: what a generator reproducing the training distribution would score at this
count. It is a reference line, not a target: a score far below it on tiny held-out sets is
noise or luck.

This is a model-selection signal, not an evaluation (``napari-medgan evaluate`` scores a run);
its cost and noise are measured in docs/evaluation.md ("The held-out score during training").
"""

from __future__ import annotations

import numpy as np
import torch

from .data import SliceDataset

MAX_PER_CONDITION = 64
LATENT_STREAM = 2  # latents come from seed + this, apart from the batch and preview streams


class HeldoutScorer:
    """SWD of fixed EMA samples against held-out slices, per condition, averaged.

    Parameters
    ----------
    train_set, heldout_set : SliceDataset
        The trainer's split; only conditions with held-out slices are scored.
    z_dim : int
        Latent size of the generator.
    seed : int
        Run seed; fixes the latents, the slices chosen and the SWD's projections.
    max_per_condition : int
        Cap on held-out slices (and samples) per condition, to bound the cost.
    """

    def __init__(
        self,
        train_set: SliceDataset,
        heldout_set: SliceDataset,
        z_dim: int,
        seed: int,
        max_per_condition: int = MAX_PER_CONDITION,
    ) -> None:
        from .metrics.swd import swd  # imported only when scoring is on

        self._swd = swd
        self.seed = int(seed)
        gen = torch.Generator().manual_seed(self.seed + LATENT_STREAM)
        self.real: dict[int, np.ndarray] = {}
        self.latents: dict[int, torch.Tensor] = {}
        baselines = []
        for label in sorted(set(heldout_set.labels.tolist())):
            held = heldout_set.images[heldout_set.labels == label][:, 0].numpy()
            held = held[spread(len(held), max_per_condition)]
            self.real[label] = held
            self.latents[label] = torch.randn(len(held), z_dim, generator=gen)
            train = train_set.images[train_set.labels == label][:, 0].numpy()
            if len(train):
                baselines.append(self._distance(train[spread(len(train), len(held))], held))
        self.baseline = float(np.mean(baselines)) if baselines else float("nan")

    @property
    def n_images(self) -> int:
        """Samples rendered per score (all conditions)."""
        return sum(len(v) for v in self.real.values())

    @torch.no_grad()
    def score(self, generator: torch.nn.Module, device: torch.device) -> float:
        """Mean per-condition SWD of the generator's fixed samples to the held-out slices."""
        was_training = generator.training
        generator.eval()
        try:
            values = []
            for label, real in self.real.items():
                z = self.latents[label].to(device)
                y = torch.full((len(z),), label, dtype=torch.int64, device=device)
                fake = generator(z, y).float()[:, 0].clamp(-1, 1).cpu().numpy()
                values.append(self._distance(fake, real))
        finally:
            generator.train(was_training)
        return float(np.mean(values))

    def _distance(self, images: np.ndarray, reference: np.ndarray) -> float:
        return float(self._swd(images, reference, seed=self.seed).value)


def spread(n: int, k: int) -> np.ndarray:
    """``min(n, k)`` indices spread evenly over ``range(n)`` (all of them when ``k >= n``)."""
    if k >= n:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, k).round().astype(np.int64))
