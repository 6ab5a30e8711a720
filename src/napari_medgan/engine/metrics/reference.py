"""The real side of an evaluation: training slices T, held-out slices H, the networks and every
baseline (computed once, reused for the generated images and the control rows).

Sets
----
- T: the real slices the generator was trained on.
- H: real slices it never saw (the run's held-out split): the **reference** of every
  distribution metric and the calibration set of the memorization gate.
- Baseline: a random subset of T with the same size and condition mix as every scored set,
  compared with H — what a perfect generator that does not copy scores.
- Without H (a run trained with ``holdout = 0``, or a checkpoint from before the split) T is
  cut per volume/slab into halves A (plays T) and B (plays H). Both were seen in training, so
  quality and memorization cannot be separated; the report says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import classifier as clf
from . import copies
from . import memorization as mem
from .randnet import RandomFeatures
from .stats import group_split

Progress = Callable[[str, float], None]
NO_HELDOUT_WARNING = (
    "No held-out split: this run was trained on every real slice given, so the reference is "
    "training data and quality and memorization cannot be separated (a copy of the training "
    "data scores like real data). Train with a held-out fraction (holdout > 0) for numbers "
    "that mean what they say."
)


class EvaluationCancelled(RuntimeError):
    """``should_stop()`` returned True; no result was produced."""


def check_images(images: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(images, dtype=np.float32)
    if a.ndim == 4 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 3 or a.shape[-1] != a.shape[-2]:
        raise ValueError(f"{name}: expected (N, S, S) images, got shape {a.shape}")
    if len(a) < 2:
        raise ValueError(f"{name}: need at least 2 images, got {len(a)}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name}: contains NaN or infinite values")
    return a


def tick(progress: Progress | None, should_stop: Callable[[], bool] | None,
         stage: str, frac: float) -> None:
    if should_stop is not None and should_stop():
        raise EvaluationCancelled(f"evaluation stopped during: {stage}")
    if progress is not None:
        progress(stage, float(frac))


@dataclass
class Reference:
    """Everything about the real data that does not depend on the scored images."""

    train: np.ndarray
    train_labels: np.ndarray
    train_groups: list[str]
    heldout: np.ndarray
    heldout_labels: np.ndarray
    heldout_groups: list[str]
    class_names: list[str]
    heldout_given: bool
    extractor: Any
    classifier: Any
    seed: int
    n_boot: int
    warnings: list[str] = field(default_factory=list)
    gate: copies.CopyGate | None = None
    feat_mean: np.ndarray = field(repr=False, default=None)
    feat_std: np.ndarray = field(repr=False, default=None)
    feats_h: np.ndarray = field(repr=False, default=None)
    feats_t: np.ndarray = field(repr=False, default=None)
    h_dist: np.ndarray = field(repr=False, default=None)
    h_index: np.ndarray = field(repr=False, default=None)
    t_loo: np.ndarray = field(repr=False, default=None)
    pca: tuple[np.ndarray, np.ndarray] = field(repr=False, default=None)
    ct: mem.CTTest = field(repr=False, default=None)
    h_pairs: dict[int, np.ndarray] | None = field(repr=False, default=None)
    baselines: dict[tuple, dict[str, Any]] = field(repr=False, default_factory=dict)
    memo_baseline: dict[str, Any] = field(default_factory=dict)
    copy_refs: np.ndarray = field(repr=False, default=None)
    ct_in_verdict: bool = True
    coverage_radii: dict[tuple[int, int], np.ndarray] = field(repr=False, default_factory=dict)
    realism: dict[Any, Any] = field(repr=False, default_factory=dict)

    @property
    def conditional(self) -> bool:
        return len(self.class_names) > 1

    def features(self, images: np.ndarray) -> np.ndarray:
        """Extractor features standardised by the real slices (unit-free KID/FD)."""
        return (self.extractor.features(images) - self.feat_mean) / self.feat_std

    def compare_counts(self, labels: np.ndarray | None = None) -> dict[int, int]:
        """Images per condition compared in every distribution metric: H's condition mix,
        capped by what T (and the scored set, if given) holds."""
        out = {}
        for c in np.unique(self.heldout_labels):
            n = min(int((self.heldout_labels == c).sum()), int((self.train_labels == c).sum()))
            if labels is not None:
                n = min(n, int((np.asarray(labels) == c).sum()))
            if n > 0:
                out[int(c)] = n
        return out


def subsample(labels: np.ndarray, counts: dict[int, int], seed: int) -> np.ndarray:
    """Sorted indices into ``labels`` holding ``counts[c]`` random items of each condition."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    out = [rng.permutation(np.flatnonzero(labels == c))[:n] for c, n in sorted(counts.items())]
    return np.sort(np.concatenate(out)) if out else np.zeros(0, np.int64)


def prepare_reference(
    real: np.ndarray,
    labels: np.ndarray | None = None,
    groups: list[str] | None = None,
    class_names: list[str] | None = None,
    *,
    heldout: np.ndarray | None = None,
    heldout_labels: np.ndarray | None = None,
    heldout_groups: list[str] | None = None,
    n_boot: int = 200,
    seed: int = 0,
    classifier_steps: int = clf.CLASSIFIER_STEPS,
    extractor: Any = None,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Reference:
    """Set up T and H, the extractor, the classifier, the memorization gate and its baselines.

    Parameters
    ----------
    real, labels, groups
        ``(N, S, S)`` training slices in [-1, 1], their condition index and volume id.
    heldout, heldout_labels, heldout_groups
        Real slices the generator never saw (the run's held-out split). Without them the
        training slices are split into halves and a warning says what that means.
    extractor : optional
        Any object with ``features(images)``, ``describe()``, ``sha256``; ``"random"`` or None
        for the fixed random network :class:`~.randnet.RandomFeatures` with ``seed`` (default),
        ``"trained"`` for :func:`~.features.train_extractor` on the training slices T.
    """
    real = check_images(real, "real")
    n = len(real)
    labels = np.zeros(n, np.int64) if labels is None else np.asarray(labels, np.int64)
    groups = [f"volume{i}" for i in range(n)] if groups is None else [str(g) for g in groups]
    if len(labels) != n or len(groups) != n:
        raise ValueError("real images, labels and groups differ in length")
    class_names = list(class_names or [f"class{i}" for i in range(int(labels.max()) + 1)])
    warnings: list[str] = []
    if heldout is not None:
        heldout = check_images(heldout, "held-out")
        h_labels = (np.zeros(len(heldout), np.int64) if heldout_labels is None
                    else np.asarray(heldout_labels, np.int64))
        h_groups = ([f"heldout{i}" for i in range(len(heldout))] if heldout_groups is None
                    else [str(g) for g in heldout_groups])
        t, t_labels, t_groups, given = real, labels, groups, True
    else:
        split = group_split(groups, labels, seed=seed)
        a, b = split.index_a, split.index_b
        t, t_labels, t_groups = real[a], labels[a], [split.groups[i] for i in a]
        heldout, h_labels, h_groups = real[b], labels[b], [split.groups[i] for i in b]
        given = False
        warnings.append(NO_HELDOUT_WARNING)
    if real.shape[1:] != heldout.shape[1:]:
        raise ValueError(f"held-out slices {heldout.shape[1:]} vs training {real.shape[1:]}")
    missing = sorted(set(h_labels.tolist()) - set(t_labels.tolist()))
    if missing:
        raise ValueError(f"held-out conditions {missing} have no training slices")
    tick(progress, should_stop, "feature extractor and classifier", 0.02)
    if extractor is None or extractor == "random":
        extractor = RandomFeatures(seed)
    elif extractor == "trained":
        from .features import train_extractor

        extractor = train_extractor(t, t_labels, t_groups, seed)
    elif isinstance(extractor, str):
        raise ValueError(f"unknown feature extractor {extractor!r} (random or trained)")
    classifier = None
    if len(class_names) > 1 and np.unique(t_labels).size > 1:
        classifier = clf.train_classifier(t, t_labels, classifier_steps, seed)
    ref = Reference(
        train=t, train_labels=t_labels, train_groups=t_groups, heldout=heldout,
        heldout_labels=h_labels, heldout_groups=h_groups, class_names=class_names,
        heldout_given=given, extractor=extractor, classifier=classifier, seed=seed,
        n_boot=n_boot, warnings=warnings,
    )
    tick(progress, should_stop, "held-out distances and the memorization gate", 0.15)
    fh, ft = extractor.features(heldout), extractor.features(t)
    # standardised by all real slices; a floor keeps near-constant (dead ReLU) channels from
    # exploding
    pooled = np.concatenate([fh, ft])
    std = pooled.std(0)
    ref.feat_mean, ref.feat_std = pooled.mean(0), np.maximum(std, 0.1 * np.median(std) + 1e-12)
    ref.feats_h = (fh - ref.feat_mean) / ref.feat_std
    ref.feats_t = (ft - ref.feat_mean) / ref.feat_std
    h_idx, h_dist = copies.copy_distances(heldout, t, 1)
    ref.h_index, ref.h_dist = h_idx[:, 0], h_dist[:, 0]
    ref.t_loo = copies.copy_distances(t, t, 1, exclude_self=True)[1][:, 0]
    ref.gate = copies.CopyGate.calibrate(ref.h_dist)
    # near-copies are searched among every slice the generator saw (without H: both halves)
    ref.copy_refs = t if given else real
    ref.pca = mem.pca_fit(t, 32)
    ref.ct = mem.CTTest(mem.pca_apply(t, *ref.pca), mem.pca_apply(heldout, *ref.pca),
                        ref.h_dist, seed=seed)
    # Held-out slabs of the training volumes sit a gap away from every training slice, farther
    # than an honest new sample of those volumes would: C_T is then reported but not a verdict.
    ref.ct_in_verdict = given and not set(h_groups) & set(t_groups)
    if given and not ref.ct_in_verdict:
        ref.warnings.append(
            "held-out slices come from the training volumes (slabs): C_T is shown but not used "
            "for the verdict, and the near-copy threshold is capped at the median distance "
            "between neighbouring training slices (held-out slabs lie a gap away from training "
            "slices, so honest samples are closer to the training set than they are)"
        )
        ref.gate = copies.CopyGate.calibrate(ref.h_dist, cap=float(np.median(ref.t_loo)))
    ref.memo_baseline = _memorization_baseline(ref)
    return ref


def _memorization_baseline(ref: Reference) -> dict[str, Any]:
    """What held-out real slices score on the memorization metrics (their own baseline).

    The near-copy fraction is cross-fitted (threshold from one half of H, counted on the
    other), C_T compares one half of H (playing the generator) with the other.
    """
    from .stats import mean_ci

    s, nb = ref.seed, ref.n_boot
    halves = group_split(ref.heldout_groups, ref.heldout_labels, seed=s + 1)
    ia, ib = halves.index_a, halves.index_b
    out: dict[str, Any] = {}
    v, ci = mean_ci(ref.h_dist, nb, s)
    out["nn_distance"] = {"value": v, "ci": list(ci)}
    fd = mem.nearest_neighbours(ref.feats_h, ref.feats_t, 1)[1][:, 0]
    v, ci = mean_ci(fd, nb, s)
    out["nn_distance_feature"] = {"value": v, "ci": list(ci)}
    auth = mem.authentic(ref.h_dist, ref.h_index, ref.t_loo).astype(np.float64) * 100
    v, ci = mean_ci(auth, nb, s)
    out["authpct"] = {"value": v, "ci": list(ci)}
    near = np.concatenate([
        ref.h_dist[test] < copies.CopyGate.calibrate(ref.h_dist[cal]).threshold
        for cal, test in ((ia, ib), (ib, ia))
    ]).astype(np.float64)
    v, ci = mean_ci(near, nb, s)
    out["near_copy_fraction"] = {"value": v, "ci": list(ci)}
    emb = mem.pca_apply(ref.heldout, *ref.pca)
    ct = ref.ct(emb[ib], ref.h_dist[ib], nb, s, heldout_index=ia)
    out["ct"] = {"value": ct.value, "ci": None if ct.ci is None else list(ct.ci)}
    return out
