"""Coverage, recall, precision and density (k-NN manifolds): the pure function on hand-made
points, then the protocol on real MNI152 slices, where they must see what SWD/KID/FD at these
counts do not: a collapsed model (one slice per condition), a missing anatomy level, and no
learning at all; verbatim training slices score like the real baseline."""

from __future__ import annotations

import numpy as np
import pytest
from test_metrics_mni import untrained_samples

from napari_medgan.engine.metrics import score
from napari_medgan.engine.metrics.coverage import (
    KEYS,
    coverage_scores,
    coverage_with_ci,
    kth_radius,
    pairwise_distances,
)


# ----------------------------------------------------------------- the pure function
def test_scores_of_hand_made_points():
    real = np.array([[0.0], [1.0], [2.0], [10.0]])
    # k = 1 radii of real: 1, 1, 1, 8; one fake at 0.5 lies in the balls of 0 and 1 only
    s = coverage_scores(real, np.array([[0.5], [30.0]]), k=1)
    assert s["coverage"] == 0.5  # real 0 and 1 have a fake inside their ball
    assert s["precision"] == 0.5  # the fake at 30 is outside every real ball
    assert s["density"] == 1.0  # (2 balls + 0 balls) / (k * 2 fakes)
    # fake radii (k = 1): both 29.5, so every real point lies in a fake ball
    assert s["recall"] == 1.0


def test_collapsed_fakes_have_no_recall_and_little_coverage():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(40, 8))
    same = coverage_scores(real, rng.normal(size=(40, 8)), k=3)
    one = coverage_scores(real, real[:1] + rng.normal(0, 1e-3, (40, 8)), k=3)
    assert same["coverage"] > 0.7 and same["recall"] > 0.7
    # one point lies in the balls of a few reals near it only (8 of 40 here)
    assert one["recall"] <= 1 / 40 + 1e-9 and one["coverage"] <= 0.25


def test_radius_from_another_set_and_intervals():
    rng = np.random.default_rng(1)
    real, fake, other = rng.normal(size=(20, 5)), rng.normal(size=(25, 5)), rng.normal(size=(30, 5))
    r = np.sort(pairwise_distances(real, other), 1)[:, 2]
    s = coverage_scores(real, fake, k=3, radius_feats=other)
    assert s["coverage"] == float((pairwise_distances(real, fake) < r[:, None]).any(1).mean())
    ci = coverage_with_ci(real, fake, k=3, n_boot=50, seed=0)
    for key in KEYS:
        lo, hi = ci[key]["ci"]
        assert lo <= ci[key]["value"] <= hi
    assert kth_radius(pairwise_distances(real, real), 1).min() > 0


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="k = 5 needs at least"):
        coverage_scores(np.zeros((4, 2)), np.ones((10, 2)), k=5)
    with pytest.raises(ValueError, match="feature sizes differ"):
        coverage_scores(np.zeros((10, 2)), np.ones((10, 3)), k=2)


# ----------------------------------------------------------------- the protocol on MNI slices
def _score(ref, images, labels):
    return score(ref, images, labels, controls=False).metrics


def test_collapsed_model_scores_far_below_real(mni_slabs):
    """Each condition = one training slice repeated with noise σ = 0.02 (mode collapse)."""
    t, tl = mni_slabs["t"], mni_slabs["tl"]
    rng = np.random.default_rng(0)
    images = np.concatenate([
        t[tl == c][rng.integers((tl == c).sum())][None] + rng.normal(0, 0.02, (30, *t.shape[1:]))
        for c in range(3)
    ]).astype(np.float32)
    m = _score(mni_slabs["ref"], images, np.repeat(np.arange(3), 30))
    assert m["recall"]["value"] < 0.1 * m["recall"]["baseline"]
    assert m["coverage"]["value"] < 0.5 * m["coverage"]["baseline"]
    assert m["coverage"]["ci"][1] < m["coverage"]["baseline_ci"][0]  # intervals apart
    assert set(m["coverage"]["per_condition"]) == {"T1", "GM", "WM"}


def test_verbatim_slices_score_like_the_real_baseline(mni_slabs):
    m = _score(mni_slabs["ref"], mni_slabs["t"], mni_slabs["tl"])
    for key in ("coverage", "recall"):
        assert 0.8 < m[key]["ratio"] < 1.2, (key, m[key])
    assert m["coverage"]["baseline"] > 0.6 and m["recall"]["baseline"] > 0.1
    assert m["recall"]["baseline"] > 0.1
    # recall compares every training slice of each condition (not H's 13-14): the counts say so
    assert m["recall"]["compared_per_condition"] == {
        name: int((mni_slabs["tl"] == c).sum()) for c, name in enumerate(("T1", "GM", "WM"))}


def test_missing_anatomy_level_lowers_coverage_and_recall(mni_slabs):
    """The lowest third of every condition's slice levels never made: a missing level."""
    t, tl, ts = mni_slabs["t"], mni_slabs["tl"], mni_slabs["ts"]
    keep = np.zeros(len(t), bool)
    for c in range(3):
        mine = tl == c
        keep |= mine & (ts > np.quantile(ts[mine], 1 / 3))
    full = _score(mni_slabs["ref"], t, tl)
    part = _score(mni_slabs["ref"], t[keep], tl[keep])
    assert part["coverage"]["value"] < full["coverage"]["value"] - 0.04
    assert part["recall"]["value"] < full["recall"]["value"] - 0.05
    assert part["recall"]["ratio"] < 0.5  # against training slices at the same counts


def test_untrained_generator_covers_nothing(mni_slabs):
    m = _score(mni_slabs["ref"], untrained_samples(3, mni_slabs["tl"]), mni_slabs["tl"])
    for key in KEYS:
        assert m[key]["value"] < 0.05, (key, m[key])
    assert m["coverage"]["baseline"] > 0.6 and m["recall"]["baseline"] > 0.1
