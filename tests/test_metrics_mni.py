"""Evaluation on real MNI152 slices: copies are flagged, unseen real data is not, and noise, an
untrained generator and a briefly trained one rank as they should."""

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
    """Slabs of 6 consecutive slices are the 'volumes'; slab k % 4 in {0, 1} is the training
    set R, 2 the held-out scans H, 3 unseen real data Q standing in for a perfect generator."""
    torch.set_num_threads(1)
    ds = mni_dataset()
    x, y = ds.images[:, 0].numpy(), ds.labels.numpy()
    groups, role = [], []
    for src in dict.fromkeys(ds.sources):
        idx = [i for i, s in enumerate(ds.sources) if s == src]
        for k in range(len(idx)):
            groups.append(f"{src}#s{k // 6}")
            role.append((k // 6) % 4)
    role = np.asarray(role)
    r, h, q = role < 2, role == 2, role == 3
    g = np.asarray(groups)
    ref = prepare_reference(
        x[r], y[r], list(g[r]), ds.class_names, heldout=x[h], heldout_labels=y[h],
        heldout_groups=list(g[h]), n_boot=100, seed=0, extractor_steps=200, classifier_steps=120,
    )
    return {"ds": ds, "x": x, "y": y, "r": r, "q": q, "ref": ref}


def test_unseen_real_slices_score_near_baseline_and_are_not_flagged(mni):
    res = score(mni["ref"], mni["x"][mni["q"]], mni["y"][mni["q"]])
    m = res.metrics
    assert not res.flagged, res.to_dict()["memorization"]["reasons"]
    assert abs(m["ct"]["value"]) < 3
    assert m["near_copy_fraction"]["value"] == 0
    assert m["cond_accuracy"]["value"] > 0.7
    for key in QUALITY:  # same population: within a small factor of real-vs-real
        assert m[key]["value"] < 3 * max(m[key]["baseline"], 0) + 0.2, (key, m[key])


def test_verbatim_copies_of_training_slices_are_flagged(mni):
    rng = np.random.default_rng(1)
    xr, yr = mni["x"][mni["r"]], mni["y"][mni["r"]]
    pick = rng.choice(len(xr), size=int(mni["q"].sum()), replace=False)
    res = score(mni["ref"], xr[pick], yr[pick])
    m, memo = res.metrics, res.to_dict()["memorization"]
    assert res.flagged
    assert m["ct"]["value"] < -3 and m["ct"]["ci"][1] < -2
    assert m["authpct"]["value"] < 5 < m["authpct"]["baseline"]
    assert m["nn_distance_pixel"]["value"] < 1e-3 < m["nn_distance_pixel"]["baseline"]
    assert m["near_copy_fraction"]["value"] == 1.0
    assert sorted(memo["near_copies"]) == list(range(len(pick)))
    # the nearest slice found is the copied one (indices into the training set R)
    assert memo["nearest"]["index"] == [int(i) for i in pick]


def untrained_samples(n_classes: int, labels: np.ndarray) -> np.ndarray:
    torch.manual_seed(0)
    g = Generator(32, SIZE, n_classes, base_channels=8, max_channels=32).eval()
    with torch.no_grad():
        z = torch.randn(len(labels), 32, generator=torch.Generator().manual_seed(0))
        return g(z, torch.as_tensor(labels))[:, 0].numpy()


def test_noise_and_untrained_generator_score_far_worse_than_real(mni):
    ref, q = mni["ref"], mni["q"]
    real = score(ref, mni["x"][q], mni["y"][q]).metrics
    labels = mni["y"][q]
    rng = np.random.default_rng(0)
    candidates = {
        "noise": rng.uniform(-1, 1, mni["x"][q].shape).astype(np.float32),
        "untrained": untrained_samples(3, labels),
    }
    for name, images in candidates.items():
        res = score(ref, images, labels)
        m = res.metrics
        for key in QUALITY:
            assert m[key]["ci"][0] > real[key]["ci"][1], (name, key, m[key], real[key])
            factor = 2 if key == "msssim_gap" else 3  # the gap is bounded (≤ 1)
            assert m[key]["value"] > factor * real[key]["value"], (name, key)
        assert m["cond_accuracy"]["ci"][1] < real["cond_accuracy"]["ci"][0], name
        assert m["ct"]["value"] > 3, (name, m["ct"])  # under-fitting, not copying
        assert m["nn_distance_pixel"]["value"] > 1.5 * real["nn_distance_pixel"]["value"]
        assert not res.flagged


def test_briefly_trained_generator_beats_untrained(mni, tmp_path):
    from napari_medgan.engine import Sampler, TrainConfig, Trainer

    ds, r = mni["ds"], mni["r"]
    train = SliceDataset(
        images=ds.images[r], labels=ds.labels[r], class_names=ds.class_names,
        transforms=ds.transforms, geometry=ds.geometry, conditional=True,
        sources=[s for s, k in zip(ds.sources, r) if k],
    )
    cfg = TrainConfig(size=SIZE, steps=300, batch_size=16, base_channels=8, max_channels=32,
                      z_dim=32, lr_g=5e-4, lr_d=5e-4, preview_every=0, checkpoint_every=0,
                      device="cpu", seed=3, out_dir=str(tmp_path))
    for _ in Trainer(cfg, train).run():
        pass
    sampler = Sampler.from_checkpoint(tmp_path)
    labels = mni["y"][mni["q"]]
    trained = np.concatenate([
        sampler.sample(int((labels == c).sum()), name, seed=c, units="model")
        for c, name in enumerate(ds.class_names)
    ])
    t_labels = np.repeat(np.arange(3), [int((labels == c).sum()) for c in range(3)])
    good = score(mni["ref"], trained, t_labels).metrics
    bad = score(mni["ref"], untrained_samples(3, t_labels), t_labels).metrics
    for key in QUALITY:
        assert good[key]["value"] < bad[key]["value"], (key, good[key], bad[key])
    assert good["cond_accuracy"]["value"] > bad["cond_accuracy"]["value"]
