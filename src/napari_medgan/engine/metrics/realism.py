"""Realism: a classifier two-sample test (C2ST) and the power spectrum per octave band.

C2ST
    A small CNN (:class:`TwoSampleNet`) learns to tell set A from set B. The sets are balanced
    (the larger is subsampled to the smaller count) and cut into stratified folds; a fresh
    network is trained on all folds but one and predicts the one left out. The score is the
    accuracy over every held-out prediction: 0.5 = the sets cannot be told apart, 1.0 = always.
    Images are compared at the resolution given, in the model's units ([-1, 1]).
Power spectrum
    Each image's window-weighted mean is removed, a 2D Hann window applied and the power of its
    discrete Fourier transform averaged within octave bands of radial frequency, from Nyquist
    down: band 0 = [Nyquist/2, Nyquist] (with the corners beyond Nyquist on the diagonals),
    band 1 the octave below, and so on. The ratio of two sets' mean band powers shows excess
    fine texture (speckle: > 1 in band 0) or blur (< 1).

In an evaluation (:func:`realism_scores`) the real slices of every condition (training and
held-out together) are cut into two random halves: one is the reference every scored set is
compared with, the other plays a perfect generator (the real-vs-real baseline) and, with
Gaussian noise added, the sensitivity control. Training vs held-out real would not do as the
baseline: held-out slabs are runs of neighbouring slices at a few anatomy levels, which a
classifier tells from slices of other levels.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from .stats import mean_ci, recentred_interval, stratified_mean_ci

FOLDS = 5
EPOCHS = 60  # at 64 px; scaled by 64 / size within EPOCHS_RANGE (see epochs_for)
EPOCHS_RANGE = (30, 120)
BATCH = 16
LR = 3e-3
WIDTHS = (8, 16, 32)
NOISE_SIGMA = 0.1  # 5 % of the [-1, 1] range
N_BANDS = 4
SPECTRUM_OK = (0.75, 1.33)
DIRECTION = {"c2st": "chance", "spectrum": "unity"}


class TwoSampleNet(nn.Module):
    """Three 3×3 stride-2 conv blocks (GroupNorm, LeakyReLU), global average pool, one logit.

    The first block normalises each filter's response per image (one channel per group), so
    the head weighs texture and structure rather than each image's overall contrast.
    """

    def __init__(self, widths: tuple[int, ...] = WIDTHS) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        ch = 1
        for w in widths:
            layers += [nn.Conv2d(ch, w, 3, stride=2, padding=1), nn.GroupNorm(min(8, w), w),
                       nn.LeakyReLU(0.2)]
            ch = w
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x).mean(dim=(2, 3)))[:, 0]


@dataclass
class C2STResult:
    """Held-out accuracy of a two-sample classifier.

    Attributes
    ----------
    value, ci
        Accuracy over every held-out prediction and its bootstrap interval over images.
    fold_accuracy
        Accuracy of each fold.
    correct
        ``(2 n,)`` 1.0 where an image's held-out prediction was right (set A first).
    n
        Images per set after balancing.
    """

    value: float
    ci: tuple[float, float]
    fold_accuracy: list[float]
    correct: np.ndarray = field(repr=False)
    n: int

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "ci": list(self.ci), "fold_accuracy": self.fold_accuracy,
                "n": self.n}


def _images(x: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float32)
    if a.ndim == 4 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 3:
        raise ValueError(f"{name}: expected (N, H, W) images, got shape {a.shape}")
    return a


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """One intra-op thread inside (same result for any thread count of the caller)."""
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        yield
    finally:
        torch.set_num_threads(threads)


def _augment(x: torch.Tensor, gen: torch.Generator, shift: int) -> torch.Tensor:
    """Random left-right flips and translations of up to ``shift`` px (reflected borders)."""
    n, _, h, w = x.shape
    flip = torch.rand(n, generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    pad = F.pad(x, (shift,) * 4, mode="reflect")
    dy = torch.randint(0, 2 * shift + 1, (n,), generator=gen)
    dx = torch.randint(0, 2 * shift + 1, (n,), generator=gen)
    rows = (dy[:, None] + torch.arange(h)[None])[:, :, None]
    cols = (dx[:, None] + torch.arange(w)[None])[:, None, :]
    return pad[torch.arange(n)[:, None, None], 0, rows, cols][:, None]


def _fit_predict(x: torch.Tensor, y: torch.Tensor, fold: np.ndarray, seed: int,
                 epochs: int) -> np.ndarray:
    """Train one fresh :class:`TwoSampleNet` per fold on the other folds and return every
    image's logit from the network that did not see it.

    The folds' networks train side by side (stacked weights, ``torch.func.vmap``): each step
    takes a minibatch of every fold's training images in its own seeded order (Adam, flips,
    small shifts).
    """
    k = int(fold.max()) + 1
    nets = []
    for j in range(k):
        with torch.random.fork_rng(devices=[]):  # seeded init without touching the global RNG
            torch.manual_seed(seed * 100 + j)
            nets.append(TwoSampleNet())
    params, _ = stack_module_state(nets)
    shell = nets[0]

    def logits(p: dict[str, torch.Tensor], xb: torch.Tensor) -> torch.Tensor:
        return functional_call(shell, p, (xb,))

    batched = vmap(logits)
    opt = torch.optim.Adam(params.values(), lr=LR)
    gen = torch.Generator().manual_seed(seed)
    train = [torch.as_tensor(np.flatnonzero(fold != j)) for j in range(k)]
    steps = -(-max(len(t) for t in train) // BATCH)
    shift = max(1, min(x.shape[-2:]) // 16)
    for _ in range(epochs):
        orders = [t[torch.randperm(len(t), generator=gen)] for t in train]
        for s in range(steps):
            idx = torch.stack([o[(s * BATCH + torch.arange(BATCH)) % len(o)] for o in orders])
            xb = _augment(x[idx.reshape(-1)], gen, shift).reshape(k, BATCH, *x.shape[1:])
            loss = F.binary_cross_entropy_with_logits(batched(params, xb), y[idx],
                                                      reduction="none").mean(1).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    with torch.no_grad():
        out = batched(params, x.expand(k, *x.shape))
    return out[torch.as_tensor(fold), torch.arange(len(x))].numpy()


#: Environment variable that fixes the epochs of every default-length test (quick runs, e.g. a
#: test suite exercising the evaluation's plumbing rather than the test's power).
EPOCHS_ENV = "NAPARI_MEDGAN_C2ST_EPOCHS"


def epochs_for(shape: tuple[int, ...]) -> int:
    """Training epochs for images of ``shape``: :data:`EPOCHS` at 64 px, more for smaller
    images (fewer pixels carry less evidence per image), fewer for larger (each costs more);
    the value of :data:`EPOCHS_ENV` when it is set."""
    if os.environ.get(EPOCHS_ENV):
        return max(1, int(os.environ[EPOCHS_ENV]))
    size = float(np.sqrt(shape[-2] * shape[-1]))
    return int(np.clip(round(EPOCHS * 64 / size), *EPOCHS_RANGE))


def c2st(a: np.ndarray, b: np.ndarray, folds: int = FOLDS, epochs: int | None = None,
         seed: int = 0, n_boot: int = 200) -> C2STResult:
    """Classifier two-sample test of image sets ``a`` and ``b``.

    Parameters
    ----------
    a, b : numpy.ndarray
        ``(N, H, W)`` images in the model's units, at least 2 per set; the larger set is
        subsampled (seeded) to the smaller count.
    folds : int
        Stratified folds (at most the images per set); every image is predicted once by a
        network that never saw it.
    epochs : int, optional
        Passes over the training folds (minibatches of 16, Adam, flips and small shifts);
        default :func:`epochs_for` the image size.
    seed : int
        Seed of the subsampling, the folds, the initialisation and the batch order: the same
        inputs and seed give the same result.
    """
    a, b = _images(a, "a"), _images(b, "b")
    if a.shape[1:] != b.shape[1:]:
        raise ValueError(f"image sizes differ: {a.shape[1:]} vs {b.shape[1:]}")
    n = min(len(a), len(b))
    if n < 2:
        raise ValueError(f"need at least 2 images per set, got {len(a)} and {len(b)}")
    rng = np.random.default_rng(seed)
    a = a[np.sort(rng.choice(len(a), n, replace=False))]
    b = b[np.sort(rng.choice(len(b), n, replace=False))]
    k = min(int(folds), n)
    epochs = epochs_for(a.shape) if epochs is None else int(epochs)
    fold = np.empty(2 * n, np.int64)
    for cls in (0, 1):
        for j, part in enumerate(np.array_split(cls * n + rng.permutation(n), k)):
            fold[part] = j
    x = torch.as_tensor(np.concatenate([a, b]))[:, None]
    y = torch.cat([torch.zeros(n), torch.ones(n)])
    with _one_thread():
        logits = _fit_predict(x, y, fold, seed, epochs)
    correct = ((logits > 0) == (y.numpy() > 0.5)).astype(np.float64)
    value, ci = mean_ci(correct, n_boot, seed)
    return C2STResult(value, ci, [float(correct[fold == j].mean()) for j in range(k)], correct, n)


def _radius(h: int, w: int) -> np.ndarray:
    """Radial frequency of every DFT bin in cycles per pixel (Nyquist = 0.5)."""
    return np.hypot(np.fft.fftfreq(h)[:, None], np.fft.fftfreq(w)[None, :])


def band_edges(shape: tuple[int, int], n_bands: int = N_BANDS) -> list[tuple[float, float]]:
    """Octave bands ``[lo, hi)`` in cycles per pixel from Nyquist down, as many as hold DFT bins
    (at most ``n_bands``); band 0 also holds the corners beyond Nyquist."""
    r = _radius(*shape)
    out = []
    for k in range(n_bands):
        lo, hi = 0.5 / 2 ** (k + 1), 0.5 / 2**k
        if not ((r >= lo) & (r < hi)).any():
            break
        out.append((lo, hi))
    return out


def band_powers(images: np.ndarray, n_bands: int = N_BANDS) -> np.ndarray:
    """``(N, bands)`` mean spectral power of each image in each octave band (:func:`band_edges`),
    after removing the window-weighted mean and applying a 2D Hann window."""
    x = _images(images, "images").astype(np.float64)
    h, w = x.shape[1:]
    win = np.outer(np.hanning(h), np.hanning(w))
    mean = (x * win).sum(axis=(1, 2)) / win.sum()
    spec = np.abs(np.fft.fft2((x - mean[:, None, None]) * win)) ** 2 / (win**2).sum()
    r = _radius(h, w)
    cols = []
    for k, (lo, hi) in enumerate(band_edges((h, w), n_bands)):
        mask = (r >= lo) & ((r < hi) | (k == 0))
        cols.append(spec[:, mask].mean(axis=1))
    return np.stack(cols, axis=1) if cols else np.zeros((len(x), 0))


def spectrum_ratio(fake: np.ndarray, real: np.ndarray, n_bands: int = N_BANDS) -> np.ndarray:
    """Per band, the mean power of ``fake`` divided by that of ``real`` (NaN where real has
    none)."""
    pf, pr = band_powers(fake, n_bands).mean(0), band_powers(real, n_bands).mean(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(pr > 0, pf / np.where(pr > 0, pr, 1.0), np.nan)


def _log_ratio(pf: list[np.ndarray], pr: list[np.ndarray]) -> np.ndarray:
    """Per band, the mean over conditions of log(mean fake power / mean real power)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.mean([np.log(f.mean(0) / r.mean(0)) for f, r in zip(pf, pr)], axis=0)


def _spectrum_entry(pf: list[np.ndarray], pr: list[np.ndarray], edges: list, names: list[str],
                    n_boot: int, seed: int) -> dict[str, Any]:
    """Band ratios (geometric mean over conditions) with bootstrap intervals over images."""
    point = np.exp(_log_ratio(pf, pr))
    rng = np.random.default_rng(seed)
    reps = np.exp(np.array([
        _log_ratio([f[rng.integers(0, len(f), len(f))] for f in pf],
                   [r[rng.integers(0, len(r), len(r))] for r in pr])
        for _ in range(n_boot)
    ])).reshape(n_boot, len(edges))
    bands = []
    for k, (lo, hi) in enumerate(edges):
        ci = recentred_interval(float(point[k]), reps[:, k])
        bands.append({"band": k, "cycles_per_pixel": [lo, hi], "value": float(point[k]),
                      "ci": list(ci)})
    per = {n: np.exp(_log_ratio([f], [r])).tolist() for n, f, r in zip(names, pf, pr)}
    return {"value": bands[0]["value"], "ci": bands[0]["ci"], "per_band": bands,
            "per_condition": {n: v[0] for n, v in per.items()}, "per_condition_bands": per,
            "ok_range": list(SPECTRUM_OK)}


def _pools(ref: Any) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per condition, two disjoint random halves of every real slice (training and held-out):
    (reference, matched real); cached on the reference."""
    if "pools" not in ref.realism:
        rng = np.random.default_rng(ref.seed + 31)
        labels = np.concatenate([ref.train_labels, ref.heldout_labels])
        pools = {}
        for c in np.unique(labels):
            idx = rng.permutation(np.flatnonzero(labels == c))
            half = len(idx) // 2
            if half >= 2:
                take = [ref.train[i] if i < len(ref.train) else ref.heldout[i - len(ref.train)]
                        for i in idx[: 2 * half]]
                pools[int(c)] = (np.stack(take[:half]), np.stack(take[half:]))
        ref.realism["pools"] = pools
    return ref.realism["pools"]


def _compare(ref: Any, sets: dict[int, np.ndarray]) -> dict[str, Any]:
    """C2ST and spectrum of each condition's set against that condition's reference half."""
    pools, names = _pools(ref), ref.class_names
    refs = {c: pools[c][0][: len(x)] for c, x in sets.items()}
    runs = {c: c2st(x, refs[c], seed=ref.seed + 21, n_boot=0) for c, x in sets.items()}
    value, ci = stratified_mean_ci([r.correct for r in runs.values()], ref.n_boot, ref.seed)
    c2 = {"value": value, "ci": list(ci),
          "n_per_condition": {names[c]: r.n for c, r in runs.items()},
          "folds": {names[c]: r.fold_accuracy for c, r in runs.items()}}
    edges = band_edges(next(iter(sets.values())).shape[1:])
    spec = _spectrum_entry([band_powers(x) for x in sets.values()],
                           [band_powers(refs[c]) for c in sets],
                           edges, [names[c] for c in sets], ref.n_boot, ref.seed)
    if ref.conditional:
        c2["per_condition"] = {names[c]: r.value for c, r in runs.items()}
    else:
        spec.pop("per_condition")
        spec.pop("per_condition_bands")
    return {"c2st": c2, "spectrum": spec}


def distinguishable(value: float, ci: list[float], baseline_ci: list[float]) -> bool:
    """True when an accuracy is above the real-vs-real interval and its own interval is above
    0.5."""
    return bool(ci[0] > 0.5 and value > baseline_ci[1])


def _baseline(ref: Any, counts: dict[int, int]) -> dict[str, Any]:
    """Real vs real and the sensitivity control (real + noise vs real) at ``counts``; cached."""
    key = tuple(sorted(counts.items()))
    if key not in ref.realism:
        pools = _pools(ref)
        real = {c: pools[c][1][:n] for c, n in counts.items()}
        rng = np.random.default_rng(ref.seed + 37)
        noisy = {c: np.clip(x + rng.normal(0, NOISE_SIGMA, x.shape), -1, 1).astype(np.float32)
                 for c, x in real.items()}
        base, sens = _compare(ref, real), _compare(ref, noisy)
        for name, entry in sens.items():
            keep = ("value", "ci", "per_condition", "per_band")
            base[name]["sensitivity"] = {k: entry[k] for k in keep if k in entry}
            base[name]["sensitivity"]["noise_sigma"] = NOISE_SIGMA
        s = base["c2st"]["sensitivity"]
        s["detected"] = distinguishable(s["value"], s["ci"], base["c2st"]["ci"])
        ref.realism[key] = base
    return ref.realism[key]


def realism_scores(ref: Any, images: np.ndarray,
                   labels: np.ndarray) -> tuple[dict[str, Any], dict[str, Any]]:
    """``c2st`` and ``spectrum`` entries of a scored set and their real-vs-real baselines.

    Per condition, the set is subsampled (seeded) to at most the reference half's count and
    compared with as many reference slices; the baseline compares the other real half at the
    same counts. Scored entries carry the sensitivity control (``sensitivity``), the
    baseline's band ratios (``baseline_per_band``) and, for ``c2st``, ``distinguishable``.
    Both dicts are empty when no condition has 2 scored images and 4 real slices.
    """
    pools = _pools(ref)
    labels = np.asarray(labels)
    counts = {c: min(int((labels == c).sum()), len(p[0])) for c, p in pools.items()}
    counts = {c: n for c, n in counts.items() if n >= 2}
    if not counts:
        return {}, {}
    rng = np.random.default_rng(ref.seed + 33)
    sets = {c: images[np.sort(rng.permutation(np.flatnonzero(labels == c))[:n])]
            for c, n in counts.items()}
    scores, base = _compare(ref, sets), _baseline(ref, counts)
    for name in scores:
        scores[name]["sensitivity"] = base[name]["sensitivity"]
    scores["spectrum"]["baseline_per_band"] = [b["value"] for b in base["spectrum"]["per_band"]]
    c2 = scores["c2st"]
    c2["distinguishable"] = distinguishable(c2["value"], c2["ci"], base["c2st"]["ci"])
    plain = {k: {x: v for x, v in e.items() if x != "sensitivity"} for k, e in base.items()}
    return scores, plain


def c2st_reading(m: dict[str, Any]) -> str:
    """How to read a merged ``c2st`` entry: told apart from real, not told apart, or
    inconclusive when the sensitivity control was not detected at these counts."""
    sens = m.get("sensitivity") or {}
    if sens and not sens.get("detected"):
        return ("inconclusive: at these counts even real slices with noise "
                f"(σ = {sens.get('noise_sigma', NOISE_SIGMA)}) are not told apart from real")
    if m.get("distinguishable"):
        return "told apart from real (above the real-vs-real interval)"
    return "not told apart from real beyond what real vs real scores"


def spectrum_reading(m: dict[str, Any]) -> str:
    """``"band 0 [0.25, 0.5] 1.42× (real 1.01×) …"``: each band's ratio and the real-vs-real
    ratio, with the bands outside :data:`SPECTRUM_OK` marked."""
    lo, hi = m.get("ok_range", SPECTRUM_OK)
    base = m.get("baseline_per_band") or []
    cells = []
    for k, b in enumerate(m.get("per_band", [])):
        mark = "" if lo <= b["value"] <= hi else (" ↑" if b["value"] > hi else " ↓")
        real = f" (real {base[k]:.2f}×)" if k < len(base) else ""
        f0, f1 = b["cycles_per_pixel"]
        cells.append(f"band {k} [{f0:.3g}, {f1:.3g}] {b['value']:.2f}×{mark}{real}")
    return "; ".join(cells)
