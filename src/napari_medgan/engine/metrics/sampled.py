"""Evaluate a checkpoint (or images from any tool) against real volumes: the CLI's and widget's
entry. The run's held-out split, intensity windows and geometry are applied to the real inputs
exactly as in training."""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ..data import UNCONDITIONAL, DataError, SliceDataset, Volume, build_dataset
from .evaluate import EvaluationResult, Progress, evaluate, score

MAX_DEFAULT_N = 1000
SELECTED_ON = {
    "best": "lowest held-out SWD during training, on the held-out slices this report scores "
    "(optimistic: compare with the latest checkpoint)",
    "best-no-split": "lowest score during training (no held-out split)",
    "latest": "none: the last checkpoint of the run",
    "given": "none: a checkpoint folder chosen by hand",
}


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
    return ds, labels_in(sampler, ds)


def labels_in(sampler, ds: SliceDataset) -> np.ndarray:
    """``ds``'s labels re-indexed to the sampler's condition order."""
    index = {n: i for i, n in enumerate(sampler.class_names)}
    return np.array([index[ds.class_names[int(k)]] for k in ds.labels.numpy()], dtype=np.int64)


def run_split(sampler) -> dict | None:
    """The held-out split recorded in the sampler's checkpoint, or None (old run, holdout 0)."""
    path = getattr(sampler, "path", None)
    if path is None:
        return None
    try:
        meta = json.loads((Path(path) / "state.json").read_text()).get("meta", {})
    except (OSError, ValueError):
        return None
    split = meta.get("split")
    if not split:
        return None
    from ..holdout import HoldoutSplit

    return split if HoldoutSplit.from_dict(split).has_heldout() else None


def which_checkpoint(sampler) -> str:
    """``"best"`` when the run's ``best`` pointer names the sampler's checkpoint, ``"latest"``
    when ``latest`` does, else ``"given"`` (a checkpoint folder chosen by hand)."""
    from ..checkpoint import BEST, LATEST

    path = getattr(sampler, "path", None)
    if path is None:
        return "given"
    run = Path(path).parent.parent
    for name in (BEST, LATEST):
        pointer = run / name
        if pointer.is_file() and pointer.read_text().strip() == Path(path).name:
            return name
    return "given"


def split_real(sampler, ds: SliceDataset, split: dict | None):
    """(train_ds, heldout_ds or None) of the real inputs under the run's split."""
    if split is None:
        return ds, None
    from ..holdout import HoldoutSplit

    try:
        train, held = HoldoutSplit.from_dict(split).apply(ds)
    except ValueError as exc:
        raise DataError(
            f"the real inputs do not match the run's held-out split ({exc}); give the scans "
            "the run was trained on"
        ) from None
    return train, held


def sample_images(sampler, volumes: list[Volume]) -> tuple[np.ndarray, np.ndarray]:
    """Images from files (one volume per condition) as the model sees them, and their labels.

    Slices are taken along the run's slice axis; each slice must have the run's native slice
    shape of its condition (it is then resized like the training data) or already the model
    size. Intensities go through the run's window of the condition.
    """
    axis = sampler.config.slice_axis
    fixed = []
    for v in volumes:
        key = v.condition if sampler.conditional else UNCONDITIONAL
        geom = sampler.geometry.get(key)
        if geom is None:
            raise DataError(f"{v.name}: condition {key!r} is unknown to the model")
        data = np.asarray(v.data)
        if data.ndim == 2:
            data = data[None] if axis == 0 else np.expand_dims(data, axis)
        if data.ndim != 3:
            raise DataError(f"{v.name}: expected a 2D image or a 3D stack, got {data.ndim}D")
        shape = tuple(s for i, s in enumerate(data.shape) if i != axis)
        size = (sampler.size, sampler.size)
        if shape == size:
            spacing = [1.0, 1.0]
        elif shape == tuple(geom.native_shape):
            spacing = list(geom.native_spacing)
        else:
            raise DataError(
                f"{v.name}: slices along axis {axis} are {shape[0]}×{shape[1]}; this run needs "
                f"{size[0]}×{size[1]} (model size) or {geom.native_shape[0]}×"
                f"{geom.native_shape[1]} (the {key} scans' slice shape)"
            )
        spacing.insert(axis, 1.0)
        fixed.append(dataclasses.replace(v, data=data, spacing=tuple(spacing), mask=None))
    ds, labels = dataset_for(sampler, fixed)
    return ds.images[:, 0].numpy(), labels


def untrained_like(sampler, seed: int = 0):
    """The sampler with its generator re-initialised (PyTorch's default init of every layer,
    seeded inside a forked RNG: the process-wide torch RNG is left as it was)."""
    g = copy.deepcopy(sampler.generator)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        for m in g.modules():
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()
    return dataclasses.replace(sampler, generator=g.eval(), step=0)


def _draw(sampler, present: list[int], per: np.ndarray, seed: int) -> np.ndarray:
    out = []
    for c, k in zip(present, per):
        cond = sampler.class_names[c] if sampler.conditional else None
        out.append(sampler.sample(int(k), cond, seed=seed + 1000 * c, units="model"))
    return np.concatenate(out)


def evaluate_sampler(
    sampler,
    real_volumes: list[Volume],
    heldout_volumes: list[Volume] | None = None,
    n: int | None = None,
    n_swap: int | None = None,
    seed: int = 0,
    n_boot: int = 200,
    samples: list[Volume] | None = None,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
    also_latest: bool = True,
    **kwargs,
) -> EvaluationResult:
    """Sample ``sampler`` (or read ``samples``) and evaluate against the real volumes.

    Parameters
    ----------
    sampler : napari_medgan.engine.Sampler
        A loaded checkpoint (``Sampler.from_checkpoint``).
    real_volumes : list of Volume
        The scans the run was trained on; the run's held-out split (recorded in the
        checkpoint) divides their slices into training and held-out slices.
    heldout_volumes : list of Volume, optional
        Extra scans the model never saw, added to the held-out reference.
    n : int, optional
        Generated images in total, split over conditions like the real slices (default: as
        many as real slices, at most 1000). Ignored with ``samples``.
    samples : list of Volume, optional
        Images to score instead of sampling (e.g. another tool's output), one volume per
        condition, read like real inputs (see :func:`sample_images`).
    also_latest : bool
        When ``sampler`` is the run's ``best`` checkpoint (picked on the held-out slices that
        are also the reference here), score the run's latest checkpoint against the same
        reference too (``metrics.json``: ``other_checkpoints.latest``), so the selection's
        optimism shows.
    """
    given = None if samples is None else sample_images(sampler, samples)  # bad files fail first
    ds, _ = dataset_for(sampler, real_volumes)
    split = run_split(sampler)
    train_ds, held_ds = split_real(sampler, ds, split)
    t_lab = labels_in(sampler, train_ds)
    real, groups = train_ds.images[:, 0].numpy(), list(train_ds.sources)
    h = hl = hg = None
    if held_ds is not None and len(held_ds):
        h, hl, hg = held_ds.images[:, 0].numpy(), labels_in(sampler, held_ds), list(held_ds.sources)
    if heldout_volumes:
        xds, xl = dataset_for(sampler, heldout_volumes)
        xh = xds.images[:, 0].numpy()
        h = xh if h is None else np.concatenate([h, xh])
        hl = xl if hl is None else np.concatenate([hl, xl])
        hg = list(xds.sources) if hg is None else hg + list(xds.sources)
    present = sorted(set(t_lab.tolist()))
    if hl is not None:
        keep = np.isin(hl, present)  # conditions absent from training cannot be compared
        h, hl, hg = h[keep], hl[keep], [g for g, k in zip(hg, keep) if k]
        if len(h) < 2:
            raise DataError("the held-out slices share no condition with the training slices")
    if progress is not None:
        progress("sampling the generator" if samples is None else "reading the samples", 0.01)
    swapped = None
    if given is not None:
        gen, glab = given
        if not np.isin(glab, present).all():
            raise DataError("the samples hold conditions without training slices")
        per = np.array([(glab == c).sum() for c in present])
    else:
        total = n if n is not None else min(len(real) + (0 if h is None else len(h)),
                                            MAX_DEFAULT_N)
        per = _allocate(int(total), np.array([(t_lab == c).sum() for c in present], float))
        gen = _draw(sampler, present, per, seed)
        glab = np.repeat(present, per)
        if sampler.conditional and len(present) > 1:
            k = n_swap or max(8, int(total) // (2 * len(present)))
            swapped = sampler.condition_swap(k, seed=seed + 777, units="model")[present]
    untrained = _draw(untrained_like(sampler, seed), present, per, seed)
    class_names = list(sampler.class_names)
    remap = {c: i for i, c in enumerate(present)}  # contiguous ids for the classifier heads
    result = evaluate(
        real, np.array([remap[c] for c in t_lab]), groups, gen,
        np.array([remap[c] for c in glab]), [class_names[c] for c in present],
        swapped=swapped, untrained=untrained, heldout=h,
        heldout_labels=None if hl is None else np.array([remap[c] for c in hl]),
        heldout_groups=hg, n_boot=n_boot, seed=seed, progress=progress,
        should_stop=should_stop, **kwargs,
    )
    kind = which_checkpoint(sampler)
    result.data["checkpoint"] = {
        "path": None if getattr(sampler, "path", None) is None else str(sampler.path),
        "which": kind,
        "kind": kind,
        "selected_on": SELECTED_ON[kind] if split is not None or kind != "best" else
        SELECTED_ON["best-no-split"],
        "step": int(getattr(sampler, "step", 0)),
        "class_names": class_names,
        "size": int(sampler.size),
        "slice_axis": int(sampler.config.slice_axis),
        "split": split,
    }
    result.data["scored"] = "samples given (--samples)" if samples is not None else "generator"
    if samples is None and kind == "best" and also_latest:
        latest = _latest_row(sampler, result, present, per, seed, remap, should_stop)
        if latest is not None:
            result.data["other_checkpoints"] = {"latest": latest}
    return result


def _latest_row(sampler, result: EvaluationResult, present: list[int], per: np.ndarray,
                seed: int, remap: dict[int, int],
                should_stop: Callable[[], bool] | None = None) -> dict | None:
    """The run's latest checkpoint scored against the same reference (no controls): what the
    selection of ``best`` on the held-out slices may have flattered."""
    from ..checkpoint import LATEST
    from ..sampling import Sampler

    run = Path(sampler.path).parent.parent
    pointer = run / LATEST
    if not pointer.is_file() or pointer.read_text().strip() == Path(sampler.path).name:
        return None
    try:
        other = Sampler.from_checkpoint(run, device=str(sampler.device or "cpu"),
                                      prefer=LATEST)
    except (OSError, ValueError):
        return None
    gen = _draw(other, present, per, seed)
    labels = np.array([remap[c] for c in np.repeat(present, per)])
    res = score(result.reference, gen, labels, controls=False, should_stop=should_stop)
    mem = res.to_dict()["memorization"]
    return {
        "path": str(other.path),
        "step": int(other.step),
        "kind": "latest",
        "selected_on": SELECTED_ON["latest"],
        "metrics": res.metrics,
        "memorization": {k: mem[k] for k in ("flagged", "reasons", "copied_fraction")},
    }


def _allocate(total: int, counts: np.ndarray) -> np.ndarray:
    """Split ``total`` proportionally to ``counts`` (largest remainders), at least 1 each."""
    share = total * counts / counts.sum()
    per = np.floor(share).astype(int)
    for i in np.argsort(-(share - per))[: total - per.sum()]:
        per[i] += 1
    return np.maximum(per, 1)
