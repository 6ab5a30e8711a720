"""Coverage of the real distribution: k-NN manifold precision, recall, density and coverage.

SWD, KID and FD compare summary statistics of two small sets; at tens of held-out slices per
condition they cannot see a generator that makes one image per condition (mode collapse) or
never makes some anatomy levels. These metrics ask instead, image by image, whether every real
slice has a generated look-alike nearby and whether every generated image lies near real data:

- **precision** (Kynkäänniemi et al. 2019): share of generated images inside the real manifold
  (the union of balls around each real image, radius = distance to its k-th nearest real
  neighbour);
- **recall** (same paper): share of real images inside the generated manifold (balls around each
  generated image, radius = its k-th nearest generated neighbour). A collapsed set has tiny
  radii, so recall falls to about 0;
- **density** (Naeem et al. 2020): how many real balls contain each generated image, divided by
  k, averaged (about 1 for a set drawn like the real one, more where images crowd dense regions);
- **coverage** (same paper): share of real images whose own ball holds at least one generated
  image. Built on the real manifold only (real radii are robust to outliers among generated
  images), it drops with every real mode (anatomy level) no generated image reaches.

All four use Euclidean distances between feature vectors of any kind (pixels, network features).

In the evaluation protocol (:func:`protocol_scores`) the real set is the held-out slices H, the
features are the pixels at the run's size, and each held-out ball's radius is the distance to
its k-th nearest **training** slice of the same condition (``radius_feats``), not to its k-th
nearest held-out slice: held-out slabs are runs of adjacent slices, so radii measured inside H
are one slice step, which no set drawn elsewhere (training data included) can reach. Why pixels
and k = 5 (both measured on the demo run) is in docs/evaluation.md.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .stats import CI_LEVEL, recentred_interval

__all__ = [
    "DIRECTION",
    "KEYS",
    "K",
    "coverage_scores",
    "coverage_with_ci",
    "kth_radius",
    "pairwise_distances",
    "protocol_scores",
]

KEYS = ("coverage", "recall", "precision", "density")
DIRECTION = {"coverage": "higher", "recall": "higher", "precision": "closer",
             "density": "closer"}
K = 5  # neighbours in the protocol (measured at 13-14 held-out slices per condition)
BOUNDED = ("coverage", "recall", "precision")  # fractions: intervals clipped to [0, 1]
AT_HELDOUT_COUNTS = ("coverage", "precision", "density")  # compared like SWD/KID/FD
AT_TRAINING_COUNTS = ("recall",)  # compared at min(training, scored) images per condition
DRAWS = 5


def pairwise_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances ``(len(a), len(b))`` between rows of ``a`` and ``b`` (float64)."""
    a = np.asarray(a, np.float64).reshape(len(a), -1)
    b = np.asarray(b, np.float64).reshape(len(b), -1)
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.maximum(d2, 0.0))


def kth_radius(self_dist: np.ndarray, k: int) -> np.ndarray:
    """Distance of each row's item to its ``k``-th nearest other item of the same set.

    ``self_dist`` is the square distance matrix of one set (its diagonal, the item itself, is
    skipped).
    """
    n = len(self_dist)
    if not 1 <= k < n:
        raise ValueError(f"k = {k} needs at least k + 1 = {k + 1} items per set, got {n}")
    d = np.array(self_dist, np.float64, copy=True)
    np.fill_diagonal(d, np.inf)
    return _kth_nearest(d, k)


def _kth_nearest(dist: np.ndarray, k: int) -> np.ndarray:
    """Per row of ``dist``, its ``k``-th smallest entry."""
    return np.partition(dist, k - 1, axis=1)[:, k - 1]


def _scores(d_rf: np.ndarray, r_real: np.ndarray, r_fake: np.ndarray, k: int) -> dict[str, float]:
    """The four scores from real-to-fake distances and the two sets' k-NN radii."""
    return _pooled([(None, d_rf, r_real, r_fake, k)])


def _radii(real: np.ndarray, fake: np.ndarray, k: int,
           radius_feats: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    if radius_feats is None:
        r_real = kth_radius(pairwise_distances(real, real), k)
    else:
        other = np.asarray(radius_feats).reshape(len(radius_feats), -1)
        if len(other) < k:
            raise ValueError(f"k = {k} needs at least {k} radius items, got {len(other)}")
        r_real = _kth_nearest(pairwise_distances(real, other), k)
    return r_real, kth_radius(pairwise_distances(fake, fake), k)


def coverage_scores(real_feats: np.ndarray, fake_feats: np.ndarray, k: int = K,
                    radius_feats: np.ndarray | None = None) -> dict[str, float]:
    """Precision, recall, density and coverage of ``fake_feats`` against ``real_feats``.

    Parameters
    ----------
    real_feats, fake_feats : numpy.ndarray
        ``(N, ...)`` and ``(M, ...)`` items (flattened to vectors); Euclidean distances.
    k : int
        Neighbour whose distance sets each ball's radius; both sets need more than ``k`` items.
        Small sets need a small ``k`` (see docs/evaluation.md for the choice at our counts).
    radius_feats : numpy.ndarray, optional
        When given, each real ball's radius is the distance to its ``k``-th nearest item of
        this set (e.g. the training slices) instead of its ``k``-th nearest other real item
        (the papers' definition, the default).

    Returns
    -------
    dict
        ``{"coverage", "recall", "precision", "density"}``: the first three in [0, 1], density
        >= 0 (about 1 when the fake set is distributed like the real one). Higher is better
        for coverage and recall; precision and density say whether images lie on real data.

    Notes
    -----
    Kynkäänniemi et al., "Improved precision and recall metric for assessing generative
    models", NeurIPS 2019; Naeem et al., "Reliable fidelity and diversity metrics for
    generative models", ICML 2020. Exact duplicates within the real set give zero radii: such
    items only count when a fake item is also an exact duplicate.
    """
    real = np.asarray(real_feats).reshape(len(real_feats), -1)
    fake = np.asarray(fake_feats).reshape(len(fake_feats), -1)
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"feature sizes differ: real {real.shape[1]}, fake {fake.shape[1]}")
    r_real, r_fake = _radii(real, fake, k, radius_feats)
    return _scores(pairwise_distances(real, fake), r_real, r_fake, k)


def coverage_with_ci(
    real_feats: np.ndarray,
    fake_feats: np.ndarray,
    k: int = K,
    n_boot: int = 200,
    seed: int = 0,
    radius_feats: np.ndarray | None = None,
) -> dict[str, dict[str, Any]]:
    """:func:`coverage_scores` with a bootstrap interval for each score.

    Both sets are resampled with replacement; every item keeps the ball radius it has in the
    full set (a resampled set holds duplicates, whose k-NN radii would collapse to 0). The
    percentile interval is re-centred on the point estimate, as for the other metrics.
    """
    real = np.asarray(real_feats, np.float64).reshape(len(real_feats), -1)
    fake = np.asarray(fake_feats, np.float64).reshape(len(fake_feats), -1)
    point = coverage_scores(real, fake, k, radius_feats)
    out = {key: {"value": point[key], "ci": None} for key in KEYS}
    if n_boot <= 0:
        return out
    r_real, r_fake = _radii(real, fake, k, radius_feats)
    d_rf = pairwise_distances(real, fake)
    rng = np.random.default_rng(seed)
    reps = {key: np.empty(n_boot) for key in KEYS}
    for b in range(n_boot):
        ir = rng.integers(0, len(real), len(real))
        jf = rng.integers(0, len(fake), len(fake))
        s = _scores(d_rf[np.ix_(ir, jf)], r_real[ir], r_fake[jf], k)
        for key in KEYS:
            reps[key][b] = s[key]
    for key in KEYS:
        out[key]["ci"] = list(recentred_interval(point[key], reps[key], CI_LEVEL))
    return out


# ----------------------------------------------------------------- the evaluation protocol
def _condition_parts(ref: Any, images: np.ndarray, labels: np.ndarray, k: int) -> list[tuple]:
    """Per condition with enough items: (name, real-to-fake distances, real radii, fake radii,
    k used). k shrinks to ``len(fake) - 1`` for tiny sets (recorded in the result)."""
    parts = []
    flat = np.asarray(images, np.float64).reshape(len(images), -1)
    for c in np.unique(ref.heldout_labels):
        h = ref.heldout[ref.heldout_labels == c].reshape(-1, flat.shape[1]).astype(np.float64)
        t = ref.train[ref.train_labels == c].reshape(-1, flat.shape[1])
        f = flat[labels == c]
        kc = min(k, len(f) - 1, len(t))
        if kc < 1 or len(h) < 1:
            continue
        key = (int(c), kc)
        if key not in ref.coverage_radii:  # depends on the real data only: computed once
            ref.coverage_radii[key] = _kth_nearest(pairwise_distances(h, t), kc)
        r_fake = kth_radius(pairwise_distances(f, f), kc)
        parts.append((ref.class_names[int(c)], pairwise_distances(h, f),
                      ref.coverage_radii[key], r_fake, kc))
    return parts


def _pooled(parts: list[tuple], picks: list[tuple[np.ndarray, np.ndarray]] | None = None
            ) -> dict[str, float]:
    """The four scores pooled over conditions: coverage and recall count held-out slices,
    precision and density count scored images."""
    cov = rec = prec = dens = n_real = n_fake = 0.0
    for j, (_, d, rr, rf, kc) in enumerate(parts):
        if picks is not None:
            ir, jf = picks[j]
            d, rr, rf = d[np.ix_(ir, jf)], rr[ir], rf[jf]
        # fake j inside real i's ball; real i inside fake j's ball
        in_real, in_fake = d < rr[:, None], d < rf[None, :]
        cov += in_real.any(1).sum()
        rec += in_fake.any(1).sum()
        prec += in_real.any(0).sum()
        dens += in_real.sum(0).sum() / kc
        n_real += d.shape[0]
        n_fake += d.shape[1]
    return {"coverage": float(cov / n_real), "recall": float(rec / n_real),
            "precision": float(prec / n_fake), "density": float(dens / n_fake)}


def protocol_scores(ref: Any, images: np.ndarray, labels: np.ndarray, n_boot: int, seed: int,
                    k: int = K, keys: tuple[str, ...] = KEYS) -> dict[str, dict[str, Any]]:
    """Coverage, recall, precision and density of ``images`` against the held-out slices of a
    :class:`~.reference.Reference`, in pixel space, per condition and pooled, with bootstrap
    intervals (both sets resampled within each condition, radii fixed).

    Returns ``{key: {"value", "ci", "per_condition", "k"}}`` for every key in ``keys``.
    """
    labels = np.asarray(labels)
    parts = _condition_parts(ref, images, labels, k)
    if not parts:
        nan = float("nan")
        return {key: {"value": nan, "ci": None, "per_condition": {}, "k": k} for key in keys}
    point = _pooled(parts)
    per = {p[0]: _pooled([p]) for p in parts}
    reps = {key: np.empty(max(n_boot, 0)) for key in KEYS}
    rng = np.random.default_rng(seed)
    for b in range(max(n_boot, 0)):
        picks = [(rng.integers(0, p[1].shape[0], p[1].shape[0]),
                  rng.integers(0, p[1].shape[1], p[1].shape[1])) for p in parts]
        for key, v in _pooled(parts, picks).items():
            reps[key][b] = v
    ks = sorted({p[4] for p in parts})
    out = {}
    for key in keys:
        ci = None if n_boot <= 0 else list(recentred_interval(point[key], reps[key], CI_LEVEL))
        if ci is not None and key in BOUNDED:
            ci = [float(np.clip(c, 0.0, 1.0)) for c in ci]
        out[key] = {"value": float(point[key]), "ci": ci,
                    "per_condition": {name: float(v[key]) for name, v in per.items()},
                    "k": ks[0] if len(ks) == 1 else ks}
    return out


def training_counts(ref: Any, labels: np.ndarray) -> dict[int, int]:
    """Images per condition compared for recall: as many as the training slices of the
    condition, capped by what the scored set holds (conditions of the held-out set only)."""
    labels = np.asarray(labels)
    out = {}
    for c in np.unique(ref.heldout_labels):
        n = min(int((ref.train_labels == c).sum()), int((labels == c).sum()))
        if n > 1:
            out[int(c)] = n
    return out


def recall_block(ref: Any, images: np.ndarray, labels: np.ndarray, counts: dict[int, int],
                 seed: int, draws: int = DRAWS, k: int = K) -> dict[str, Any]:
    """Recall of ``images`` against the held-out slices at ``counts`` images per condition
    (:func:`training_counts`): the mean of ``draws`` random subsets (one when every draw is the
    whole set); the interval is the first draw's bootstrap interval, moved with the mean.

    Recall is compared at the training counts, not the held-out ones: each scored image's ball
    is sized by its k-th nearest scored neighbour, so with 13-14 images per condition every
    ball is wide and a model that never makes the lowest third of the anatomy still reaches
    the held-out slices there (measured in docs/evaluation.md).
    """
    from .reference import subsample

    labels = np.asarray(labels)
    subs = [subsample(labels, counts, seed + d) for d in range(draws)]
    if all(len(x) == len(labels) for x in subs):
        subs = subs[:1]
    first = protocol_scores(ref, images[subs[0]], labels[subs[0]], ref.n_boot, seed, k,
                            keys=("recall",))["recall"]
    extra = [protocol_scores(ref, images[x], labels[x], 0, seed, k, keys=("recall",))["recall"]
             for x in subs[1:]]
    mean = float(np.mean([first["value"]] + [e["value"] for e in extra]))
    shift = mean - first["value"]
    ci = None if first["ci"] is None else [float(np.clip(c + shift, 0.0, 1.0))
                                           for c in first["ci"]]
    per = {name: float(np.mean([v] + [e["per_condition"].get(name, v) for e in extra]))
           for name, v in first["per_condition"].items()}
    return {"value": mean, "ci": ci, "per_condition": per, "k": first["k"],
            "draws": len(subs),
            "compared_per_condition": {ref.class_names[c]: n for c, n in counts.items()}}
