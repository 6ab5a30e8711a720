"""The Train widget's recipe menus (arch, class input, discriminator, precision) and extras."""

from __future__ import annotations

from pathlib import Path

import pytest

from napari_medgan.engine import TrainConfig
from napari_medgan.engine.config import ARCHS, CLASS_INPUTS, DISCRIMINATORS, PRECISIONS, preset

pytestmark = pytest.mark.gui
REPO = Path(__file__).resolve().parents[3]  # tests/widgets/train/ is three folders down
MENUS = {
    "arch": ARCHS,
    "class_input": CLASS_INPUTS,
    "discriminator": DISCRIMINATORS,
    "precision": PRECISIONS,
}


def test_recipe_menus_follow_the_preset_and_edit_config(qtbot):
    from napari_medgan.widgets.train.settings import TIPS, TrainSettings

    config = TrainConfig(
        device="cpu", out_dir="run", arch="upconv", class_input="embedding",
        discriminator="projection", precision="fp16", channels_last=True, augment_p=0.5,
    )  # fmt: skip
    w = TrainSettings(config)
    qtbot.addWidget(w)
    for name, choices in MENUS.items():
        assert tuple(w.fields[name].choices) == choices
        assert TIPS[name] and w.fields[name].tooltip == TIPS[name]
    # the form shows the config it was given
    shown = {n: w.fields[n].value for n in (*MENUS, "channels_last", "augment_p")}
    assert shown == {
        "arch": "upconv", "class_input": "embedding", "discriminator": "projection",
        "precision": "fp16", "channels_last": True, "augment_p": 0.5,
    }  # fmt: skip
    w.preset.value = "gpu"  # choosing a preset sets the menus from its recipe
    recipe = preset("gpu")
    for name in (*MENUS, "channels_last", "augment_p"):
        assert w.fields[name].value == getattr(recipe, name) == getattr(w.config, name), name
    assert w.config is config  # edited in place
    w.fields["arch"].value = "upconv"  # every menu still overrides the preset
    w.fields["precision"].value = "fp32"
    w.fields["discriminator"].value = "projection"
    w.fields["class_input"].value = "embedding"
    w.fields["channels_last"].value = False
    w.fields["z_dim"].value = 64
    w.fields["beta1"].value = 0.0
    assert (config.arch, config.precision, config.discriminator, config.class_input) == (
        "upconv",
        "fp32",
        "projection",
        "embedding",
    )
    assert (config.channels_last, config.z_dim, config.beta1) == (False, 64, 0.0)
    config.validate()
    w.preset.value = "cpu"
    assert (config.arch, config.precision, config.channels_last) == ("dcgan", "auto", False)


def test_settings_table_in_docs_names_the_widget_section_of_each_field(qtbot):
    from napari_medgan.widgets.train.fields import advanced_widgets, basic_widgets

    text = (REPO / "docs" / "cli.md").read_text()
    rows = [line.split("|")[1:-1] for line in text.splitlines() if line.startswith("| `")]
    documented = {c[0].strip().strip("`"): c[3].strip() for c in rows}
    basic, advanced = set(basic_widgets()), set(advanced_widgets())
    for name, where in documented.items():
        assert (name in basic, name in advanced) == (where == "basic", where == "advanced"), name


def test_ct_window_field_sets_the_window_and_refuses_unreadable_text(qtbot):
    from napari_medgan.engine import ConfigError
    from napari_medgan.widgets.train.settings import TrainSettings

    w = TrainSettings(TrainConfig(device="cpu", out_dir="run", ct_window=(-1000.0, 3000.0)))
    qtbot.addWidget(w)
    field = w.fields["ct_window"]
    assert field.value == "-1000,3000"
    field.value = "-200, 400"
    assert w.config.ct_window == (-200.0, 400.0)
    field.value = ""
    assert w.config.ct_window is None  # the default window
    field.value = "bone"
    assert "ff6b6b" in field.native.styleSheet()  # marked at once
    w.preset.value = "gpu"  # a refresh keeps what was typed, and Start would refuse it
    assert field.value == "bone"
    with pytest.raises(ConfigError, match="ct_window"):
        w.config.validate()
    w.apply(ct_window=(-500.0, 500.0))  # set from code (e.g. a resumed run): shown, unmarked
    assert (field.value, field.native.styleSheet()) == ("-500,500", "")
    field.value = "400,-200"
    assert field.native.styleSheet() == ""
    with pytest.raises(ConfigError, match="LOW < HIGH"):
        w.config.validate()


def test_compile_checkbox_edits_config_and_survives_a_preset_change(qtbot):
    from napari_medgan.widgets.train.settings import TIPS, TrainSettings

    config = TrainConfig(device="cpu", out_dir="run")
    w = TrainSettings(config)
    qtbot.addWidget(w)
    assert w.fields["compile"].value is False and "torch.compile" in TIPS["compile"]
    w.fields["compile"].value = True
    assert config.compile is True
    w.preset.value = "gpu"  # not part of a recipe: the user's choice stays
    assert config.compile is True and w.fields["compile"].value is True
