"""Offline evaluation of generated slices against real ones: quality, diversity, condition
fidelity and memorization, each with its real-vs-real baseline and a bootstrap interval.

Sets
----
- R: the real slices the generator was trained on, split per volume into halves A and B.
- A is the reference of every distribution metric; B plays "another real sample" for the
  baseline; the generated images are subsampled to B's size and condition counts so that
  score and baseline compare like with like.
- H (optional): real slices of volumes the generator never saw. The feature extractor and
  the classifier are trained on H when given, else on A.
- Memorization: T (training set) = R and P (unseen real) = H when H is given; without H,
  T = A and P = B (B was seen in training, so only copies of A can be caught).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import classifier as clf
from . import features as feat
from . import memorization as mem
from .msssim import msssim_config, pairwise_msssim
from .stats import (
    CI_LEVEL,
    Split,
    group_split,
    matched_subsample,
    mean_ci,
    recentred_interval,
    resample_indices,
)
from .swd import swd

Progress = Callable[[str, float], None]
NEAR_COPY_FACTOR = 0.5
NEAR_COPY_MAX_FRACTION = 0.05


class EvaluationCancelled(RuntimeError):
    """``should_stop()`` returned True; no result was produced."""


def _check(images: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(images, dtype=np.float32)
    if a.ndim == 4 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 3 or a.shape[-1] != a.shape[-2]:
        raise ValueError(f"{name}: expected (N, S, S) images, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name}: contains NaN or infinite values")
    return a


@dataclass
class Reference:
    """Everything about the real data that does not depend on the generated images."""

    images: np.ndarray
    labels: np.ndarray
    groups: list[str]
    class_names: list[str]
    split: Split
    extractor: feat.TrainedNet
    classifier: feat.TrainedNet | None
    trained_on: str
    t_images: np.ndarray
    p_images: np.ndarray
    p_split: Split
    seed: int
    n_boot: int
    feats_a: np.ndarray = field(repr=False, default=None)
    feats_t: np.ndarray = field(repr=False, default=None)
    pca: tuple[np.ndarray, np.ndarray] = field(repr=False, default=None)
    ct: mem.CTTest = field(repr=False, default=None)
    t_self_nn: np.ndarray = field(repr=False, default=None)
    feats_all: np.ndarray = field(repr=False, default=None)
    feat_mean: np.ndarray = field(repr=False, default=None)
    feat_std: np.ndarray = field(repr=False, default=None)
    pairs_a: dict[int, np.ndarray] | None = field(repr=False, default=None)
    baseline: dict[str, Any] = field(default_factory=dict)
    copy_threshold: float = 0.0

    @property
    def a(self) -> np.ndarray:
        return self.split.index_a

    @property
    def b(self) -> np.ndarray:
        return self.split.index_b

    def features(self, images: np.ndarray) -> np.ndarray:
        """Extractor features standardised by reference half A (unit-free KID/FD)."""
        return (self.extractor.features(images) - self.feat_mean) / self.feat_std

    @property
    def conditional(self) -> bool:
        return len(self.class_names) > 1


def _tick(progress: Progress | None, should_stop: Callable[[], bool] | None,
          stage: str, frac: float) -> None:
    if should_stop is not None and should_stop():
        raise EvaluationCancelled(f"evaluation stopped during: {stage}")
    if progress is not None:
        progress(stage, float(frac))


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
    extractor_steps: int = 300,
    classifier_steps: int = clf.CLASSIFIER_STEPS,
    extractor: feat.TrainedNet | None = None,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Reference:
    """Split the real slices, train the extractor/classifier and compute every baseline."""
    real = _check(real, "real")
    n = len(real)
    labels = np.zeros(n, np.int64) if labels is None else np.asarray(labels, np.int64)
    groups = [f"volume{i}" for i in range(n)] if groups is None else [str(g) for g in groups]
    if len(labels) != n or len(groups) != n:
        raise ValueError("real images, labels and groups differ in length")
    n_classes = int(labels.max()) + 1
    class_names = class_names or [f"class{i}" for i in range(n_classes)]
    split = group_split(groups, labels, seed=seed)
    a, b = split.index_a, split.index_b
    _tick(progress, should_stop, "training feature extractor", 0.02)
    if heldout is not None:
        heldout = _check(heldout, "heldout")
        h_labels = (np.zeros(len(heldout), np.int64) if heldout_labels is None
                    else np.asarray(heldout_labels, np.int64))
        h_groups = ([f"heldout{i}" for i in range(len(heldout))] if heldout_groups is None
                    else [str(g) for g in heldout_groups])
        e_images, e_labels, e_groups = heldout, h_labels, h_groups
        trained_on = f"held-out scans ({len(heldout)} slices)"
        t_images, p_images, p_labels, p_groups = real, heldout, h_labels, h_groups
    else:
        e_images, e_labels = real[a], labels[a]
        e_groups = [split.groups[i] for i in a]
        trained_on = f"reference half A of the real slices ({len(a)} slices)"
        t_images, p_images = real[a], real[b]
        p_labels, p_groups = labels[b], [split.groups[i] for i in b]
    if extractor is None:
        targets: dict[str, np.ndarray] = {}
        if np.unique(e_labels).size > 1:
            targets["condition"] = e_labels
        pos = feat.position_bins([str(g).split("#slab")[0] for g in e_groups])
        if pos is not None:
            targets["position"] = pos
        extractor = feat.train_net(e_images, targets, "features", steps=extractor_steps,
                                   seed=seed)
    classifier = None
    if n_classes > 1 and np.unique(e_labels).size > 1:
        _tick(progress, should_stop, "training condition classifier", 0.1)
        classifier = clf.train_classifier(e_images, e_labels, classifier_steps, seed)
    ref = Reference(
        images=real, labels=labels, groups=groups, class_names=list(class_names), split=split,
        extractor=extractor, classifier=classifier, trained_on=trained_on,
        t_images=t_images, p_images=p_images, seed=seed, n_boot=n_boot,
        p_split=group_split(p_groups, p_labels, seed=seed + 1),
    )
    _tick(progress, should_stop, "real-vs-real baselines", 0.2)

    feats = extractor.features(real)
    ref.feat_mean, ref.feat_std = feats[a].mean(0), feats[a].std(0) + 1e-6
    ref.feats_all = ref.features(real)
    ref.feats_a = ref.feats_all[a]
    ref.feats_t = ref.feats_all if heldout is not None else ref.feats_all[a]
    ref.pca = mem.pca_fit(t_images, 32)
    ref.ct = mem.CTTest(mem.pca_apply(t_images, *ref.pca), mem.pca_apply(p_images, *ref.pca),
                        seed=seed)
    ref.t_self_nn = mem.nearest_neighbours(t_images, t_images, 1, exclude_self=True)[1][:, 0]
    p_nn = mem.nearest_neighbours(p_images, t_images, 1)[1][:, 0]
    ref.copy_threshold = float(NEAR_COPY_FACTOR * p_nn.min())
    ref.baseline = _distribution_scores(ref, real[b], labels[b], real[b], labels[b], True)
    ref.baseline.update(_memorization_scores(ref, None, baseline=True))
    return ref


def _gap_scores(
    ref: Reference, images: np.ndarray, labels: np.ndarray, rng_seed: int
) -> dict[str, Any]:
    """Diversity: per condition mean pairwise MS-SSIM vs reference half A, and their gap."""
    seed = ref.seed
    if ref.pairs_a is None:
        ref.pairs_a = pairwise_msssim(ref.images[ref.a], ref.labels[ref.a], seed=seed)
    va = ref.pairs_a
    vg = pairwise_msssim(images, labels, seed=rng_seed)
    conds = [c for c in va if c in vg]
    if not conds:
        return {"value": float("nan"), "ci": [float("nan")] * 2, "per_condition": {}}
    rng = np.random.default_rng(rng_seed)
    gaps, reps, per = [], [], {}
    for c in conds:
        ga, gg = va[c].mean(), vg[c].mean()
        gaps.append(abs(gg - ga))
        ra = va[c][resample_indices(len(va[c]), ref.n_boot, rng)].mean(1)
        rg = vg[c][resample_indices(len(vg[c]), ref.n_boot, rng)].mean(1)
        reps.append(np.abs(rg - ra))
        per[ref.class_names[c]] = {"images": float(gg), "reference": float(ga)}
    value = float(np.mean(gaps))
    ci = recentred_interval(value, np.mean(reps, axis=0), CI_LEVEL)
    mean_all = float(np.mean([vg[c].mean() for c in conds]))
    return {"value": value, "ci": list(ci), "msssim": mean_all, "per_condition": per}


def _distribution_scores(
    ref: Reference, images: np.ndarray, labels: np.ndarray, all_images: np.ndarray,
    all_labels: np.ndarray, baseline: bool = False,
) -> dict[str, Any]:
    """SWD, KID, FD of ``images`` (size-matched) vs half A; MS-SSIM gap and conditional
    accuracy on ``all_images``."""
    s, nb = ref.seed, ref.n_boot
    out: dict[str, Any] = {}
    r = swd(images, ref.images[ref.a], seed=s, n_boot=nb)
    out["swd"] = r.to_dict()
    out["msssim_gap"] = _gap_scores(ref, all_images, all_labels, s + 11 if baseline else s + 12)
    f = ref.features(images)
    k, kci = feat.kid(f, ref.feats_a, nb, s)
    out["kid"] = {"value": k, "ci": list(kci)}
    d, dci = feat.frechet_distance(f, ref.feats_a, nb, s)
    out["fd"] = {"value": d, "ci": list(dci)}
    if ref.classifier is not None:
        v, ci = mean_ci(clf.correct(ref.classifier, all_images, all_labels), nb, s)
        out["cond_accuracy"] = {"value": v, "ci": list(ci)}
    return out


def _memorization_scores(
    ref: Reference, images: np.ndarray | None, baseline: bool = False
) -> dict[str, Any]:
    """NN distances to T, AuthPct, near-copy fraction and C_T (baseline: P halves)."""
    s, nb = ref.seed, ref.n_boot
    if baseline:
        images = ref.p_images
    idx, dist = mem.nearest_neighbours(images, ref.t_images, 1)
    idx, dist = idx[:, 0], dist[:, 0]
    fdist = mem.nearest_neighbours(ref.features(images), ref.feats_t, 1)[1][:, 0]
    out: dict[str, Any] = {}
    v, ci = mean_ci(dist, nb, s)
    out["nn_distance_pixel"] = {"value": v, "ci": list(ci)}
    v, ci = mean_ci(fdist, nb, s)
    out["nn_distance_feature"] = {"value": v, "ci": list(ci)}
    auth = mem.authentic(dist, idx, ref.t_self_nn).astype(np.float64) * 100
    v, ci = mean_ci(auth, nb, s)
    out["authpct"] = {"value": v, "ci": list(ci)}
    # near-copies of *any* training slice (all of R); the baseline can only use T
    to_train = dist if baseline else mem.nearest_neighbours(images, ref.images, 1)[1][:, 0]
    near = (to_train < ref.copy_threshold).astype(np.float64)
    v, ci = mean_ci(near, nb, s)
    out["near_copy_fraction"] = {"value": v, "ci": list(ci)}
    emb = mem.pca_apply(images, *ref.pca)
    if baseline:
        ps = ref.p_split
        ct = ref.ct(emb[ps.index_b], nb, s, heldout_index=ps.index_a)
    else:
        ct = ref.ct(emb, nb, s)
    out["ct"] = ct.to_dict()
    return out


DIRECTION = {
    "swd": "lower", "msssim_gap": "lower", "kid": "lower", "fd": "lower",
    "cond_accuracy": "higher", "swap_accuracy": "higher",
    "nn_distance_pixel": "closer", "nn_distance_feature": "closer", "authpct": "closer",
    "near_copy_fraction": "lower", "ct": "closer",
}


@dataclass
class EvaluationResult:
    """Scores, baselines and the arrays the report and widgets need.

    ``to_dict()`` is the JSON-serialisable record written to ``metrics.json``; the arrays
    (``generated``, ``real``, ``nn_index``, ``nn_distance``) stay in memory only, and
    ``reference`` (trained networks, baselines) can score more images with :func:`score`.
    """

    data: dict[str, Any]
    generated: np.ndarray = field(repr=False)
    generated_labels: np.ndarray = field(repr=False)
    real: np.ndarray = field(repr=False)
    nn_index: np.ndarray = field(repr=False)
    nn_distance: np.ndarray = field(repr=False)
    reference: Reference | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return self.data

    @property
    def metrics(self) -> dict[str, dict[str, Any]]:
        return self.data["metrics"]

    @property
    def flagged(self) -> bool:
        """True when the memorization test flags copying of training slices."""
        return bool(self.data["memorization"]["flagged"])

    def near_copies(self) -> list[int]:
        """Indices of generated images closer to a training slice than the copy threshold."""
        return list(self.data["memorization"]["near_copies"])


def _merge(score: dict, base: dict) -> dict[str, Any]:
    out = {}
    for key, val in score.items():
        entry = dict(val)
        b = base.get(key)
        if b is not None:
            entry["baseline"] = b["value"]
            entry["baseline_ci"] = b["ci"]
            if "per_level" in b:
                for lvl, bv in b["per_level"].items():
                    entry["per_level"][lvl]["baseline"] = bv["value"]
                    entry["per_level"][lvl]["baseline_ci"] = bv["ci"]
            if "per_condition" in b:
                entry["baseline_per_condition"] = b["per_condition"]
            if "msssim" in b:
                entry["baseline_msssim"] = b["msssim"]
        entry["better"] = DIRECTION.get(key, "lower")
        out[key] = entry
    return out


def score(
    ref: Reference,
    generated: np.ndarray,
    labels: np.ndarray | None = None,
    *,
    swapped: np.ndarray | None = None,
    swapped_labels: np.ndarray | None = None,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> EvaluationResult:
    """Score generated images against a prepared :class:`Reference`."""
    t0 = time.perf_counter()
    gen = _check(generated, "generated")
    if gen.shape[1:] != ref.images.shape[1:]:
        raise ValueError(f"generated images {gen.shape[1:]} vs real {ref.images.shape[1:]}")
    labels = np.zeros(len(gen), np.int64) if labels is None else np.asarray(labels, np.int64)
    if len(labels) != len(gen):
        raise ValueError("generated images and labels differ in length")
    b_labels = ref.labels[ref.b]
    sub = matched_subsample(labels, b_labels, seed=ref.seed)
    if len(sub) < 2:
        raise ValueError("too few generated images of the real conditions to compare")
    _tick(progress, should_stop, "quality and diversity", 0.4)
    scores = _distribution_scores(ref, gen[sub], labels[sub], gen, labels)
    if ref.classifier is not None and swapped is not None:
        sw = _check(swapped.reshape(-1, *swapped.shape[-2:]), "swapped")
        sl = (np.repeat(np.arange(swapped.shape[0]), swapped.shape[1])
              if swapped_labels is None else np.asarray(swapped_labels).reshape(-1))
        v, ci = mean_ci(clf.correct(ref.classifier, sw, sl), ref.n_boot, ref.seed)
        scores["swap_accuracy"] = {"value": v, "ci": list(ci), "n": len(sw)}
    _tick(progress, should_stop, "memorization", 0.7)
    scores.update(_memorization_scores(ref, gen))
    base = dict(ref.baseline)
    if "swap_accuracy" in scores:
        base["swap_accuracy"] = ref.baseline.get("cond_accuracy")
    metrics = _merge(scores, base)
    _tick(progress, should_stop, "nearest training slices", 0.9)
    nn_idx, nn_dist = mem.nearest_neighbours(gen, ref.images, 1)
    nn_feat = mem.nearest_neighbours(ref.features(gen), ref.feats_all, 1)
    near = np.flatnonzero(nn_dist[:, 0] < ref.copy_threshold)
    ct = metrics["ct"]
    reasons = []
    if ct["copying"]:
        reasons.append(f"C_T = {ct['value']:.2f} < {mem.CT_COPY_THRESHOLD:g}")
    if len(near) > NEAR_COPY_MAX_FRACTION * len(gen):
        reasons.append(f"{len(near)} of {len(gen)} images are near-copies of training slices")
    cfg = msssim_config(gen.shape[-1])
    data = {
        "version": 1,
        "size": int(gen.shape[-1]),
        "class_names": list(ref.class_names),
        "conditional": ref.conditional,
        "n_real": len(ref.images),
        "n_generated": len(gen),
        "n_compared": len(sub),
        "seed": ref.seed,
        "n_bootstrap": ref.n_boot,
        "ci_level": CI_LEVEL,
        "split": ref.split.to_dict(),
        "memorization_sets": {
            "train": len(ref.t_images), "unseen_real": len(ref.p_images),
            "heldout_given": ref.trained_on.startswith("held-out"),
        },
        "feature_extractor": {**ref.extractor.describe(), "trained_on": ref.trained_on},
        "classifier": (None if ref.classifier is None
                       else {**ref.classifier.describe(), "trained_on": ref.trained_on}),
        "msssim": {"window": cfg.window, "sigma": cfg.sigma, "scales": cfg.scales},
        "metrics": metrics,
        "memorization": {
            "flagged": bool(reasons),
            "reasons": reasons,
            "copy_threshold": ref.copy_threshold,
            "near_copies": [int(i) for i in near],
            "nearest": {
                "index": [int(i) for i in nn_idx[:, 0]],
                "pixel_distance": [float(d) for d in nn_dist[:, 0]],
                "feature_index": [int(i) for i in nn_feat[0][:, 0]],
                "feature_distance": [float(d) for d in nn_feat[1][:, 0]],
                "source": [ref.groups[int(i)] for i in nn_idx[:, 0]],
            },
        },
        "warnings": list(ref.split.warnings),
        "seconds": round(time.perf_counter() - t0, 2),
    }
    _tick(progress, None, "done", 1.0)
    return EvaluationResult(data, gen, labels, ref.images, nn_idx[:, 0], nn_dist[:, 0], ref)


def evaluate(
    real: np.ndarray,
    real_labels: np.ndarray | None,
    real_groups: list[str] | None,
    generated: np.ndarray,
    generated_labels: np.ndarray | None = None,
    class_names: list[str] | None = None,
    *,
    swapped: np.ndarray | None = None,
    heldout: np.ndarray | None = None,
    heldout_labels: np.ndarray | None = None,
    heldout_groups: list[str] | None = None,
    n_boot: int = 200,
    seed: int = 0,
    extractor_steps: int = 300,
    classifier_steps: int = clf.CLASSIFIER_STEPS,
    extractor: feat.TrainedNet | None = None,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> EvaluationResult:
    """Evaluate generated slices against real ones (see the module docstring for the sets).

    Parameters
    ----------
    real, real_labels, real_groups
        ``(N, S, S)`` real slices in [-1, 1] (the generator's training data), their condition
        index and volume/patient id (splits are made per id, never per slice).
    generated, generated_labels
        ``(M, S, S)`` generated slices in [-1, 1] and the condition each was asked for.
    class_names : list of str, optional
        Condition names, indexed by label.
    swapped : numpy.ndarray, optional
        ``(n_classes, k, S, S)`` condition-swapped samples (``Sampler.condition_swap``).
    heldout, heldout_labels, heldout_groups
        Optional real slices of volumes the generator never saw.
    n_boot : int
        Bootstrap replicates of every interval.
    extractor : TrainedNet, optional
        Reuse a feature extractor (e.g. loaded from a previous report) so KID/FD compare.
    progress, should_stop
        ``progress(stage, fraction)`` is called between stages; when ``should_stop()``
        returns True, :class:`EvaluationCancelled` is raised.
    """
    t0 = time.perf_counter()
    ref = prepare_reference(
        real, real_labels, real_groups, class_names, heldout=heldout,
        heldout_labels=heldout_labels, heldout_groups=heldout_groups, n_boot=n_boot, seed=seed,
        extractor_steps=extractor_steps, classifier_steps=classifier_steps,
        extractor=extractor, progress=progress, should_stop=should_stop,
    )
    result = score(ref, generated, generated_labels, swapped=swapped, progress=progress,
                   should_stop=should_stop)
    result.data["seconds"] = round(time.perf_counter() - t0, 2)
    return result
