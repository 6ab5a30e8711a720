"""Model families behind the one training loop: a registry by name.

``gan``: noise + class → image (the seed's GAN and conditional GAN). ``translate``: a real
source image → the same slice in a target contrast (pix2pix-class). ``mask2image``: a label map
and noise → a matching image (SPADE-class). A checkpoint's config names
its family; checkpoints written before families existed are ``gan``.
"""

from __future__ import annotations

from typing import Any

from .base import Family, HeldoutScore
from .gan import GanFamily
from .mask2image import Mask2ImageFamily
from .translate import TranslateFamily

FAMILIES: dict[str, type[Family]] = {
    f.name: f for f in (GanFamily, TranslateFamily, Mask2ImageFamily)
}
DEFAULT_FAMILY = "gan"


#: Short labels of the named series families report (progress lines, plots).
SERIES_LABELS = {
    "loss_d": "D",
    "loss_g": "G",
    "d_real": "D(real)",
    "d_fake": "D(fake)",
    "l1": "L1",
    "fm": "FM",
}


def series_label(name: str) -> str:
    """The short label of a reported series (its own name when none is set)."""
    return SERIES_LABELS.get(name, name)


class FamilyError(ValueError):
    """A request does not fit a run's family (say, sampling noise from a translation run)."""


def get_family(name: str) -> Family:
    """The family registered as ``name``; a :class:`FamilyError` naming the known ones."""
    try:
        return FAMILIES[name]()
    except KeyError:
        raise FamilyError(
            f"unknown model family {name!r}; choose from {', '.join(FAMILIES)}"
        ) from None


def family_of(config: dict[str, Any]) -> str:
    """The family a checkpoint's stored config names (``gan`` for older checkpoints)."""
    return str(config.get("family", DEFAULT_FAMILY))


def require_family(config: dict[str, Any], wanted: str, action: str, where: str = "") -> None:
    """Raise :class:`FamilyError` unless a run's ``config`` is of family ``wanted``."""
    have = family_of(config)
    if have != wanted:
        hint = {
            "gan": "use `napari-medgan generate` (or the Generate dock) to sample it",
            "translate": "use `napari-medgan translate RUN INPUT` (or the Generate dock with "
            "an image layer) to translate a scan",
            "mask2image": "use `napari-medgan synthesize RUN LABELS` (or the Generate dock with "
            "a Labels layer) to make images from a label map",
        }.get(have, "")
        place = f"{where} is" if where else "this run is"
        raise FamilyError(
            f"{place} a {have!r} run and cannot {action}" + (f"; {hint}" if hint else "")
        )


__all__ = [
    "DEFAULT_FAMILY",
    "FAMILIES",
    "Family",
    "FamilyError",
    "HeldoutScore",
    "family_of",
    "get_family",
    "require_family",
    "series_label",
]
