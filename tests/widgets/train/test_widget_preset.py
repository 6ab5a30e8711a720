"""The Train widget's preset menu: picking a preset sets the recipe, fields still override it."""

from __future__ import annotations

import pytest

from napari_medgan.engine import TrainConfig

pytestmark = pytest.mark.gui


def test_preset_menu_sets_recipe_and_fields_still_override(qtbot):
    from napari_medgan.widgets.train.settings import TrainSettings

    w = TrainSettings(TrainConfig(device="cpu", out_dir="run"))
    qtbot.addWidget(w)
    assert w.preset.value == "cpu"  # chosen from the device
    w.preset.value = "gpu"
    assert w.config.size == 128 and w.config.channels_last
    assert w.fields["size"].value == 128  # the form shows what the trainer gets
    w.fields["batch_size"].value = 16  # every setting stays overridable
    assert w.config.batch_size == 16
    w.preset.value = "cpu"
    assert (w.config.size, w.config.batch_size, w.config.channels_last) == (64, 64, False)
    w.config.validate()
