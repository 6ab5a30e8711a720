"""The Generate dock with a translation run: a layer in, its translation out on the same grid."""

from __future__ import annotations

import numpy as np
import pytest

from napari_medgan.io import read_nifti
from napari_medgan.widgets.evaluate.widget import EvaluateWidget
from napari_medgan.widgets.generate.widget import GenerateWidget

pytestmark = pytest.mark.gui


@pytest.fixture(scope="module")
def translation_run(tmp_path_factory, mni_small):
    """A tiny T1 → GM translation run trained by the engine directly."""
    import torch

    from napari_medgan.engine import TrainConfig, Trainer, Volume
    from napari_medgan.engine.families.translate.pairs import build_pairs

    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("translate") / "t1-to-gm"
    t1, gm = mni_small["T1"], mni_small["GM"]
    pair = (
        Volume(t1.data, t1.spacing, name="T1", origin=t1.origin),
        Volume(gm.data, gm.spacing, name="GM", origin=gm.origin),
    )
    cfg = TrainConfig(
        family="translate", size=32, steps=3, batch_size=4, base_channels=8, max_channels=16,
        augment=(), preview_every=0, checkpoint_every=0, device="cpu", out_dir=str(out),
    )  # fmt: skip
    trainer = Trainer(cfg, build_pairs([pair], 32))
    for _ in trainer.run():
        pass
    trainer.close()
    return out


@pytest.fixture
def dock(make_napari_viewer, add_mni, translation_run):
    viewer = make_napari_viewer()
    add_mni(viewer)
    widget = GenerateWidget(viewer)
    viewer.window.add_dock_widget(widget)
    assert widget.load(translation_run)
    return viewer, widget


def test_translation_run_offers_translate_only(dock, notes):
    _viewer, widget = dock
    assert widget.translating and "translation T1 → GM" in widget.info.text()
    assert widget.translate_btn.isVisibleTo(widget) and widget.translate_btn.isEnabled()
    assert not widget.generate_btn.isEnabled() and not widget.swap_btn.isEnabled()
    assert not widget.generate()  # asked anyway (a script): refused with a message
    assert "translation run" in notes[-1][1]


def test_translate_layer_lands_on_the_input_grid_and_saves(dock, qtbot, tmp_path, notes):
    viewer, widget = dock
    widget.reference.setCurrentText("T1")
    assert widget.translate()
    qtbot.waitUntil(lambda: not widget.busy, timeout=60_000)
    assert not [n for n in notes if n[0] == "error"], notes
    out, t1 = widget.last_layer, viewer.layers["T1"]
    assert out.name == "T1 → GM" and out.data.shape == t1.data.shape
    assert np.allclose(out.scale, t1.scale) and np.allclose(out.translate, t1.translate)
    assert np.allclose(out.affine.affine_matrix, t1.affine.affine_matrix)
    assert out.metadata["synthetic"] and out.metadata["translated_from"] == "T1"
    assert widget.save_target.currentText() == "T1 → GM"
    saved = widget.save_layer(out, tmp_path / "gm.nii.gz")
    image = read_nifti(saved)[0]
    assert image.data.shape == t1.data.shape
    assert np.allclose(image.origin, t1.translate) and np.allclose(image.spacing, t1.scale)


@pytest.mark.parametrize("problem", ["CT layer", "other units"])
def test_a_layer_in_other_units_is_refused(dock, qtbot, notes, mni_small, problem):
    viewer, widget = dock
    t1 = mni_small["T1"]
    if problem == "CT layer":
        viewer.add_image(t1.data, name="ct", scale=t1.spacing, metadata={"modality": "CT"})
        expected = "is CT"
    else:
        viewer.add_image(t1.data * 1000, name="ct", scale=t1.spacing, metadata={"modality": "MR"})
        expected = "other units"
    widget.reference.setCurrentText("ct")
    before = len(viewer.layers)
    assert widget.translate()
    qtbot.waitUntil(lambda: not widget.busy, timeout=60_000)
    errors = [text for kind, text in notes if kind == "error"]
    assert errors and expected in errors[-1], errors
    assert len(viewer.layers) == before  # nothing added


def test_evaluate_dock_refuses_a_translation_run(make_napari_viewer, translation_run, notes):
    viewer = make_napari_viewer()
    widget = EvaluateWidget(viewer)
    assert not widget.load(translation_run)
    assert "'translate' run" in notes[-1][1] and "Generate dock" in notes[-1][1]
