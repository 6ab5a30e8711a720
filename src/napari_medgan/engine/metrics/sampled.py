"""Evaluate a sampler (a loaded checkpoint) against real volumes: the CLI's and widget's entry."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from ..data import UNCONDITIONAL, DataError, SliceDataset, Volume, build_dataset
from .evaluate import EvaluationResult, Progress, evaluate

MAX_DEFAULT_N = 1000


def dataset_for(sampler, volumes: list[Volume]) -> tuple[SliceDataset, np.ndarray]:
    """Slice ``volumes`` exactly as the checkpoint's training data was sliced.

    Each volume gets the checkpoint's intensity window of its condition, so the same scan
    value lands on the same model value as in training.

    Returns
    -------
    dataset, labels
        The dataset and its labels re-indexed to the sampler's condition order.
    """
    named = [v.condition is not None for v in volumes]
    if sampler.conditional and not all(named):
        raise DataError(
            "this model is conditional: give a condition for every real input "
            f"(conditions: {', '.join(sampler.class_names)})"
        )
    if not sampler.conditional and any(named):
        raise DataError("this model was trained without conditions; give no condition names")
    windowed = []
    for v in volumes:
        key = v.condition if sampler.conditional else UNCONDITIONAL
        if key not in sampler.class_names:
            raise DataError(
                f"{v.name}: condition {key!r} is unknown to the model "
                f"(it knows {', '.join(sampler.class_names)})"
            )
        t = sampler.transforms.get(key)
        win = (t.low, t.high) if t is not None else v.window
        windowed.append(dataclasses.replace(v, window=win))
    cfg = sampler.config
    ds = build_dataset(windowed, sampler.size, cfg.slice_axis, cfg.min_foreground)
    index = {n: i for i, n in enumerate(sampler.class_names)}
    labels = np.array([index[ds.class_names[int(k)]] for k in ds.labels.numpy()], dtype=np.int64)
    return ds, labels


def evaluate_sampler(
    sampler,
    real_volumes: list[Volume],
    heldout_volumes: list[Volume] | None = None,
    n: int | None = None,
    n_swap: int | None = None,
    seed: int = 0,
    n_boot: int = 200,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
    **kwargs,
) -> EvaluationResult:
    """Sample from ``sampler`` and evaluate against real (and held-out) volumes.

    Parameters
    ----------
    sampler : napari_medgan.engine.Sampler
        A loaded checkpoint (``Sampler.from_checkpoint``) or wrapped generator.
    real_volumes : list of Volume
        The scans the model was trained on (or scans of the same population).
    heldout_volumes : list of Volume, optional
        Scans the model never saw; they make the memorization test sharper.
    n : int, optional
        Generated images in total, split over conditions like the real slices (default: as
        many as real slices, at most 1000).
    n_swap : int, optional
        Latents rendered under every condition for the swap accuracy (conditional models;
        default ``max(8, n // (2 * conditions))``).
    """
    ds, labels = dataset_for(sampler, real_volumes)
    real = ds.images[:, 0].numpy()
    h = hl = hg = None
    if heldout_volumes:
        hds, hl = dataset_for(sampler, heldout_volumes)
    present = sorted(set(labels.tolist()))
    if heldout_volumes:
        keep = np.isin(hl, present)  # conditions absent from the real data cannot be compared
        h = hds.images[:, 0].numpy()[keep]
        hg = [g for g, k in zip(hds.sources, keep) if k]
        hl = hl[keep]
        if len(h) < 2:
            raise DataError("the held-out scans share no condition with the real scans")
    total = n if n is not None else min(len(real), MAX_DEFAULT_N)
    counts = np.array([(labels == c).sum() for c in present], dtype=np.float64)
    per = _allocate(int(total), counts)
    if progress is not None:
        progress("sampling the generator", 0.01)
    gen, glab = [], []
    for c, k in zip(present, per):
        cond = sampler.class_names[c] if sampler.conditional else None
        gen.append(sampler.sample(int(k), cond, seed=seed + 1000 * c, units="model"))
        glab.append(np.full(int(k), c, dtype=np.int64))
    swapped = None
    if sampler.conditional and len(present) > 1:
        k = n_swap or max(8, int(total) // (2 * len(present)))
        swapped = sampler.condition_swap(k, seed=seed + 777, units="model")[present]
    class_names = list(sampler.class_names)
    # re-index to the conditions present in the real data (classifier heads need contiguous ids)
    remap = {c: i for i, c in enumerate(present)}
    lab = np.array([remap[c] for c in labels])
    result = evaluate(
        real, lab, list(ds.sources), np.concatenate(gen),
        np.array([remap[c] for c in np.concatenate(glab)]), [class_names[c] for c in present],
        swapped=swapped, heldout=h,
        heldout_labels=None if hl is None else np.array([remap[c] for c in hl]),
        heldout_groups=hg, n_boot=n_boot, seed=seed, progress=progress,
        should_stop=should_stop, **kwargs,
    )
    result.data["checkpoint"] = {
        "path": None if getattr(sampler, "path", None) is None else str(sampler.path),
        "step": int(getattr(sampler, "step", 0)),
        "class_names": class_names,
        "size": int(sampler.size),
        "slice_axis": int(sampler.config.slice_axis),
    }
    return result


def _allocate(total: int, counts: np.ndarray) -> np.ndarray:
    """Split ``total`` proportionally to ``counts`` (largest remainders), at least 1 each."""
    share = total * counts / counts.sum()
    per = np.floor(share).astype(int)
    for i in np.argsort(-(share - per))[: total - per.sum()]:
        per[i] += 1
    return np.maximum(per, 1)
