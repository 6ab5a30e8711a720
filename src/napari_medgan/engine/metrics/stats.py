"""Group-wise splits and bootstrap confidence intervals shared by every metric."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

CI_LEVEL = 0.95


@dataclass
class Split:
    """A two-way split of real slices made per group (volume / patient), never per slice.

    Attributes
    ----------
    in_a : numpy.ndarray
        Boolean mask, True for slices in half A (the reference half).
    groups : list of str
        Group id of every slice as used for the split; equal to the input ids unless a
        condition had a single volume, in which case its slices were cut into slabs
        ``"<volume>#slab<k>"`` of consecutive slices.
    method : str
        ``"per-volume"`` or ``"per-slab"`` (at least one condition had a single volume).
    warnings : list of str
        Human-readable notes on fallbacks.
    """

    in_a: np.ndarray
    groups: list[str]
    method: str
    warnings: list[str] = field(default_factory=list)

    @property
    def index_a(self) -> np.ndarray:
        return np.flatnonzero(self.in_a)

    @property
    def index_b(self) -> np.ndarray:
        return np.flatnonzero(~self.in_a)

    def to_dict(self) -> dict:
        ga = sorted({g for g, a in zip(self.groups, self.in_a) if a})
        gb = sorted({g for g, a in zip(self.groups, self.in_a) if not a})
        return {
            "method": self.method,
            "n_a": int(self.in_a.sum()),
            "n_b": int((~self.in_a).sum()),
            "groups_a": ga,
            "groups_b": gb,
            "warnings": list(self.warnings),
        }


def slab_groups(groups: Sequence[str], n_slabs: int = 8) -> list[str]:
    """Cut each group's slices (in array order) into ``n_slabs`` runs of consecutive slices."""
    groups = [str(g) for g in groups]
    out = list(groups)
    for g in dict.fromkeys(groups):
        idx = [i for i, h in enumerate(groups) if h == g]
        n = max(1, min(n_slabs, len(idx) // 2))
        for k, chunk in enumerate(np.array_split(np.asarray(idx), n)):
            for i in chunk:
                out[int(i)] = f"{g}#slab{k}"
    return out


def group_split(
    groups: Sequence[str],
    labels: np.ndarray | None = None,
    seed: int = 0,
    n_slabs: int = 8,
) -> Split:
    """Split slices into two halves of similar size per condition, keeping each group whole.

    Parameters
    ----------
    groups : sequence of str
        Volume (or patient) id of each slice.
    labels : numpy.ndarray, optional
        Condition of each slice; each condition is split separately so both halves hold all.
    seed : int
        Seed of the random group order.
    n_slabs : int
        Slabs per volume when a condition has a single volume (fallback, reported).
    """
    groups = [str(g) for g in groups]
    n = len(groups)
    if n < 2:
        raise ValueError(f"need at least 2 slices to split, got {n}")
    labels = np.zeros(n, dtype=np.int64) if labels is None else np.asarray(labels)
    rng = np.random.default_rng(seed)
    used = list(groups)
    method = "per-volume"
    warnings: list[str] = []
    in_a = np.zeros(n, dtype=bool)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        cgroups = [groups[i] for i in idx]
        if len(set(cgroups)) < 2:
            method = "per-slab"
            slabs = slab_groups(cgroups, n_slabs)
            for i, s in zip(idx, slabs):
                used[int(i)] = s
            warnings.append(
                f"condition {int(c)} has a single volume ({cgroups[0]}); split into slabs of "
                "consecutive slices instead (neighbouring slabs are correlated: baselines are "
                "optimistic)"
            )
        names = list(dict.fromkeys(used[int(i)] for i in idx))
        sizes = {g: sum(1 for i in idx if used[int(i)] == g) for g in names}
        order = [names[k] for k in rng.permutation(len(names))]
        count_a = count_b = 0
        side_a: set[str] = set()
        for g in order:  # greedy: each group to the smaller half (ties to A)
            if count_a <= count_b:
                side_a.add(g)
                count_a += sizes[g]
            else:
                count_b += sizes[g]
        for i in idx:
            in_a[i] = used[int(i)] in side_a
    if in_a.all() or not in_a.any():
        raise ValueError("cannot split: every slice belongs to one group")
    return Split(in_a=in_a, groups=used, method=method, warnings=warnings)


def recentred_interval(
    point: float, replicates: np.ndarray, level: float = CI_LEVEL
) -> tuple[float, float]:
    """Bootstrap percentile interval re-centred on the point estimate.

    Distances computed on resampled sets carry a resampling bias (duplicates); the bootstrap
    distribution is shifted so that its median sits on ``point``, which removes that bias to
    first order and guarantees the interval contains the estimate.
    """
    reps = np.asarray(replicates, dtype=np.float64)
    reps = reps[np.isfinite(reps)]
    if reps.size == 0 or not np.isfinite(point):
        return (float(point), float(point))
    alpha = (1.0 - level) / 2.0
    lo, med, hi = np.quantile(reps, [alpha, 0.5, 1.0 - alpha])
    return (float(point - (med - lo)), float(point + (hi - med)))


def resample_indices(n: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """``(n_boot, n)`` indices drawn with replacement."""
    return rng.integers(0, n, size=(n_boot, n))


def bootstrap_two_sample(
    stat: Callable[[np.ndarray, np.ndarray], float],
    n_a: int,
    n_b: int,
    n_boot: int = 200,
    seed: int = 0,
    level: float = CI_LEVEL,
) -> tuple[float, tuple[float, float]]:
    """Point estimate and re-centred CI of ``stat(idx_a, idx_b)`` resampling both samples."""
    point = float(stat(np.arange(n_a), np.arange(n_b)))
    rng = np.random.default_rng(seed)
    ia = resample_indices(n_a, n_boot, rng)
    ib = resample_indices(n_b, n_boot, rng)
    reps = np.array([stat(a, b) for a, b in zip(ia, ib)])
    return point, recentred_interval(point, reps, level)


def mean_ci(
    values: np.ndarray, n_boot: int = 200, seed: int = 0, level: float = CI_LEVEL
) -> tuple[float, tuple[float, float]]:
    """Mean of per-item values and its bootstrap interval."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return float("nan"), (float("nan"), float("nan"))
    point = float(v.mean())
    rng = np.random.default_rng(seed)
    reps = v[resample_indices(v.size, n_boot, rng)].mean(axis=1)
    return point, recentred_interval(point, reps, level)


def stratified_mean_ci(
    groups: Sequence[np.ndarray], n_boot: int = 200, seed: int = 0, level: float = CI_LEVEL
) -> tuple[float, tuple[float, float]]:
    """Mean over groups of each group's mean, with a bootstrap interval resampling within groups."""
    groups = [np.asarray(g, dtype=np.float64) for g in groups if len(g)]
    if not groups:
        return float("nan"), (float("nan"), float("nan"))
    point = float(np.mean([g.mean() for g in groups]))
    rng = np.random.default_rng(seed)
    reps = np.mean([g[resample_indices(g.size, n_boot, rng)].mean(axis=1) for g in groups], axis=0)
    return point, recentred_interval(point, reps, level)


def matched_subsample(
    labels: np.ndarray, target_labels: np.ndarray, seed: int = 0
) -> np.ndarray:
    """Indices into ``labels`` whose class counts match ``target_labels`` as far as possible."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    out = []
    for c in np.unique(target_labels):
        pool = np.flatnonzero(labels == c)
        want = int((np.asarray(target_labels) == c).sum())
        out.append(rng.permutation(pool)[: min(want, pool.size)])
    idx = np.concatenate(out) if out else np.zeros(0, dtype=np.int64)
    return np.sort(idx)
