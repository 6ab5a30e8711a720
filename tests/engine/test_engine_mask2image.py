"""The mask2image family: label/image pairs, training in the shared loop, resume, synthesis."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine_fixtures import tiny_config
from napari_medgan.engine import DataError, Trainer, Volume
from napari_medgan.engine.checkpoint import load_checkpoint
from napari_medgan.engine.families import FamilyError, get_family
from napari_medgan.engine.families.mask2image.deform import deform_labels
from napari_medgan.engine.families.mask2image.infer import Synthesizer
from napari_medgan.engine.families.mask2image.pairs import build_mask_pairs, resize_labels
from napari_medgan.engine.families.translate.infer import Translator


@pytest.fixture(scope="module")
def mni_pair() -> tuple[Volume, Volume]:
    """The MNI152 tissue labels and T1 at 4 mm, as (labels, image) volumes."""
    from napari_medgan.io.templates import mni152_tissue_labels

    t1, lab = mni152_tissue_labels()
    spacing = tuple(s * 2 for s in t1.spacing)
    return (
        Volume(np.ascontiguousarray(lab.data[::2, ::2, ::2]), spacing, name="tissue"),
        Volume(np.ascontiguousarray(t1.data[::2, ::2, ::2]), spacing, name="T1"),
    )


def m2i_config(out, **changes):
    return tiny_config(out, family="mask2image", augment=("translation", "gamma"), **changes)


def train(cfg, ds, resume=None):
    trainer = Trainer(cfg, ds, resume=resume)
    reports = list(trainer.run())
    trainer.close()
    return reports


def test_pairs_hold_label_indices_and_the_image(mni_pair):
    ds = build_mask_pairs([mni_pair], size=32)
    assert ds.images.shape[1:] == (2, 32, 32)
    assert ds.roles["labels"] == {"name": "tissue", "values": "0,1,2,3"}
    assert ds.roles["image"]["name"] == "T1" and set(ds.transforms) == {"image"}
    labels = ds.images[:, 0]
    assert set(labels.unique().tolist()) == {0.0, 1.0, 2.0, 3.0}  # indices, nothing in between
    # WM (index 3) is bright in T1: the image follows the labels it is paired with
    img = ds.images[:, 1]
    assert img[labels == 3].mean() > img[labels == 2].mean() > img[labels == 1].mean()


def test_label_values_map_to_indices_and_resizing_keeps_thin_labels():
    index = np.zeros((1, 40, 40), np.int64)
    index[0, :, 19:21] = 2  # a 2-px line: the majority of its one-hot share keeps it
    from napari_medgan.engine.data import resize_pad

    geom = resize_pad(np.zeros((1, 40, 40), np.float32), (1.0, 1.0), 32, 1.0)[1]
    out = resize_labels(index, 3, geom, 32)
    assert set(out.unique().tolist()) == {0.0, 2.0} and (out == 2).sum() >= 32
    sparse = Volume(np.where(np.arange(20)[:, None] > 9, 41, 7) * np.ones((20, 20)), name="s")
    image = Volume(np.random.default_rng(0).random((20, 20)).astype(np.float32), name="i")
    ds = build_mask_pairs([(sparse, image)], size=16)
    assert ds.roles["labels"]["values"] == "7,41" and set(ds.images[:, 0].unique().tolist()) == {
        0.0, 1.0}  # fmt: skip


def test_bad_pairs_are_refused_with_the_reason(mni_pair):
    labels, image = mni_pair
    moved = Volume(labels.data, labels.spacing, name="tissue", origin=(4.0, 0.0, 0.0))
    with pytest.raises(DataError, match=r"not on the same grid.*tissue: shape.*T1: shape"):
        build_mask_pairs([(moved, image)], size=32)
    fractional = Volume(labels.data + 0.5, labels.spacing, name="probabilities")
    with pytest.raises(DataError, match="fractional values, so it is not a label map"):
        build_mask_pairs([(fractional, image)], size=32)
    with pytest.raises(DataError, match=r"label value 3 never seen in training .*knows 0, 1, 2"):
        build_mask_pairs([mni_pair], size=32, label_values=[0, 1, 2])
    flat = Volume(np.zeros_like(labels.data), labels.spacing, name="empty")
    with pytest.raises(DataError, match="single value"):
        build_mask_pairs([(flat, image)], size=32)
    negative = Volume(labels.data.astype(np.int16) - 1, labels.spacing, name="neg")
    with pytest.raises(DataError, match="negative value -1"):
        build_mask_pairs([(negative, image)], size=32)


def test_mask2image_trains_in_the_shared_loop(tmp_path, mni_pair):
    ds = build_mask_pairs([mni_pair], size=32)
    reports = train(m2i_config(tmp_path, steps=10, score_every=5), ds)
    assert list(reports[-1].losses) == list(get_family("mask2image").loss_names)
    assert all(np.isfinite(list(r.losses.values())).all() for r in reports)
    previews = [r for r in reports if r.preview is not None]
    assert previews[-1].preview.shape == (4, 4, 32, 32)
    assert previews[-1].preview_names == ["tissue", "synthetic", "synthetic", "T1"]
    # two noises give two different images of the same masks
    assert not np.allclose(previews[-1].preview[1], previews[-1].preview[2])
    scored = [r for r in reports if r.heldout_score is not None]
    assert scored and scored[-1].heldout_baseline > 0
    ckpt = load_checkpoint(tmp_path)
    assert ckpt.config["family"] == "mask2image"
    assert ckpt.meta["roles"]["labels"]["values"] == "0,1,2,3"


def test_resume_is_exact(tmp_path, mni_pair):
    ds = build_mask_pairs([mni_pair], size=32)
    cfg = m2i_config(tmp_path / "a", steps=6)
    train(cfg, ds)
    train(cfg.replace(out_dir=str(tmp_path / "b"), steps=3), ds)
    train(cfg.replace(out_dir=str(tmp_path / "b")), ds, resume=tmp_path / "b")
    a, b = load_checkpoint(tmp_path / "a"), load_checkpoint(tmp_path / "b")
    for name in ("G", "G_ema", "D"):
        for key, value in a.models[name].items():
            assert torch.equal(value, b.models[name][key]), (name, key)


def test_synthesizer_keeps_the_label_grid_and_varies_with_the_seed(tmp_path, mni_pair):
    ds = build_mask_pairs([mni_pair], size=32)
    train(m2i_config(tmp_path, steps=3, preview_every=0), ds)
    synth = Synthesizer.from_checkpoint(tmp_path)
    labels, _ = mni_pair
    seen = []
    out = synth.synthesize(labels, seed=1, progress=lambda *p: seen.append(p), chunk=8)
    assert out.shape == labels.data.shape and out.dtype == np.float32
    n = synth.slice_count(labels)
    assert seen[0] == (0, n) and seen[-1] == (n, n)
    t = synth.transforms["image"]
    assert t.low <= out.min() and out.max() <= t.high
    assert np.array_equal(out, synth.synthesize(labels, seed=1, chunk=8))  # a seed is a sample
    assert not np.array_equal(out, synth.synthesize(labels, seed=2))
    one = synth.synthesize(Volume(labels.data[10], labels.spacing[1:], name="slice"))
    assert one.shape == labels.data[10].shape
    unknown = Volume(np.where(labels.data == 3, 9, labels.data), labels.spacing, name="edited")
    with pytest.raises(FamilyError, match="label value 9 never seen"):
        synth.synthesize(unknown)
    with pytest.raises(FamilyError, match="'mask2image' run and cannot translate"):
        Translator.from_checkpoint(tmp_path)
    with pytest.raises(FamilyError, match="'translate' run and cannot make images"):
        from napari_medgan.engine.families.translate.pairs import build_pairs

        src = Volume(mni_pair[1].data, mni_pair[1].spacing, name="T1")
        tgt = Volume(mni_pair[1].data * 2, mni_pair[1].spacing, name="T1x2")
        train(tiny_config(tmp_path / "tr", family="translate", steps=2, preview_every=0),
              build_pairs([(src, tgt)], size=32))  # fmt: skip
        Synthesizer.from_checkpoint(tmp_path / "tr")


def test_a_mask2image_run_needs_label_pairs(tmp_path, mni_pair):
    from napari_medgan.engine import build_dataset

    single = build_dataset([mni_pair[1]], size=32)
    with pytest.raises(DataError, match="needs pairs of a label map and its scan"):
        Trainer(m2i_config(tmp_path), single)


def test_deformation_is_smooth_keeps_values_and_depends_on_the_seed(mni_pair):
    labels = mni_pair[0].data
    moved = deform_labels(labels, mni_pair[0].spacing, seed=0)
    assert moved.shape == labels.shape and moved.dtype == labels.dtype
    assert set(np.unique(moved)) <= set(np.unique(labels))
    changed = (moved != labels).mean()
    assert 0.005 < changed < 0.3  # moved, but still the same anatomy
    assert not np.array_equal(moved, deform_labels(labels, mni_pair[0].spacing, seed=1))
    assert np.array_equal(moved, deform_labels(labels, mni_pair[0].spacing, seed=0))
    two_d = deform_labels(labels[10], mni_pair[0].spacing[1:], seed=0)
    assert two_d.shape == labels[10].shape


def test_growing_white_matter_grows_the_bright_region(tmp_path, mni_pair):
    """Edit test: after a short training, turning a 1-voxel ring of GM into WM in the mask
    brightens that ring and grows the bright (WM-like) area of the synthetic image."""
    from scipy import ndimage

    labels, _ = mni_pair
    ds = build_mask_pairs([mni_pair], size=32)
    cfg = tiny_config(
        tmp_path, family="mask2image", steps=120, batch_size=8, base_channels=8,
        max_channels=32, augment=(), preview_every=0, score_every=0, seed=0,
    )  # fmt: skip
    train(cfg, ds)
    synth = Synthesizer.from_checkpoint(tmp_path)
    wm, gm = labels.data == 3, labels.data == 2
    ring = ndimage.binary_dilation(wm, iterations=1) & gm
    edited = np.where(ring, 3, labels.data).astype(labels.data.dtype)
    before = synth.synthesize(labels, seed=0)
    after = synth.synthesize(Volume(edited, labels.spacing, name="grown"), seed=0)
    contrast = before[wm].mean() - before[gm].mean()
    assert contrast > 0  # it learned that WM is brighter than GM in T1
    assert after[ring].mean() - before[ring].mean() > 0.15 * contrast
    bright = (before[wm].mean() + before[gm].mean()) / 2
    grown = (after > bright).sum() - (before > bright).sum()
    assert grown > 0.1 * ring.sum()
