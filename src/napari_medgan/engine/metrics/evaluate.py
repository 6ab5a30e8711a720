"""Score images against a prepared :class:`~.reference.Reference`: quality, diversity, condition
fidelity and memorization, each with an interval, its real baseline and the ratio to it.

Every scored set (the generated images, and the always-shown controls: verbatim training
copies and the untrained generator) is subsampled to the same per-condition counts as the
baseline (training real vs held-out real), so value and baseline compare like with like.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import classifier as clf
from . import copies
from . import coverage as cov
from . import memorization as mem
from .features import frechet_distance, kid
from .msssim import msssim_config, pairwise_msssim
from .realism import DIRECTION as REALISM_DIRECTION
from .realism import NOISE_SIGMA, realism_scores
from .reference import (
    EvaluationCancelled,
    Progress,
    Reference,
    check_images,
    prepare_reference,
    subsample,
    tick,
)
from .stats import CI_LEVEL, mean_ci, recentred_interval, resample_indices
from .swd import swd

__all__ = ["EvaluationCancelled", "EvaluationResult", "Reference", "evaluate",
           "prepare_reference", "score", "score_set"]

DIRECTION = {
    "swd": "lower", "msssim_gap": "lower", "kid": "lower", "fd": "lower",
    "cond_accuracy": "higher", "swap_accuracy": "higher",
    "nn_distance": "closer", "nn_distance_feature": "closer", "authpct": "closer",
    "near_copy_fraction": "lower", "ct": "closer", **cov.DIRECTION, **REALISM_DIRECTION,
}
ORDER = ("swd", "kid", "fd", "c2st", "spectrum", "coverage", "recall", "precision", "density",
         "msssim_gap", "cond_accuracy", "swap_accuracy")  # table order; memorization follows
NO_RATIO = {"ct", "c2st", "spectrum"}  # around 0, 0.5 or 1 already: a ratio would mean nothing
DRAWS = 5  # random count-matched subsets averaged for SWD, KID and FD


def _gap(ref: Reference, images: np.ndarray, labels: np.ndarray, seed: int) -> dict[str, Any]:
    """Diversity: per condition |mean MS-SSIM of pairs − that of held-out pairs|, averaged."""
    if ref.h_pairs is None:
        ref.h_pairs = pairwise_msssim(ref.heldout, ref.heldout_labels, seed=ref.seed)
    vh, vg = ref.h_pairs, pairwise_msssim(images, labels, seed=seed)
    conds = [c for c in vh if c in vg]
    if not conds:
        return {"value": float("nan"), "ci": [float("nan")] * 2, "per_condition": {}}
    rng = np.random.default_rng(seed)
    gaps, reps, per = [], [], {}
    for c in conds:
        gaps.append(abs(vg[c].mean() - vh[c].mean()))
        rh = vh[c][resample_indices(len(vh[c]), ref.n_boot, rng)].mean(1)
        rg = vg[c][resample_indices(len(vg[c]), ref.n_boot, rng)].mean(1)
        reps.append(np.abs(rg - rh))
        per[ref.class_names[c]] = {"images": float(vg[c].mean()), "heldout": float(vh[c].mean())}
    value = float(np.mean(gaps))
    return {"value": value, "ci": list(recentred_interval(value, np.mean(reps, 0), CI_LEVEL)),
            "per_condition": per}


def _swd_per_condition(ref: Reference, images: np.ndarray, labels: np.ndarray) -> dict:
    """SWD of each condition's images vs that condition's held-out slices (no interval).

    Pooled SWD mixes conditions: one condition's failure is diluted by the others (and a
    generator can match the pooled patch statistics with the wrong contrast per condition).
    """
    out = {}
    for c in np.unique(labels):
        held = ref.heldout[ref.heldout_labels == c]
        if len(held) and (labels == c).any():
            out[ref.class_names[int(c)]] = swd(images[labels == c], held, seed=ref.seed).value
    return out


def _point_scores(ref: Reference, images: np.ndarray, labels: np.ndarray,
                  n_boot: int) -> dict[str, Any]:
    s = ref.seed
    out: dict[str, Any] = {"swd": swd(images, ref.heldout, seed=s, n_boot=n_boot).to_dict()}
    if ref.conditional:
        out["swd"]["per_condition"] = _swd_per_condition(ref, images, labels)
    out.update(cov.protocol_scores(ref, images, labels, n_boot, s, keys=cov.AT_HELDOUT_COUNTS))
    f = ref.features(images)
    k, kci = kid(f, ref.feats_h, n_boot, s)
    out["kid"] = {"value": k, "ci": None if kci is None else list(kci)}
    d, dci = frechet_distance(f, ref.feats_h, n_boot, s)
    out["fd"] = {"value": d, "ci": None if dci is None else list(dci)}
    return out


def _distribution(ref: Reference, images: np.ndarray, labels: np.ndarray,
                  counts: dict[int, int], seed: int) -> dict[str, Any]:
    """SWD, KID, FD, coverage/precision/density and MS-SSIM gap of count-matched
    subsets against H.

    With more images than the compared counts, the point values average ``DRAWS`` random
    subsets (small sets vary a lot with the draw); the interval is the first draw's bootstrap
    interval, moved with the average.
    """
    subs = [subsample(labels, counts, seed + d) for d in range(DRAWS)]
    if all(len(x) == len(labels) for x in subs):
        subs = subs[:1]  # every draw is the whole set
    out = _point_scores(ref, images[subs[0]], labels[subs[0]], ref.n_boot)
    if len(subs) > 1:
        extra = [_point_scores(ref, images[x], labels[x], 0) for x in subs[1:]]
        for key in ("swd", "kid", "fd", *cov.AT_HELDOUT_COUNTS):
            first = out[key]["value"]
            mean = float(np.mean([first] + [e[key]["value"] for e in extra]))
            out[key]["value"] = mean
            if out[key]["ci"] is not None:
                out[key]["ci"] = [c + mean - first for c in out[key]["ci"]]
                if key in cov.BOUNDED:
                    out[key]["ci"] = [min(max(c, 0.0), 1.0) for c in out[key]["ci"]]
            for lvl, entry in out[key].get("per_level", {}).items():
                vals = [entry["value"]] + [e[key]["per_level"][lvl]["value"] for e in extra]
                shift = float(np.mean(vals)) - entry["value"]
                entry["value"] += shift
                if entry["ci"] is not None:  # None with n_boot = 0
                    entry["ci"] = [c + shift for c in entry["ci"]]
            per = out[key].get("per_condition")
            if per:
                for name in per:
                    per[name] = float(np.mean([per[name]] + [e[key]["per_condition"][name]
                                                             for e in extra]))
        out["draws"] = len(subs)
    out["msssim_gap"] = _gap(ref, images[subs[0]], labels[subs[0]], ref.seed + 11)
    return out


def _memorization(ref: Reference, images: np.ndarray) -> tuple[dict[str, Any], dict[str, Any]]:
    """Memorization metrics of ``images`` and the gate's details."""
    s, nb = ref.seed, ref.n_boot
    idx, dist = copies.copy_distances(images, ref.train, 1)
    idx, dist = idx[:, 0], dist[:, 0]
    out: dict[str, Any] = {}
    v, ci = mean_ci(dist, nb, s)
    out["nn_distance"] = {"value": v, "ci": list(ci)}
    fdist = mem.nearest_neighbours(ref.features(images), ref.feats_t, 1)[1][:, 0]
    v, ci = mean_ci(fdist, nb, s)
    out["nn_distance_feature"] = {"value": v, "ci": list(ci)}
    auth = mem.authentic(dist, idx, ref.t_loo).astype(np.float64) * 100
    v, ci = mean_ci(auth, nb, s)
    out["authpct"] = {"value": v, "ci": list(ci)}
    gate_dist = dist if ref.copy_refs is ref.train else copies.copy_distances(
        images, ref.copy_refs, 1)[1][:, 0]
    gate = ref.gate.test(gate_dist, nb, s)
    out["near_copy_fraction"] = {k: gate[k] for k in ("value", "ci")}
    ct = ref.ct(mem.pca_apply(images, *ref.pca), dist, nb, s)
    out["ct"] = ct.to_dict()
    reasons = []
    if gate["flagged"]:
        reasons.append(
            f"{len(gate['near_copies'])} of {len(images)} images are closer to a training slice "
            f"than {ref.gate.alpha:.0%} of held-out real slices are (expected "
            f"{ref.gate.alpha:.0%}; estimated copied fraction {gate['copied_fraction']:.0%}, "
            f"p = {gate['p_value']:.1e})"
        )
    if ct.copying and ref.ct_in_verdict:
        reasons.append(
            f"C_T = {ct.value:.2f} (permutation p = {ct.p_value:.3f}): images are closer to the "
            "training set than held-out real slices are"
        )
    verdict = {
        "flagged": bool(reasons),
        "reasons": reasons,
        "copied_fraction": gate["copied_fraction"],
        "copied_fraction_ci": gate["copied_fraction_ci"],
        "near_copies": gate["near_copies"],
        "near_copy_p_value": gate["p_value"],
        "ct_p_value": ct.p_value,
        "ct_in_verdict": ref.ct_in_verdict,
        "nearest": {"index": [int(i) for i in idx], "distance": [float(d) for d in dist],
                    "source": [ref.train_groups[int(i)] for i in idx]},
    }
    return out, verdict


def _ratio(value: Any, base: Any) -> float | None:
    if value is None or base is None:
        return None
    value, base = float(value), float(base)
    if not (np.isfinite(value) and np.isfinite(base)) or base <= 0:
        return None
    return value / base


def _merge(scores: dict, base: dict) -> dict[str, Any]:
    out = {}
    for key, val in scores.items():
        entry = dict(val)
        b = base.get(key)
        if b is not None:
            entry["baseline"] = b["value"]
            entry["baseline_ci"] = b["ci"]
            entry["ratio"] = None if key in NO_RATIO else _ratio(val["value"], b["value"])
            if "per_level" in b:
                for lvl, bv in b["per_level"].items():
                    entry["per_level"][lvl]["baseline"] = bv["value"]
            if "per_condition" in b:
                entry["baseline_per_condition"] = b["per_condition"]
        entry["better"] = DIRECTION.get(key, "lower")
        out[key] = entry
    return out


def _baseline(ref: Reference, counts: dict[int, int]) -> dict[str, Any]:
    """Training real (count-matched random subset) vs held-out real; cached per counts."""
    key = tuple(sorted(counts.items()))
    if key not in ref.baselines:
        base = _distribution(ref, ref.train, ref.train_labels, counts, ref.seed + 5)
        if ref.classifier is not None:
            v, ci = mean_ci(clf.correct(ref.classifier, ref.heldout, ref.heldout_labels),
                            ref.n_boot, ref.seed)
            base["cond_accuracy"] = {"value": v, "ci": list(ci)}
        base.update(ref.memo_baseline)
        ref.baselines[key] = base
    return ref.baselines[key]


def score_set(ref: Reference, images: np.ndarray, labels: np.ndarray | None = None,
              swapped: np.ndarray | None = None,
              swapped_labels: np.ndarray | None = None) -> tuple[dict, dict, dict[int, int]]:
    """Metrics table, memorization verdict and compared counts of one image set."""
    images = check_images(images, "images")
    if images.shape[1:] != ref.train.shape[1:]:
        raise ValueError(f"images {images.shape[1:]} vs real slices {ref.train.shape[1:]}")
    labels = np.zeros(len(images), np.int64) if labels is None else np.asarray(labels, np.int64)
    if len(labels) != len(images):
        raise ValueError("images and labels differ in length")
    counts = ref.compare_counts(labels)
    if sum(counts.values()) < 2:
        raise ValueError("too few images of the held-out conditions to compare")
    scores = _distribution(ref, images, labels, counts, ref.seed)
    draws = scores.pop("draws", 1)
    rcounts = cov.training_counts(ref, labels)  # recall: at the larger training counts
    if rcounts:
        scores["recall"] = cov.recall_block(ref, images, labels, rcounts, ref.seed)
    if ref.classifier is not None:
        v, ci = mean_ci(clf.correct(ref.classifier, images, labels), ref.n_boot, ref.seed)
        scores["cond_accuracy"] = {"value": v, "ci": list(ci)}
        if swapped is not None:
            sw = check_images(swapped.reshape(-1, *swapped.shape[-2:]), "swapped")
            sl = (np.repeat(np.arange(swapped.shape[0]), swapped.shape[1])
                  if swapped_labels is None else np.asarray(swapped_labels).reshape(-1))
            v, ci = mean_ci(clf.correct(ref.classifier, sw, sl), ref.n_boot, ref.seed)
            scores["swap_accuracy"] = {"value": v, "ci": list(ci), "n": len(sw)}
    real_scores, real_base = realism_scores(ref, images, labels)
    scores.update(real_scores)
    memo, verdict = _memorization(ref, images)
    scores.update(memo)
    base = {**_baseline(ref, counts), **real_base}
    if rcounts:
        rkey = ("recall", *sorted(rcounts.items()))
        if rkey not in ref.baselines:
            ref.baselines[rkey] = cov.recall_block(ref, ref.train, ref.train_labels, rcounts,
                                                   ref.seed + 5)
        base["recall"] = ref.baselines[rkey]
    if "swap_accuracy" in scores and "cond_accuracy" in base:
        base["swap_accuracy"] = base["cond_accuracy"]
    base = {k: v for k, v in base.items() if k != "draws"}
    rank = {k: i for i, k in enumerate(ORDER)}
    scores = dict(sorted(scores.items(), key=lambda kv: rank.get(kv[0], len(ORDER))))
    table = _merge(scores, base)
    for key in ("swd", "kid", "fd", *cov.AT_HELDOUT_COUNTS):
        table[key]["draws"] = draws
    return table, verdict, counts


@dataclass
class EvaluationResult:
    """Scores, baselines, controls and the arrays the report and widgets need.

    ``to_dict()`` is the JSON record written to ``metrics.json``; ``generated``, ``real``
    (the training slices), ``nn_index`` and ``nn_distance`` stay in memory only.
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
        """True when the memorization gate flags copying of training slices."""
        return bool(self.data["memorization"]["flagged"])

    def near_copies(self) -> list[int]:
        """Indices of generated images below the calibrated near-copy threshold."""
        return list(self.data["memorization"]["near_copies"])


def _control_rows(ref: Reference, labels: np.ndarray, untrained: np.ndarray | None) -> dict:
    """Verbatim training copies (same condition counts, at most every training slice once) and,
    if given, the untrained generator."""
    rng = np.random.default_rng(ref.seed + 3)
    pick = []
    for c in np.unique(labels):
        pool = np.flatnonzero(ref.train_labels == c)
        want = min(int((labels == c).sum()), pool.size)  # no duplicates: distinct slices
        if want:
            pick.append(rng.choice(pool, size=want, replace=False))
    rows = {}
    sets = {"verbatim": (ref.train[np.concatenate(pick)], ref.train_labels[np.concatenate(pick)])}
    if untrained is not None:
        sets["untrained"] = (untrained, labels)
    for name, (images, lab) in sets.items():
        table, verdict, _ = score_set(ref, images, lab)
        rows[name] = {"metrics": table,
                      "memorization": {k: verdict[k] for k in ("flagged", "reasons",
                                                               "copied_fraction")}}
    return rows


def score(
    ref: Reference,
    generated: np.ndarray,
    labels: np.ndarray | None = None,
    *,
    swapped: np.ndarray | None = None,
    swapped_labels: np.ndarray | None = None,
    untrained: np.ndarray | None = None,
    controls: bool = True,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> EvaluationResult:
    """Score generated images (and the control rows) against a prepared :class:`Reference`.

    ``untrained`` are samples of the same architecture at its random initialisation (same
    labels as ``generated``); ``controls=False`` skips the control rows.
    """
    t0 = time.perf_counter()
    gen = check_images(generated, "generated")
    labels = np.zeros(len(gen), np.int64) if labels is None else np.asarray(labels, np.int64)
    tick(progress, should_stop, "quality, realism, diversity and memorization", 0.4)
    metrics, verdict, counts = score_set(ref, gen, labels, swapped, swapped_labels)
    rows = {}
    if controls:
        tick(progress, should_stop, "control rows (verbatim copies, untrained generator)", 0.7)
        rows = _control_rows(ref, labels, untrained)
    tick(progress, should_stop, "report", 0.95)
    cfg = msssim_config(gen.shape[-1])
    data = {
        "version": 2,
        "size": int(gen.shape[-1]),
        "class_names": list(ref.class_names),
        "conditional": ref.conditional,
        "protocol": {
            "heldout_given": ref.heldout_given,
            "n_train": len(ref.train),
            "n_heldout": len(ref.heldout),
            "compared_per_condition": {ref.class_names[c]: n for c, n in counts.items()},
            "reference": "held-out real slices" if ref.heldout_given
            else "half B of the training slices (no held-out split)",
            "baseline": "training real (random subset, same counts) vs the reference",
            "realism": "c2st and spectrum: each condition's real slices (training and "
            "held-out) in two random halves; scored sets vs one half, the other half (the "
            f"baseline) and it plus Gaussian noise σ = {NOISE_SIGMA} (sensitivity) likewise",
        },
        "n_generated": len(gen),
        "n_compared": int(sum(counts.values())),
        "seed": ref.seed,
        "n_bootstrap": ref.n_boot,
        "ci_level": CI_LEVEL,
        "feature_extractor": ref.extractor.describe(),
        "classifier": (None if ref.classifier is None
                       else {**ref.classifier.describe(), "trained_on": "training slices"}),
        "msssim": {"window": cfg.window, "sigma": cfg.sigma, "scales": cfg.scales},
        "metrics": metrics,
        "controls": rows,
        "memorization": {**verdict, "copy_threshold": ref.gate.threshold,
                         "threshold_quantile": ref.gate.alpha,
                         "threshold_capped": ref.gate.capped,
                         "calibration": f"{ref.gate.alpha:.0%} quantile of the copy distances "
                         f"of {ref.gate.n_calibration} held-out slices to the training set"
                         + (", capped at the median distance between neighbouring training "
                            "slices (slab split)" if ref.gate.capped else "")},
        "warnings": list(ref.warnings),
        "seconds": round(time.perf_counter() - t0, 2),
    }
    tick(progress, None, "done", 1.0)
    nn_idx = np.asarray(verdict["nearest"]["index"])
    nn_dist = np.asarray(verdict["nearest"]["distance"])
    return EvaluationResult(data, gen, labels, ref.train, nn_idx, nn_dist, ref)


def evaluate(
    real: np.ndarray,
    real_labels: np.ndarray | None,
    real_groups: list[str] | None,
    generated: np.ndarray,
    generated_labels: np.ndarray | None = None,
    class_names: list[str] | None = None,
    *,
    swapped: np.ndarray | None = None,
    untrained: np.ndarray | None = None,
    heldout: np.ndarray | None = None,
    heldout_labels: np.ndarray | None = None,
    heldout_groups: list[str] | None = None,
    n_boot: int = 200,
    seed: int = 0,
    classifier_steps: int = clf.CLASSIFIER_STEPS,
    extractor: Any = None,
    controls: bool = True,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> EvaluationResult:
    """Evaluate generated slices: :func:`prepare_reference` then :func:`score`.

    Parameters
    ----------
    real, real_labels, real_groups
        ``(N, S, S)`` training slices in [-1, 1], their condition index and volume id.
    generated, generated_labels
        ``(M, S, S)`` images to score and the condition each was asked for.
    heldout, heldout_labels, heldout_groups
        Real slices the generator never saw: the reference (see :mod:`.reference`).
    untrained : numpy.ndarray, optional
        Samples of the untrained generator (a control row), labelled like ``generated``.
    progress, should_stop
        ``progress(stage, fraction)`` between stages; ``should_stop()`` returning True raises
        :class:`EvaluationCancelled`.
    """
    t0 = time.perf_counter()
    ref = prepare_reference(
        real, real_labels, real_groups, class_names, heldout=heldout,
        heldout_labels=heldout_labels, heldout_groups=heldout_groups, n_boot=n_boot, seed=seed,
        classifier_steps=classifier_steps, extractor=extractor, progress=progress,
        should_stop=should_stop,
    )
    result = score(ref, generated, generated_labels, swapped=swapped, untrained=untrained,
                   controls=controls, progress=progress, should_stop=should_stop)
    result.data["seconds"] = round(time.perf_counter() - t0, 2)
    return result
