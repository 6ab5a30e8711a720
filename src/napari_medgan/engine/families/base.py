"""What a model family brings to the shared training loop.

The :class:`~napari_medgan.engine.trainer.Trainer` owns everything every family shares: the run
folder and its lock, the held-out split, optimisers, EMA of the generator, adaptive augmentation,
mixed precision, checkpoints, exact resume, stop/pause and the report stream. A family supplies
the rest: its networks, what one update does and which losses it reports, its preview, its
held-out score and the check that a data set fits it. See ``TEMPLATE.md`` for a new family.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Protocol

import numpy as np
import torch
from torch import nn

if TYPE_CHECKING:  # pragma: no cover
    from ..config import TrainConfig
    from ..data import SliceDataset
    from ..trainer import Trainer


class HeldoutScore(Protocol):
    """A held-out score: lower is better; ``baseline`` is the reference line beside it."""

    baseline: float

    def score(self, generator: nn.Module, device: torch.device) -> float: ...


class Family:
    """One kind of model behind the shared loop; subclasses are registered in ``families``.

    Attributes
    ----------
    name : str
        The ``family`` setting that selects it (stored in every checkpoint's config).
    title : str
        What a log line calls a run of it.
    loss_names : tuple of str
        The named series :meth:`step` returns, in order; reports carry them as ``losses``.
    score_name : str
        What the held-out score measures (shown beside it).
    """

    name: ClassVar[str]
    title: ClassVar[str]
    loss_names: ClassVar[tuple[str, ...]]
    score_name: ClassVar[str] = "held-out score"

    def check_dataset(self, dataset: SliceDataset) -> None:
        """Raise ``DataError`` when ``dataset`` cannot train this family."""

    def networks(self, config: TrainConfig, dataset: SliceDataset) -> tuple[nn.Module, nn.Module]:
        """A freshly initialised generator and discriminator (weights from the global RNG)."""
        raise NotImplementedError

    def prepare(self, t: Trainer) -> None:
        """Fixed inputs of the preview and the held-out score, once the split is known."""

    def step(self, t: Trainer) -> torch.Tensor:
        """One discriminator and one generator update; the values of :attr:`loss_names`."""
        raise NotImplementedError

    def calibrate(self, t: Trainer) -> None:
        """Make ``t.G_ema`` ready to sample (e.g. BatchNorm statistics for its own weights)."""

    def preview(self, t: Trainer) -> tuple[np.ndarray, list[str]]:
        """``(rows, columns, size, size)`` images in the model range and a name per row."""
        raise NotImplementedError

    def scorer(self, t: Trainer) -> HeldoutScore | None:
        """The held-out scorer of a run, or None when nothing can be scored."""
        return None


def update_d(t: Trainer, loss_d: torch.Tensor, real_logits: torch.Tensor) -> None:
    """Step D on ``loss_d`` (through the loop's grad scaler), show ADA D's logits of the real
    batch, and freeze D for the generator's update."""
    t.opt_d.zero_grad(set_to_none=True)
    t.scaler.scale(loss_d).backward()
    t.scaler.step(t.opt_d)
    t.ada.observe(real_logits, t.step + 1)
    t.D.requires_grad_(False)


def update_g(t: Trainer, loss_g: torch.Tensor) -> None:
    """Step G on ``loss_g``, update the grad scaler, and unfreeze D."""
    t.opt_g.zero_grad(set_to_none=True)
    t.scaler.scale(loss_g).backward()
    t.scaler.step(t.opt_g)
    t.scaler.update()
    t.D.requires_grad_(True)
