"""Metric sanity on small arrays: zero distances for identical sets, MS-SSIM of identical pairs,
intervals around their estimates, splits that never cut a volume, serialised extractors."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import numpy as np
import pytest
import torch
from scipy import ndimage

from napari_medgan.engine.metrics import (
    CTTest,
    frechet_distance,
    group_split,
    kid,
    laplacian_pyramid,
    mean_ci,
    ms_ssim,
    msssim_config,
    nearest_neighbours,
    nearest_training_slices,
    swd,
)
from napari_medgan.engine.metrics.features import TrainedNet, train_net
from napari_medgan.engine.metrics.stats import recentred_interval


@pytest.fixture(autouse=True, scope="module")
def _threads():
    torch.set_num_threads(1)


def smooth_images(n: int, size: int = 32, seed: int = 0, sigma: float = 2.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = ndimage.gaussian_filter(rng.normal(size=(n, size, size)), (0, sigma, sigma))
    return np.tanh(x / x.std()).astype(np.float32)


def test_laplacian_pyramid_goes_down_to_16_px():
    x = smooth_images(4, 64)
    levels = laplacian_pyramid(x)
    assert [lv.shape[-1] for lv in levels] == [64, 32, 16]
    assert [lv.shape[-1] for lv in laplacian_pyramid(x[:, :16, :16])] == [16]


def test_swd_zero_for_identical_sets_and_grows_with_difference():
    a, b = smooth_images(40, seed=0), smooth_images(40, seed=1)
    same = swd(a, a)
    assert same.value == 0.0 and same.per_level == [0.0, 0.0]
    near = swd(b, a, n_boot=50)
    far = swd(np.random.default_rng(0).uniform(-1, 1, a.shape).astype(np.float32), a)
    assert 0 < near.value < far.value / 5
    assert near.ci[0] <= near.value <= near.ci[1]
    assert all(lo <= v <= hi for v, (lo, hi) in zip(near.per_level, near.per_level_ci))


def test_ms_ssim_identical_pairs_is_one_and_scales_shrink_for_small_images():
    a, b = smooth_images(6, seed=0), smooth_images(6, seed=1)
    assert torch.allclose(ms_ssim(a, a), torch.ones(6), atol=1e-5)
    v = ms_ssim(a, b)
    assert ((v >= 0) & (v < 0.9)).all()
    assert torch.allclose(v, ms_ssim(b, a), atol=1e-6)
    assert msssim_config(256).scales == 5 and msssim_config(256).window == 11
    assert msssim_config(64).scales == 3
    small = msssim_config(32)
    assert small.window == 7 and small.scales == 3
    assert msssim_config(8).scales == 1
    tiny = smooth_images(2, 8)
    assert torch.allclose(ms_ssim(tiny, tiny), torch.ones(2), atol=1e-5)


def test_bootstrap_intervals_contain_their_estimates():
    rng = np.random.default_rng(0)
    v, ci = mean_ci(rng.normal(size=50), n_boot=100)
    assert ci[0] <= v <= ci[1] and ci[1] - ci[0] > 0
    fx, fy = rng.normal(size=(60, 8)), rng.normal(size=(70, 8)) + 0.3
    for fn in (kid, frechet_distance):
        value, (lo, hi) = fn(fx, fy, n_boot=50)
        assert lo <= value <= hi
    # resampling inflates distances; the re-centred interval still holds the estimate
    assert recentred_interval(0.1, np.array([0.3, 0.4, 0.5])) == pytest.approx((0.0, 0.2), abs=0.01)
    same, _ = frechet_distance(fx, fx)
    assert same == pytest.approx(0.0, abs=1e-6)


def test_per_volume_split_never_cuts_a_volume():
    groups = [f"patient{i // 10}" for i in range(80)]
    labels = np.array([(i // 10) % 2 for i in range(80)])
    split = group_split(groups, labels, seed=3)
    assert split.method == "per-volume" and not split.warnings
    in_a = {g for g, a in zip(groups, split.in_a) if a}
    in_b = {g for g, a in zip(groups, split.in_a) if not a}
    assert in_a and in_b and not in_a & in_b
    for c in (0, 1):  # both halves hold every condition
        assert split.in_a[labels == c].any() and (~split.in_a[labels == c]).any()
    assert abs(int(split.in_a.sum()) - 40) <= 10


def test_single_volume_falls_back_to_slabs_of_consecutive_slices():
    groups = ["only"] * 40
    split = group_split(groups, seed=0)
    assert split.method == "per-slab" and split.warnings
    for g in set(split.groups):
        members = [i for i, h in enumerate(split.groups) if h == g]
        assert members == list(range(members[0], members[-1] + 1))  # consecutive
        assert len({bool(split.in_a[i]) for i in members}) == 1  # never in both halves
    assert 0 < split.in_a.sum() < 40


def test_nearest_training_slices_finds_the_copy():
    train = smooth_images(30)
    idx, dist = nearest_training_slices(train[7], train, k=3)
    assert idx[0] == 7 and dist[0] < 1e-3 and dist[1] > 0.1 and dist[1] <= dist[2]


def test_ct_effect_size_negative_for_copies_near_zero_for_fresh_samples():
    rng = np.random.default_rng(0)
    train, held, fresh = (rng.normal(size=(n, 4)) for n in (300, 150, 150))

    def dist(x):
        return nearest_neighbours(x, train, 1)[1][:, 0]

    ct = CTTest(train, held, dist(held), seed=0)
    honest = ct(fresh, dist(fresh))
    assert abs(honest.value) < 0.3 and not honest.copying and honest.p_value > 0.01
    copies = train[rng.choice(300, 150, replace=False)] + 1e-3 * rng.normal(size=(150, 4))
    result = ct(copies, dist(copies), n_boot=50)
    assert result.value < -0.8 and result.copying and result.p_value < 0.01
    assert result.ci[0] <= result.value <= result.ci[1]
    spread_x = 3 * rng.normal(size=(150, 4))
    spread = ct(spread_x, dist(spread_x))
    assert spread.value > 0.3 and not spread.copying
    # an effect size: twice the samples, about the same value (a z-score would grow by √2)
    more = np.concatenate([copies, train[:150] + 1e-3])
    assert abs(ct(more, dist(more)).value - result.value) < 0.15


def test_frechet_from_samples_matches_the_eigenvalue_formula():
    from napari_medgan.engine.metrics.features import _frechet_from_samples, frechet_from_stats

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(60, 5)), 1.5 * rng.normal(size=(40, 5)) + 0.3
    ref = frechet_from_stats(x.mean(0), np.cov(x, rowvar=False), y.mean(0),
                             np.cov(y, rowvar=False))
    assert abs(_frechet_from_samples(x, y) - ref) < 1e-8 * max(1, ref)


def test_feature_extractor_roundtrip_keeps_hash_and_features(tmp_path):
    x = smooth_images(24)
    targets = {"condition": np.arange(24) % 2}
    net = train_net(x, targets, "features", steps=5, batch=8, seed=0)
    again = train_net(x, targets, "features", steps=5, batch=8, seed=0)
    assert net.sha256 == again.sha256  # deterministic training
    path = net.save(tmp_path / "fx.safetensors")
    assert path.read_bytes()[:1] != b"\x80"  # not a pickle
    assert hashlib.sha256(path.read_bytes()).hexdigest() == net.sha256  # the file's own hash
    loaded = TrainedNet.load(path)
    assert loaded.sha256 == net.sha256 and loaded.name == net.name
    np.testing.assert_allclose(loaded.features(x), net.features(x), rtol=1e-5, atol=1e-6)
    assert net.features(x).shape == (24, 64)


def test_metrics_import_without_qt_napari_or_matplotlib():
    code = (
        "import napari_medgan.engine.metrics, sys;"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('qtpy', 'PyQt5', 'PyQt6', "
        "'PySide2', 'PySide6', 'napari', 'magicgui', 'matplotlib')];"
        "assert not bad, bad"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
