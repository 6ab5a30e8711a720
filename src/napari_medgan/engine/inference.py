"""Open a trained run for inference, whatever its family."""

from __future__ import annotations

from pathlib import Path

from .families.translate.infer import Translator
from .resume import read_run
from .sampling import Sampler


def load_model(path: str | Path, device: str = "cpu", prefer: str = "best") -> Sampler | Translator:
    """A run's :class:`Sampler` (``gan``) or :class:`Translator` (``translate``).

    Raises
    ------
    CheckpointError
        When the folder holds no readable checkpoint.
    """
    if read_run(path).config.family == "translate":
        return Translator.from_checkpoint(path, device=device, prefer=prefer)
    return Sampler.from_checkpoint(path, device=device, prefer=prefer)
