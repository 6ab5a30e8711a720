"""A small CNN trained here on real slices (the condition classifier), KID and the Fréchet
distance.

No pretrained weights are downloaded (Inception features are unavailable offline and were never
trained on scans). The condition classifier is trained on the run's *training* slices and
scores held-out and generated slices it never saw. KID/FD use the fixed random network of
:mod:`.randnet` by default; :func:`train_net` can still build a trained extractor for
comparison (``benchmarks/bench_extractors.py``). Weights are serialised with safetensors and
identified by their SHA-256.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .stats import CI_LEVEL, recentred_interval, resample_indices

ARCH = "medgan-smallcnn-v1"
FEATURE_DIM = 64
MAX_INPUT = 64
META_KEY = "_meta_json"


class SmallCNN(nn.Module):
    """Conv net: 3×3 convs, stride-2 downsampling to 4×4, global average pool, linear heads.

    Inputs larger than 64 px are resized to 64; above 32 px the stem is strided (CPU speed).
    """

    def __init__(self, size: int, heads: dict[str, int], width: int = 16):
        super().__init__()
        self.size = int(size)
        self.input_size = min(self.size, MAX_INPUT)
        stem_stride = 2 if self.input_size > 32 else 1
        layers: list[nn.Module] = [
            nn.Conv2d(1, width, 3, stride=stem_stride, padding=1), nn.LeakyReLU(0.2)
        ]
        ch, s = width, self.input_size // stem_stride
        while s > 4:
            out = min(ch * 2, FEATURE_DIM)
            layers += [
                nn.Conv2d(ch, out, 3, stride=2, padding=1),
                nn.GroupNorm(min(8, out), out),
                nn.LeakyReLU(0.2),
            ]
            ch, s = out, s // 2
        layers += [nn.Conv2d(ch, FEATURE_DIM, 3, padding=1), nn.LeakyReLU(0.2)]
        self.body = nn.Sequential(*layers)
        self.head_sizes = {k: int(v) for k, v in heads.items()}
        self.heads = nn.ModuleDict({k: nn.Linear(FEATURE_DIM, v) for k, v in heads.items()})

    def features(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.input_size:
            x = F.interpolate(x, size=(self.input_size,) * 2, mode="bilinear",
                              align_corners=False, antialias=True)
        return self.body(x).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        f = self.features(x)
        return {k: h(f) for k, h in self.heads.items()}


def _augment(x: torch.Tensor, gen: torch.Generator, shift: int) -> torch.Tensor:
    """Random translation (pad with -1, crop) and mild intensity jitter."""
    n, _, h, w = x.shape
    pad = F.pad(x, (shift, shift, shift, shift), value=-1.0)
    dy = torch.randint(0, 2 * shift + 1, (n,), generator=gen)
    dx = torch.randint(0, 2 * shift + 1, (n,), generator=gen)
    rows = dy[:, None] + torch.arange(h)[None]
    cols = dx[:, None] + torch.arange(w)[None]
    out = pad[torch.arange(n)[:, None, None], 0, rows[:, :, None], cols[:, None, :]][:, None]
    scale = 1 + 0.1 * (torch.rand(n, 1, 1, 1, generator=gen) - 0.5)
    return (out + 1) * scale - 1


@dataclass
class TrainedNet:
    """A trained SmallCNN with its identity (architecture, tasks, SHA-256 of the weights)."""

    net: SmallCNN
    kind: str
    tasks: dict[str, int]
    steps: int
    seed: int
    train_accuracy: dict[str, float] = field(default_factory=dict)
    _blob: bytes | None = None

    def _bytes(self) -> bytes:
        if self._blob is None:
            from safetensors.torch import save

            # The description travels as a uint8 tensor of sorted-key JSON: safetensors writes
            # its string metadata in random order, which would make the file hash vary.
            state = {k: v.detach().contiguous() for k, v in self.net.state_dict().items()}
            meta = json.dumps(self.metadata(), sort_keys=True).encode()
            state[META_KEY] = torch.tensor(list(meta), dtype=torch.uint8)
            self._blob = save(state)
        return self._blob

    def metadata(self) -> dict[str, str]:
        return {
            "arch": ARCH,
            "kind": self.kind,
            "size": str(self.net.size),
            "tasks": json.dumps(self.tasks),
            "steps": str(self.steps),
            "seed": str(self.seed),
        }

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self._bytes()).hexdigest()

    @property
    def name(self) -> str:
        return f"{ARCH}/{self.kind} sha256:{self.sha256[:12]}"

    def describe(self) -> dict:
        return {
            "name": self.name,
            "arch": ARCH,
            "kind": self.kind,
            "sha256": self.sha256,
            "tasks": dict(self.tasks),
            "steps": self.steps,
            "seed": self.seed,
            "train_accuracy": dict(self.train_accuracy),
        }

    def save(self, path: str | Path) -> Path:
        """Write the weights as safetensors (no pickle)."""
        path = Path(path)
        path.write_bytes(self._bytes())
        return path

    @classmethod
    def load(cls, path: str | Path) -> TrainedNet:
        """Load a net saved by :meth:`save`; the hash is that of the file's bytes."""
        from safetensors import SafetensorError
        from safetensors.torch import load

        blob = Path(path).read_bytes()
        try:
            state = load(blob)
            meta = json.loads(bytes(state.pop(META_KEY).tolist()).decode())
        except (SafetensorError, KeyError, ValueError) as exc:
            raise ValueError(f"{path}: not a {ARCH} network ({exc})") from None
        if meta.get("arch") != ARCH:
            raise ValueError(f"{path}: not a {ARCH} network (arch={meta.get('arch')!r})")
        tasks = json.loads(meta["tasks"])
        net = SmallCNN(int(meta["size"]), tasks)
        net.load_state_dict(state)
        net.eval()
        return cls(net, meta["kind"], tasks, int(meta["steps"]), int(meta["seed"]), _blob=blob)

    @torch.no_grad()
    def features(self, images: np.ndarray, batch: int = 256) -> np.ndarray:
        """``(N, 64)`` float64 features of ``(N, H, W)`` images in [-1, 1]."""
        self.net.eval()
        x = torch.as_tensor(np.asarray(images, dtype=np.float32))[:, None]
        out = [self.net.features(x[s : s + batch]) for s in range(0, len(x), batch)]
        return torch.cat(out).double().numpy() if out else np.zeros((0, FEATURE_DIM))

    @torch.no_grad()
    def predict(self, images: np.ndarray, task: str, batch: int = 256) -> np.ndarray:
        """``(N, classes)`` softmax probabilities of one task."""
        self.net.eval()
        x = torch.as_tensor(np.asarray(images, dtype=np.float32))[:, None]
        head = self.net.heads[task]
        out = [head(self.net.features(x[s : s + batch])).softmax(-1)
               for s in range(0, len(x), batch)]
        return torch.cat(out).numpy()


@contextlib.contextmanager
def reproducible_cpu() -> Iterator[None]:
    """Run the block single-threaded with deterministic kernels; restore the caller's settings.

    Inside, torch uses one intra-op thread (a sum split over threads is added in another order,
    which changes the last bits and, over hundreds of optimiser steps, the weights), deterministic
    algorithms and no oneDNN (its CPU kernels are picked by thread count and instruction set).
    The same inputs and seed then give the same bytes whatever thread count the caller runs
    with; across CPU families or torch versions float kernels may still differ, which the
    weights' SHA-256 in every report shows.
    """
    threads = torch.get_num_threads()
    det = torch.are_deterministic_algorithms_enabled()
    det_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    mkldnn = torch.backends.mkldnn.enabled
    try:
        torch.set_num_threads(1)
        torch.use_deterministic_algorithms(True)
        torch.backends.mkldnn.enabled = False
        yield
    finally:
        torch.backends.mkldnn.enabled = mkldnn
        torch.use_deterministic_algorithms(det, warn_only=det_warn)
        torch.set_num_threads(threads)


def train_net(
    images: np.ndarray,
    targets: dict[str, np.ndarray],
    kind: str,
    rotation: bool = True,
    steps: int = 300,
    batch: int = 64,
    lr: float = 2e-3,
    seed: int = 0,
) -> TrainedNet:
    """Train a SmallCNN on real slices (deterministic for a given seed, CPU).

    Parameters
    ----------
    images : numpy.ndarray
        ``(N, S, S)`` real slices in [-1, 1].
    targets : dict
        Task name → ``(N,)`` int targets (e.g. ``"condition"``, ``"position"``).
    kind : str
        ``"features"`` or ``"classifier"``: recorded in the metadata and report.
    rotation : bool
        Add the self-supervised 4-way rotation task (always available).

    Training runs in :func:`reproducible_cpu` on the CPU in a fixed data order (a private
    generator seeded with ``seed``), so the weights' bytes do not depend on the caller's thread
    count.
    """
    with reproducible_cpu():
        return _train(images, targets, kind, rotation, steps, batch, lr, seed)


def _train(
    images: np.ndarray,
    targets: dict[str, np.ndarray],
    kind: str,
    rotation: bool,
    steps: int,
    batch: int,
    lr: float,
    seed: int,
) -> TrainedNet:
    x = torch.as_tensor(np.asarray(images, dtype=np.float32))[:, None]
    tasks = {k: int(np.max(v)) + 1 for k, v in targets.items()}
    if rotation:
        tasks["rotation"] = 4
    if not tasks:
        raise ValueError("no training task")
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):  # seeded init without touching the global RNG
        torch.manual_seed(seed)
        net = SmallCNN(x.shape[-1], tasks)
    tgt = {k: torch.as_tensor(np.asarray(v), dtype=torch.int64) for k, v in targets.items()}
    opt = torch.optim.Adam(net.parameters(), lr=lr, betas=(0.9, 0.99))
    shift = max(1, x.shape[-1] // 16)
    net.train()
    for step in range(steps):
        idx = torch.randint(0, len(x), (min(batch, len(x)),), generator=gen)
        xb = _augment(x[idx], gen, shift)
        yb = {k: v[idx] for k, v in tgt.items()}
        if rotation:
            rot = torch.randint(0, 4, (len(idx),), generator=gen)
            for r in range(1, 4):
                sel = rot == r
                xb[sel] = torch.rot90(xb[sel], r, dims=(2, 3))
            yb["rotation"] = rot
        out = net(xb)
        loss = sum(F.cross_entropy(out[k], yb[k]) for k in tasks)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        for g in opt.param_groups:  # cosine decay: stable features at the end
            g["lr"] = lr * 0.5 * (1 + np.cos(np.pi * (step + 1) / steps))
    net.eval()
    trained = TrainedNet(net, kind, tasks, steps, seed)
    trained.train_accuracy = {
        k: float((trained.predict(images, k).argmax(1) == np.asarray(v)).mean())
        for k, v in targets.items()
    }
    return trained


EXTRACTOR_STEPS = 300
EXTRACTORS = ("random", "trained")


def train_extractor(
    images: np.ndarray, labels: np.ndarray, groups: list[str], seed: int = 0,
    steps: int | None = None,
) -> TrainedNet:
    """The KID/FD feature network trained on the run's *training* slices (never the scored
    sets): condition, slice position (4 bins per volume, when volumes have >= 8 slices) and
    rotation heads. Built in :func:`reproducible_cpu`; about 20 s of one CPU core at 32 px."""
    labels = np.asarray(labels, dtype=np.int64)
    targets: dict[str, np.ndarray] = {}
    if np.unique(labels).size > 1:
        targets["condition"] = labels
    pos = position_bins(list(groups))
    if pos is not None:
        targets["position"] = pos
    steps = EXTRACTOR_STEPS if steps is None else int(steps)
    return train_net(images, targets, "features", steps=steps, seed=seed)


def position_bins(groups: list[str], n_bins: int = 4) -> np.ndarray | None:
    """Relative slice position within its volume (array order), in ``n_bins`` bins.

    None when a volume has fewer than ``2 * n_bins`` slices.
    """
    groups = [str(g) for g in groups]
    out = np.zeros(len(groups), dtype=np.int64)
    for g in dict.fromkeys(groups):
        idx = [i for i, h in enumerate(groups) if h == g]
        if len(idx) < 2 * n_bins:
            return None
        out[idx] = (np.arange(len(idx)) * n_bins) // len(idx)
    return out


# ----------------------------------------------------------------------------- distances


def _poly_kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a @ b.T / a.shape[1] + 1.0) ** 3


def kid_from_kernels(kxx: np.ndarray, kyy: np.ndarray, kxy: np.ndarray) -> float:
    """Unbiased MMD² with the cubic polynomial kernel (Bińkowski et al. 2018)."""
    m, n = kxx.shape[0], kyy.shape[0]
    sxx = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    syy = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(sxx + syy - 2 * kxy.mean())


def kid(
    fx: np.ndarray, fy: np.ndarray, n_boot: int = 0, seed: int = 0, level: float = CI_LEVEL
) -> tuple[float, tuple[float, float] | None]:
    """KID between feature sets ``(m, d)`` and ``(n, d)``, with a bootstrap CI if asked."""
    kxx, kyy, kxy = _poly_kernel(fx, fx), _poly_kernel(fy, fy), _poly_kernel(fx, fy)
    point = kid_from_kernels(kxx, kyy, kxy)
    if n_boot <= 0:
        return point, None
    rng = np.random.default_rng(seed)
    ia, ib = resample_indices(len(fx), n_boot, rng), resample_indices(len(fy), n_boot, rng)
    reps = [
        kid_from_kernels(kxx[np.ix_(a, a)], kyy[np.ix_(b, b)], kxy[np.ix_(a, b)])
        for a, b in zip(ia, ib)
    ]
    return point, recentred_interval(point, np.asarray(reps), level)


def frechet_from_stats(m1: np.ndarray, c1: np.ndarray, m2: np.ndarray, c2: np.ndarray) -> float:
    """‖μ₁−μ₂‖² + tr(C₁ + C₂ − 2 (C₁C₂)^½); the trace of the root from the product's eigenvalues."""
    ev = np.linalg.eigvals(c1 @ c2)
    root = np.sqrt(np.clip(ev.real, 0, None)).sum()
    return float(max(((m1 - m2) ** 2).sum() + np.trace(c1) + np.trace(c2) - 2 * root, 0.0))


def _frechet_from_samples(x: np.ndarray, y: np.ndarray) -> float:
    """Fréchet distance of gaussian fits, with tr((C₁C₂)^½) as the nuclear norm of AᵀB
    (C₁ = AAᵀ, C₂ = BBᵀ from centred samples): exact, and an (n₁ × n₂) SVD instead of a
    (d × d) eigenproblem, so it stays fast when the feature dimension exceeds the sample size."""
    a = (x - x.mean(0)) / np.sqrt(max(len(x) - 1, 1))
    b = (y - y.mean(0)) / np.sqrt(max(len(y) - 1, 1))
    root = np.linalg.svd(a @ b.T, compute_uv=False).sum()
    mean = ((x.mean(0) - y.mean(0)) ** 2).sum()
    return float(max(mean + (a * a).sum() + (b * b).sum() - 2 * root, 0.0))


def frechet_distance(
    fx: np.ndarray, fy: np.ndarray, n_boot: int = 0, seed: int = 0, level: float = CI_LEVEL
) -> tuple[float, tuple[float, float] | None]:
    """Fréchet distance between gaussian fits of two feature sets, with a bootstrap CI."""
    point = _frechet_from_samples(fx, fy)
    if n_boot <= 0:
        return point, None
    rng = np.random.default_rng(seed)
    ia, ib = resample_indices(len(fx), n_boot, rng), resample_indices(len(fy), n_boot, rng)
    reps = np.array([_frechet_from_samples(fx[a], fy[b]) for a, b in zip(ia, ib)])
    lo, hi = recentred_interval(point, reps, level)
    return point, (max(lo, 0.0), hi)
