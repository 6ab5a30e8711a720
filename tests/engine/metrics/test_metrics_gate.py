"""The memorization gate on real MNI152 slices (32 px) under the run's held-out split: disguised
copies of training slices are flagged, held-out real slices and an untrained generator are not,
and a half-copied set reports about half copied. Also: the fixed random extractor is the same
bytes whatever the thread count, the controls rank as they should, nothing touches the global
torch RNG, and a run without held-out data still evaluates but says what that means."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from engine_fixtures import mni_volumes
from napari_medgan.engine import build_dataset
from napari_medgan.engine.holdout import split_dataset
from napari_medgan.engine.metrics import RandomFeatures, prepare_reference, score
from napari_medgan.engine.metrics.reference import NO_HELDOUT_WARNING


@pytest.fixture(scope="module")
def mni():
    """Axial MNI152 slices (4 mm, 32 px) split like a run: 40 % held out as slabs with a gap.

    Every other held-out slice calibrates the gate (the reference H); the rest are unseen real
    slices that play an honest generator.
    """
    torch.set_num_threads(1)
    ds = build_dataset(mni_volumes(), 32, slice_axis=0)
    train, held, _ = split_dataset(ds, 0.4, seed=0)
    x_t, y_t = train.images[:, 0].numpy(), train.labels.numpy()
    x_h, y_h = held.images[:, 0].numpy(), held.labels.numpy()
    cal = np.arange(len(x_h)) % 2 == 0
    ref = prepare_reference(
        x_t, y_t, list(train.sources), ds.class_names, heldout=x_h[cal], heldout_labels=y_h[cal],
        heldout_groups=list(np.asarray(held.sources)[cal]), n_boot=50, seed=0,
        classifier_steps=60,
    )
    return {"ref": ref, "x_t": x_t, "y_t": y_t, "x_u": x_h[~cal], "y_u": y_h[~cal]}


def _copies(mni, n=40, seed=1):
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(mni["x_t"]), size=n, replace=False)
    return mni["x_t"][pick], mni["y_t"][pick]


def _each(images, fn):
    return np.stack([fn(im) for im in images]).astype(np.float32)


PERTURB = {
    "verbatim": lambda x, rng: x,
    "shift 1 px": lambda x, rng: _each(x, lambda i: ndimage.shift(i, (1, 0), order=0, cval=-1)),
    "shift 2 px": lambda x, rng: _each(x, lambda i: ndimage.shift(i, (-2, 1), order=0, cval=-1)),
    "rotate +3°": lambda x, rng: _each(
        x, lambda i: ndimage.rotate(i, 3, reshape=False, order=1, cval=-1)),
    "rotate -3°": lambda x, rng: _each(
        x, lambda i: ndimage.rotate(i, -3, reshape=False, order=1, cval=-1)),
    "noise 0.05": lambda x, rng: np.clip(x + rng.normal(0, 0.05, x.shape), -1, 1),
    "brightness +5%": lambda x, rng: np.clip(x + 0.1, -1, 1),
    "brightness -5%": lambda x, rng: np.clip(x - 0.1, -1, 1),
    "contrast +5%": lambda x, rng: np.clip((x + 1) * 1.05 - 1, -1, 1),
    "contrast -5%": lambda x, rng: np.clip((x + 1) * 0.95 - 1, -1, 1),
}


@pytest.mark.parametrize("kind", list(PERTURB))
def test_gate_flags_disguised_copies(mni, kind):
    x, y = _copies(mni)
    images = PERTURB[kind](x, np.random.default_rng(2)).astype(np.float32)
    res = score(mni["ref"], images, y, controls=False)
    mem = res.to_dict()["memorization"]
    assert res.flagged, (kind, mem["reasons"])
    assert mem["copied_fraction"] > 0.8, (kind, mem["copied_fraction"])


def test_heldout_real_slices_are_not_flagged(mni):
    res = score(mni["ref"], mni["x_u"], mni["y_u"], controls=False)
    m, mem = res.metrics, res.to_dict()["memorization"]
    assert not res.flagged, mem["reasons"]
    assert mem["copied_fraction"] < 0.1
    assert not m["ct"]["copying"] and abs(m["ct"]["value"]) < 0.5
    # unseen real slices score like the real baseline (training real vs held-out real)
    assert 0.3 < m["swd"]["ratio"] < 3, m["swd"]


def test_half_copied_set_is_flagged_with_about_half_copied(mni):
    x, y = _copies(mni, n=len(mni["x_u"]))
    noisy = np.clip(x + np.random.default_rng(3).normal(0, 0.05, x.shape), -1, 1)
    half = len(x) // 2
    images = np.concatenate([noisy[:half], mni["x_u"][half:]]).astype(np.float32)
    labels = np.concatenate([y[:half], mni["y_u"][half:]])
    res = score(mni["ref"], images, labels, controls=False)
    mem = res.to_dict()["memorization"]
    assert res.flagged
    true = half / len(images)
    assert abs(mem["copied_fraction"] - true) < 0.15, (mem["copied_fraction"], true)
    lo, hi = mem["copied_fraction_ci"]
    assert lo <= true <= hi + 0.05
    assert set(range(half)) <= set(mem["near_copies"])


def test_controls_rank_verbatim_before_untrained_and_untrained_is_not_a_copy(mni):
    """The untrained generator's flat, low-contrast images are far from every training slice
    under the relative copy distance (they must not pass for copies of near-empty slices)."""
    from napari_medgan.engine import Generator

    x, y = mni["x_u"], mni["y_u"]
    g = Generator(32, 32, 3, base_channels=8, max_channels=32).eval()
    with torch.no_grad():
        z = torch.randn(len(y), 32, generator=torch.Generator().manual_seed(0))
        untrained = g(z, torch.as_tensor(y))[:, 0].numpy()
    res = score(mni["ref"], x, y, untrained=untrained)
    rows = res.to_dict()["controls"]
    verb, unt = rows["verbatim"], rows["untrained"]
    assert verb["memorization"]["flagged"] and not unt["memorization"]["flagged"]
    for key in ("swd", "kid", "fd"):
        assert verb["metrics"][key]["value"] < unt["metrics"][key]["value"], key
        assert res.metrics[key]["value"] < unt["metrics"][key]["value"], key
        assert unt["metrics"][key]["ratio"] > 2, (key, unt["metrics"][key])
    assert unt["metrics"]["cond_accuracy"]["value"] < res.metrics["cond_accuracy"]["value"]


def test_random_extractor_is_the_same_bytes_with_any_thread_count():
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        a = RandomFeatures(seed=0)
        x = np.random.default_rng(0).uniform(-1, 1, (8, 32, 32)).astype(np.float32)
        fa = a.features(x)
        torch.set_num_threads(2)
        b = RandomFeatures(seed=0)
        fb = b.features(x)
    finally:
        torch.set_num_threads(old)
    assert a.sha256 == b.sha256
    assert RandomFeatures(seed=1).sha256 != a.sha256
    np.testing.assert_allclose(fa, fb, rtol=1e-5, atol=1e-6)


def test_evaluation_leaves_the_global_torch_rng_alone(mni):
    torch.manual_seed(1234)
    before = torch.get_rng_state()
    x, y = _copies(mni, n=20)
    score(mni["ref"], x, y, controls=False)
    prepare_reference(mni["x_t"], mni["y_t"], None, None, n_boot=10, classifier_steps=5)
    assert torch.equal(before, torch.get_rng_state())


def test_without_heldout_split_it_runs_and_says_quality_and_memorization_mix(mni):
    ref = prepare_reference(mni["x_t"], mni["y_t"], None, ["T1", "GM", "WM"], n_boot=20,
                            classifier_steps=20)
    res = score(ref, mni["x_u"], mni["y_u"], controls=False)
    data = res.to_dict()
    assert NO_HELDOUT_WARNING in data["warnings"]
    assert data["protocol"]["heldout_given"] is False
    assert "cannot be separated" in NO_HELDOUT_WARNING
    assert np.isfinite(res.metrics["swd"]["value"])
