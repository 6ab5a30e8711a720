"""Old location of :mod:`napari_medgan.widgets.train.fields`, kept only until
``tests/test_cli_options.py`` imports from there; remove it then."""

from .train.fields import BAD_WINDOW, field_value

__all__ = ["BAD_WINDOW", "field_value"]
