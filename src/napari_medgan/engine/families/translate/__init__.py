"""The ``translate`` family: a real source image → the same slice in a target contrast."""

from .family import TranslateFamily

__all__ = ["TranslateFamily"]
