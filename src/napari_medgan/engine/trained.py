"""Load a trained generator from a checkpoint, for any family's inference class."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from torch import nn

from .checkpoint import Checkpoint, CheckpointError, load_checkpoint
from .config import TrainConfig
from .families import require_family


def load_generator(
    path: str | Path,
    family: str,
    action: str,
    build: Callable[[TrainConfig, dict], nn.Module],
    use_ema: bool = True,
    prefer: str = "best",
) -> tuple[Checkpoint, TrainConfig, nn.Module]:
    """The checkpoint, its settings and its (EMA) generator with the weights loaded.

    ``build(config, meta)`` makes the empty network; a run of another family than ``family``
    is refused (``FamilyError``) with ``action`` saying what was asked of it.
    """
    ckpt = load_checkpoint(path, with_training_state=False, prefer=prefer)
    require_family(ckpt.config, family, action, where=str(path))
    try:
        config = TrainConfig.from_dict(ckpt.config)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{ckpt.path}: bad config in checkpoint ({exc})") from None
    g = build(config, ckpt.meta)
    key = "G_ema" if use_ema and "G_ema" in ckpt.models else "G"
    try:
        g.load_state_dict(ckpt.models[key])
    except (KeyError, RuntimeError) as exc:
        raise CheckpointError(f"{ckpt.path}: generator weights do not fit ({exc})") from None
    return ckpt, config, g
