"""Open a trained run for inference, whatever its family."""

from __future__ import annotations

from pathlib import Path

from .families.mask2image.infer import Synthesizer
from .families.translate.infer import Translator
from .resume import read_run
from .sampling import Sampler


def load_model(
    path: str | Path, device: str = "cpu", prefer: str = "best"
) -> Sampler | Translator | Synthesizer:
    """A run's :class:`Sampler` (``gan``), :class:`Translator` (``translate``) or
    :class:`Synthesizer` (``mask2image``).

    Raises
    ------
    CheckpointError
        When the folder holds no readable checkpoint.
    """
    family = read_run(path).config.family
    if family == "translate":
        return Translator.from_checkpoint(path, device=device, prefer=prefer)
    if family == "mask2image":
        return Synthesizer.from_checkpoint(path, device=device, prefer=prefer)
    return Sampler.from_checkpoint(path, device=device, prefer=prefer)
