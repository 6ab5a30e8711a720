"""The ``mask2image`` family: a label map (+ noise) → a matching synthetic scan."""

from .family import Mask2ImageFamily

__all__ = ["Mask2ImageFamily"]
