"""The Train dock for the mask2image family: a Labels layer + its image, a real short run."""

from __future__ import annotations

import numpy as np
import pytest

from napari_medgan.engine.checkpoint import load_checkpoint

pytestmark = pytest.mark.gui


def pick_mask2image(widget, small_config, folder, **changes):
    widget.family.setCurrentIndex(widget.family.findData("mask2image"))
    widget.settings.apply(
        **small_config(
            family="mask2image", crop=0, out_dir=str(folder / "run"), augment=(), **changes
        )
    )


def test_mask2image_run_from_the_sample_pair(
    make_napari_viewer, tmp_path, notes, make_train_widget, wait_idle, small_config
):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-medgan", "mni152_tissue")  # File ▸ Open Sample
    t1, labels = viewer.layers["MNI152 T1"], viewer.layers["MNI152 tissue labels"]
    assert labels.__class__.__name__ == "Labels" and labels.data.shape == t1.data.shape
    widget = make_train_widget(viewer, tmp_path)
    pick_mask2image(widget, small_config, tmp_path, steps=4, preview_every=2)
    assert widget.mask_pairs.isVisibleTo(widget) and not widget.pairs.isVisibleTo(widget)
    assert not widget.gan_inputs.isVisibleTo(widget)
    assert widget.mask_pairs.source.currentText() == "MNI152 tissue labels"
    widget.mask_pairs.target.setCurrentText("MNI152 T1")
    assert widget.start()
    wait_idle(widget, timeout=180_000)
    assert not [n for n in notes if n[0] == "error"], notes
    r = widget.last_report
    assert r.status == "finished" and r.step == 4 and "fm" in r.losses
    ckpt = load_checkpoint(tmp_path / "run")
    assert ckpt.config["family"] == "mask2image"
    assert ckpt.meta["roles"]["labels"]["values"] == "0,1,2,3"
    preview = viewer.layers["MedGAN preview"]
    assert preview.metadata["conditions"][-1] == "MNI152 T1"
    assert "fm" in widget.plot.lines and np.isfinite(widget.plot.values["fm"][-1])
    assert "mask-to-image MNI152 tissue labels → MNI152 T1" in widget.summary.text()


@pytest.mark.parametrize("problem", ["other grid", "no labels"])
def test_bad_label_inputs_are_refused_with_a_notification(
    make_napari_viewer, tmp_path, notes, add_mni, make_train_widget, small_config, problem
):
    viewer = make_napari_viewer()
    add_mni(viewer)
    widget = make_train_widget(viewer, tmp_path)
    pick_mask2image(widget, small_config, tmp_path)
    t1 = viewer.layers["T1"]
    if problem == "other grid":
        lab = (np.asarray(t1.data)[:, 2:] > 300).astype(np.uint8)
        viewer.add_labels(lab, name="cropped", scale=t1.scale, translate=t1.translate)
        expected = "not on the same grid"
    else:
        expected = "choose a Labels layer"
    widget.mask_pairs.target.setCurrentText("T1")
    assert not widget.start()
    errors = [text for kind, text in notes if kind == "error"]
    assert errors and expected in errors[-1], errors
    assert not (tmp_path / "run").exists()
