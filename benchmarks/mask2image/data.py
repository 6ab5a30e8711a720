"""MNI152 T1 + tissue-label pairs at 64 px, the fixed held-out slabs, and pair augmentation."""

from __future__ import annotations

import platform
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from napari_medgan.engine import Volume
from napari_medgan.engine.data import SliceDataset
from napari_medgan.engine.families.mask2image.deform import deformation_grid
from napari_medgan.engine.families.mask2image.pairs import build_mask_pairs
from napari_medgan.engine.holdout import HoldoutSplit, split_dataset

#: Training size (the cpu preset's), held-out share, slabs and the split's seed (the engine's
#: defaults: two 8-slice axial slabs with a 4-slice gap on each side).
SIZE, HOLDOUT, SLABS, SPLIT_SEED = 64, 0.2, 2, 0


@dataclass
class Pairs:
    """All paired slices, the fixed train / held-out split and the in-plane pixel spacing (mm).

    ``train`` and ``heldout`` are (label index ``(n, S, S)`` int64, image ``(n, S, S)`` in
    [-1, 1]) tensors; the held-out slices are never used to train a GAN or a segmenter.
    """

    dataset: SliceDataset
    train_set: SliceDataset
    heldout_set: SliceDataset
    split: HoldoutSplit
    spacing: tuple[float, float]
    n_labels: int

    @property
    def train(self) -> tuple[torch.Tensor, torch.Tensor]:
        return split_channels(self.train_set)

    @property
    def heldout(self) -> tuple[torch.Tensor, torch.Tensor]:
        return split_channels(self.heldout_set)


def split_channels(ds: SliceDataset) -> tuple[torch.Tensor, torch.Tensor]:
    """A mask2image dataset's (label index ``(n, S, S)`` int64, image ``(n, S, S)``)."""
    return ds.images[:, 0].round().long(), ds.images[:, 1].clone()


@lru_cache(maxsize=1)
def load_pairs() -> Pairs:
    """The MNI152 2 mm T1 + tissue labels, axial slices at :data:`SIZE` px, split once."""
    from napari_medgan.io.templates import mni152_tissue_labels

    t1, tissue = mni152_tissue_labels()
    pair = (
        Volume(np.asarray(tissue.data), tuple(tissue.spacing), name="tissue labels",
               origin=tuple(tissue.origin)),
        Volume(np.asarray(t1.data, np.float32), tuple(t1.spacing), name="T1",
               origin=tuple(t1.origin)),
    )  # fmt: skip
    ds = build_mask_pairs([pair], SIZE, slice_axis=0)
    train, held, split = split_dataset(ds, HOLDOUT, SPLIT_SEED, slabs=SLABS)
    assert held is not None
    px = float(next(iter(ds.geometry.values())).pixel_spacing)
    k = len(ds.roles["labels"]["values"].split(","))
    return Pairs(ds, train, held, split, (px, px), k)


def pick_k(n_train: int, k: int, seed: int) -> np.ndarray:
    """``k`` training-slice positions spread over the volume: one drawn from each of ``k``
    consecutive bins of the (slice-ordered) training slices."""
    rng = np.random.default_rng([int(seed), 0x5E6])
    bins = np.array_split(np.arange(n_train), k)
    return np.array([int(rng.choice(b)) for b in bins], dtype=np.int64)


def deform_pair(
    index: torch.Tensor, image: torch.Tensor | None, spacing: tuple[float, float], seed: int
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One slice's label index ``(S, S)`` and image moved by the field ``deform_labels(index,
    spacing, seed)`` draws: labels by nearest neighbour (exactly ``deform_labels``' result),
    the image bilinearly."""
    grid = deformation_grid(tuple(index.shape), spacing, seed)
    kw = {"padding_mode": "border", "align_corners": True}
    lab = F.grid_sample(index.float()[None, None], grid, mode="nearest", **kw)[0, 0]
    img = None
    if image is not None:
        img = F.grid_sample(image.float()[None, None], grid, mode="bilinear", **kw)[0, 0]
    return lab.round().long(), img


def jitter(images: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random intensity jitter of ``(n, S, S)`` images in [-1, 1]: gamma 0.7-1.4, contrast
    0.85-1.15, brightness ±0.1 (per image), clamped to [-1, 1]."""
    n = len(images)
    u = torch.rand(3, n, 1, 1, generator=gen)
    gamma = torch.exp((u[0] * 2 - 1) * np.log(1.4))
    x = ((images + 1) / 2).clamp(0, 1) ** gamma
    x = (x - 0.5) * (0.85 + 0.3 * u[1]) + 0.5 + (u[2] * 2 - 1) * 0.1
    return (x * 2 - 1).clamp(-1, 1)


def code_fingerprint() -> str:
    """sha256 (16 hex) of the mask2image family's sources, config.py and trainer.py as
    imported now: other sessions edit src/ while benchmarks run."""
    import hashlib

    import napari_medgan.engine as engine

    root = Path(engine.__file__).parent
    files = sorted((root / "families" / "mask2image").glob("*.py"))
    files += [root / "config.py", root / "trainer.py"]
    digest = hashlib.sha256(b"".join(f.read_bytes() for f in files))
    return digest.hexdigest()[:16]


def cpu_name() -> str:
    """lscpu's model name and whether the CPU has native bf16 (AMX or AVX512-BF16)."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or platform.machine()
    rows = (line.split(":", 1) for line in out.splitlines() if ":" in line)
    info = {k.strip(): v.strip() for k, v in rows}
    flags = set(info.get("Flags", "").split())
    bf16 = [f for f in ("amx_bf16", "avx512_bf16") if f in flags]
    name = info.get("Model name", platform.machine())
    cores = info.get("CPU(s)", "?")
    return f"{name}, {cores} CPUs, native bf16: {'yes (' + ', '.join(bf16) + ')' if bf16 else 'no'}"
