"""The Train dock for the translate family: pair inputs, a real short run, bad pairs."""

from __future__ import annotations

import numpy as np
import pytest

from napari_medgan.engine.checkpoint import load_checkpoint

pytestmark = pytest.mark.gui


def pick_translate(widget, small_config, folder, **changes):
    widget.family.setCurrentIndex(widget.family.findData("translate"))
    widget.settings.apply(
        **small_config(
            family="translate", crop=0, out_dir=str(folder / "run"), augment=(), **changes
        )
    )


def test_family_choice_swaps_inputs_and_recipe(make_napari_viewer, tmp_path, make_train_widget):
    viewer = make_napari_viewer()
    widget = make_train_widget(viewer, tmp_path)
    assert widget.gan_inputs.isVisibleTo(widget) and not widget.pairs.isVisibleTo(widget)
    widget.family.setCurrentIndex(widget.family.findData("translate"))
    config = widget.settings.config
    assert config.family == "translate" and config.l1_weight > 0
    assert config.batch_size == 16  # the translate recipe of the preset in use
    assert widget.pairs.isVisibleTo(widget) and not widget.gan_inputs.isVisibleTo(widget)
    widget.family.setCurrentIndex(widget.family.findData("gan"))
    assert widget.settings.config.family == "gan" and widget.gan_inputs.isVisibleTo(widget)


def test_translation_run_from_two_layers(
    make_napari_viewer, tmp_path, notes, add_mni, make_train_widget, wait_idle, small_config
):
    viewer = make_napari_viewer()
    add_mni(viewer)
    widget = make_train_widget(viewer, tmp_path)
    pick_translate(widget, small_config, tmp_path, steps=12, preview_every=4)
    widget.pairs.source.setCurrentText("T1")
    widget.pairs.target.setCurrentText("GM")
    assert widget.start()
    wait_idle(widget, timeout=180_000)
    assert not [n for n in notes if n[0] == "error"], notes
    r = widget.last_report
    assert r.status == "finished" and r.step == 12 and "l1" in r.losses
    ckpt = load_checkpoint(tmp_path / "run")
    assert ckpt.config["family"] == "translate"
    assert ckpt.meta["roles"]["source"]["name"] == "T1"
    preview = viewer.layers["MedGAN preview"]
    assert preview.metadata["conditions"] == ["T1", "T1 → GM", "GM"]
    assert preview.data.shape[0] == 3 * 32 + 2 * 2
    assert "l1" in widget.plot.lines and np.isfinite(widget.plot.values["l1"][-1])
    assert "translation T1 → GM" in widget.summary.text()
    # reopening the folder in a fresh dock shows it as a translation run
    again = make_train_widget(viewer, tmp_path / "other")
    again.settings.apply(out_dir=str(tmp_path / "run"))
    again.run_folder.update_note()
    assert again.family.currentData() == "translate" and again.pairs.isVisibleTo(again)


@pytest.mark.parametrize("problem", ["same layer", "other grid"])
def test_bad_pairs_are_refused_with_a_notification(
    make_napari_viewer, tmp_path, notes, add_mni, make_train_widget, small_config, problem,
    mni_small,
):  # fmt: skip
    viewer = make_napari_viewer()
    add_mni(viewer)
    widget = make_train_widget(viewer, tmp_path)
    pick_translate(widget, small_config, tmp_path)
    widget.pairs.source.setCurrentText("T1")
    if problem == "same layer":
        widget.pairs.target.setCurrentText("T1")
        expected = "both 'T1'"
    else:
        gm = mni_small["GM"]
        viewer.add_image(gm.data[:, 2:], name="GM cropped", scale=gm.spacing, translate=gm.origin)
        widget.pairs.target.setCurrentText("GM cropped")
        expected = "not on the same grid"
    assert not widget.start()
    errors = [text for kind, text in notes if kind == "error"]
    assert errors and expected in errors[-1], errors
    assert not (tmp_path / "run").exists()
