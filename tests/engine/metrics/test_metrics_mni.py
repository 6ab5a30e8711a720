"""Evaluation on real MNI152 slices under a held-out split: unseen real data scores like the real
baseline and is not flagged, and noise, an untrained generator and a briefly trained one rank as
they should (the disguised-copy controls are in test_metrics_gate.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_medgan.engine import Generator, SliceDataset, Volume, build_dataset
from napari_medgan.engine.metrics import prepare_reference, score

SIZE = 32
QUALITY = ("swd", "msssim_gap", "kid", "fd")  # lower is better


def mni_dataset() -> SliceDataset:
    """The three MNI152 templates (2 mm) as conditions T1/GM/WM, axial slices at 32 px."""
    from nilearn import datasets

    loaders = {
        "T1": datasets.load_mni152_template,
        "GM": datasets.load_mni152_gm_template,
        "WM": datasets.load_mni152_wm_template,
    }
    vols = []
    for name, load in loaders.items():
        img = load(resolution=2)
        vols.append(Volume(np.asarray(img.dataobj), spacing=img.header.get_zooms()[:3],
                           condition=name, name=f"MNI152 {name}"))
    return build_dataset(vols, SIZE, slice_axis=2)


@pytest.fixture(scope="module")
def mni():
    """The run's kind of split (20 % held out as slabs with a gap) is the reference H; a second
    split of the training part gives unseen real slices Q standing in for a perfect generator
    and the training set R."""
    from napari_medgan.engine.holdout import split_dataset

    torch.set_num_threads(1)
    ds = mni_dataset()
    rest, held, _ = split_dataset(ds, 0.2, seed=0)
    train, unseen, _ = split_dataset(rest, 0.25, seed=1)
    ref = prepare_reference(
        train.images[:, 0].numpy(), train.labels.numpy(), list(train.sources), ds.class_names,
        heldout=held.images[:, 0].numpy(), heldout_labels=held.labels.numpy(),
        heldout_groups=list(held.sources), n_boot=100, seed=0, classifier_steps=120,
    )
    return {"ds": ds, "train": train, "xq": unseen.images[:, 0].numpy(),
            "yq": unseen.labels.numpy(), "ref": ref}


def test_unseen_real_slices_score_near_baseline_and_are_not_flagged(mni):
    res = score(mni["ref"], mni["xq"], mni["yq"], controls=False)
    m = res.metrics
    mem = res.to_dict()["memorization"]
    assert not res.flagged, mem["reasons"]
    assert mem["copied_fraction"] < 0.1
    # Q lies nearer the training slices than the gap-separated held-out slabs do, which C_T
    # sees (it compares distance profiles): for slab splits it is shown but not a verdict
    assert mem["ct_in_verdict"] is False
    assert m["cond_accuracy"]["value"] > 0.7
    for key in QUALITY:  # same population: within a small factor of the real baseline
        assert m[key]["value"] < 3 * max(m[key]["baseline"], 0) + 0.2, (key, m[key])


def untrained_samples(n_classes: int, labels: np.ndarray) -> np.ndarray:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        g = Generator(32, SIZE, n_classes, base_channels=8, max_channels=32).eval()
    with torch.no_grad():
        z = torch.randn(len(labels), 32, generator=torch.Generator().manual_seed(0))
        return g(z, torch.as_tensor(labels))[:, 0].numpy()


def test_noise_and_untrained_generator_score_far_worse_than_real(mni):
    ref = mni["ref"]
    real = score(ref, mni["xq"], mni["yq"], controls=False).metrics
    labels = mni["yq"]
    rng = np.random.default_rng(0)
    candidates = {
        "noise": rng.uniform(-1, 1, mni["xq"].shape).astype(np.float32),
        "untrained": untrained_samples(3, labels),
    }
    for name, images in candidates.items():
        res = score(ref, images, labels, controls=False)
        m = res.metrics
        for key in QUALITY:
            assert m[key]["ci"][0] > real[key]["ci"][1], (name, key, m[key], real[key])
            factor = 1.5 if key == "msssim_gap" else 3  # the gap is bounded (≤ 1)
            assert m[key]["value"] > factor * real[key]["value"], (name, key)
        assert m["cond_accuracy"]["ci"][1] < real["cond_accuracy"]["ci"][0], name
        assert m["ct"]["value"] > 0.3, (name, m["ct"])  # under-fitting, not copying
        assert m["nn_distance"]["value"] > 1.5 * real["nn_distance"]["value"]
        assert not res.flagged


def test_briefly_trained_generator_beats_untrained(mni, tmp_path):
    from napari_medgan.engine import Sampler, TrainConfig, Trainer

    train = mni["train"]
    cfg = TrainConfig(size=SIZE, steps=300, batch_size=16, base_channels=8, max_channels=32,
                      z_dim=32, lr_g=5e-4, lr_d=5e-4, preview_every=0, checkpoint_every=0,
                      device="cpu", seed=3, out_dir=str(tmp_path), holdout=0, score_every=0)
    for _ in Trainer(cfg, train).run():
        pass
    sampler = Sampler.from_checkpoint(tmp_path)
    labels = mni["yq"]
    trained = np.concatenate([
        sampler.sample(int((labels == c).sum()), name, seed=c, units="model")
        for c, name in enumerate(mni["ds"].class_names)
    ])
    t_labels = np.repeat(np.arange(3), [int((labels == c).sum()) for c in range(3)])
    good = score(mni["ref"], trained, t_labels, controls=False).metrics
    bad = score(mni["ref"], untrained_samples(3, t_labels), t_labels, controls=False).metrics
    for key in QUALITY:
        assert good[key]["value"] < bad[key]["value"], (key, good[key], bad[key])
    assert good["cond_accuracy"]["value"] > bad["cond_accuracy"]["value"]
