"""The Generate dock with a mask2image run: a Labels layer in, synthetic images on its grid."""

from __future__ import annotations

import numpy as np
import pytest

from napari_medgan.io import read_nifti
from napari_medgan.widgets.generate.widget import GenerateWidget

pytestmark = pytest.mark.gui


@pytest.fixture(scope="module")
def tissue_small():
    """The MNI152 T1 and tissue labels at 4 mm: ``(t1 ImageData, labels ImageData)``."""
    from napari_medgan.io.templates import mni152_tissue_labels

    t1, labels = mni152_tissue_labels()
    for image in (t1, labels):
        image.data = np.ascontiguousarray(image.data[::2, ::2, ::2])
        image.spacing = tuple(2 * s for s in image.spacing)
        image.affine = None
    return t1, labels


@pytest.fixture(scope="module")
def mask_run(tmp_path_factory, tissue_small):
    """A tiny tissue labels → T1 run trained by the engine directly."""
    import torch

    from napari_medgan.engine import TrainConfig, Trainer, Volume
    from napari_medgan.engine.families.mask2image.pairs import build_mask_pairs

    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("mask2image") / "tissue-to-t1"
    t1, lab = tissue_small
    pair = (
        Volume(lab.data, lab.spacing, name="tissue", origin=lab.origin),
        Volume(t1.data, t1.spacing, name="T1", origin=t1.origin),
    )
    cfg = TrainConfig(
        family="mask2image", size=32, steps=3, batch_size=4, base_channels=8, max_channels=16,
        augment=(), preview_every=0, checkpoint_every=0, device="cpu", out_dir=str(out),
    )  # fmt: skip
    trainer = Trainer(cfg, build_mask_pairs([pair], 32))
    for _ in trainer.run():
        pass
    trainer.close()
    return out


@pytest.fixture
def dock(make_napari_viewer, tissue_small, mask_run):
    viewer = make_napari_viewer()
    t1, lab = tissue_small
    viewer.add_image(t1.data, name="T1", scale=t1.spacing, translate=t1.origin)
    viewer.add_labels(lab.data, name="tissue", scale=lab.spacing, translate=lab.origin)
    widget = GenerateWidget(viewer)
    viewer.window.add_dock_widget(widget)
    assert widget.load(mask_run)
    return viewer, widget


def test_mask_run_offers_synthesis_only(dock, notes):
    _viewer, widget = dock
    assert widget.synthesizing and "masks → T1" in widget.info.text()
    assert widget.synth_btn.isVisibleTo(widget) and widget.deform.isVisibleTo(widget)
    assert not widget.translate_btn.isVisibleTo(widget) and not widget.generate_btn.isEnabled()
    assert widget.reference_label.text() == "labels layer"
    assert [widget.reference.itemText(i) for i in range(widget.reference.count())] == ["tissue"]
    assert not widget.generate()  # asked anyway (a script): refused with a message
    assert "Synthesize from labels" in notes[-1][1]


def test_variations_of_deformed_masks_land_on_the_labels_grid_and_save_together(
    dock, qtbot, tmp_path, notes
):
    viewer, widget = dock
    widget.n.setValue(2)
    widget.seed.setValue(5)
    widget.deform.setChecked(True)
    before = len(viewer.layers)
    assert widget.synthesize()
    qtbot.waitUntil(lambda: not widget.busy, timeout=60_000)
    assert not [n for n in notes if n[0] == "error"], notes
    assert len(viewer.layers) == before + 4  # per variation: its deformed mask and its image
    lab = viewer.layers["tissue"]
    images = [lay for lay in viewer.layers if lay.metadata.get("synthesized_from") == "tissue"]
    assert [im.metadata["seed"] for im in images] == [5, 6]
    for im in images:
        assert im.data.shape == lab.data.shape and np.allclose(im.scale, lab.scale)
        assert np.allclose(im.translate, lab.translate) and im.metadata["synthetic"]
        moved = viewer.layers[im.metadata["labels_layer"]]
        assert moved.__class__.__name__ == "Labels" and moved.data.shape == lab.data.shape
        assert not np.array_equal(moved.data, lab.data)  # deformed
    assert not np.allclose(images[0].data, images[1].data)
    saved = widget.save_layer(images[0], tmp_path / "synthetic.nii.gz")
    assert saved == tmp_path / "synthetic.nii.gz"
    labels_file = tmp_path / "synthetic_labels.nii.gz"
    read = read_nifti(labels_file)[0]
    moved = viewer.layers[images[0].metadata["labels_layer"]]
    assert np.array_equal(read.data, moved.data)
    assert np.allclose(read.origin, lab.translate) and np.allclose(read.spacing, lab.scale)


def test_a_label_value_the_run_never_saw_is_refused(dock, notes):
    viewer, widget = dock
    lab = viewer.layers["tissue"]
    edited = np.asarray(lab.data).copy()
    edited[edited == 3] = 7  # painted with a new label
    viewer.add_labels(edited, name="edited", scale=lab.scale, translate=lab.translate)
    widget.reference.setCurrentText("edited")
    before = len(viewer.layers)
    assert not widget.synthesize()
    assert "label value 7 never seen in training" in notes[-1][1]
    assert len(viewer.layers) == before and not widget.busy


def test_a_gan_run_cannot_synthesise(make_napari_viewer, train_tiny_run, tmp_path, notes):
    viewer = make_napari_viewer()
    widget = GenerateWidget(viewer)
    viewer.window.add_dock_widget(widget)
    assert widget.load(train_tiny_run(tmp_path / "gan", steps=2))
    assert not widget.synth_btn.isVisibleTo(widget)
    assert not widget.synthesize()
    assert "load a mask-to-image run" in notes[-1][1]
