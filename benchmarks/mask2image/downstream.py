"""Does it help? A U-Net segmenter on K real pairs: classic augmentation vs + synthetic pairs."""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from pathlib import Path

import torch

from . import RUNS
from .data import code_fingerprint, cpu_name, deform_pair, jitter, load_pairs, pick_k
from .gan import load_generator, synthesize, train_gan
from .metrics import dice
from .segment import segment, train_segmenter

#: The arms, in the order they are run: the floor, the control, the question.
ARMS = ("none", "classic", "synthetic")
ARM_TEXT = {
    "none": "K real pairs, no augmentation (floor)",
    "classic": "K real pairs + their deformed copies (same field on image and mask), "
    "intensity jitter",
    "synthetic": "classic + one synthetic image per deformed mask (GAN trained on the K pairs "
    "only), intensity jitter",
}

Pool = tuple[torch.Tensor, torch.Tensor]  # images (n, S, S), label indices (n, S, S)


def sampler(pool: Pool, augment: bool) -> Callable[[torch.Generator, int], Pool]:
    """Batches drawn uniformly (with replacement) from ``pool``; intensity jitter if
    ``augment``."""
    images, index = pool

    def sample(gen: torch.Generator, n: int) -> Pool:
        pick = torch.randint(0, len(images), (n,), generator=gen)
        x = images[pick]
        return (jitter(x, gen) if augment else x), index[pick]

    return sample


def deformed_copies(
    index: torch.Tensor, images: torch.Tensor, spacing: tuple[float, float], copies: int, seed: int
) -> Pool:
    """``copies`` random smooth deformations of every real pair (image bilinear, mask nearest,
    one field per copy, as ``deform_labels`` draws it)."""
    out_img, out_idx = [], []
    for i in range(len(index)):
        for j in range(copies):
            lab, img = deform_pair(index[i], images[i], spacing, 1_000_003 * seed + 1009 * i + j)
            out_idx.append(lab)
            out_img.append(img)
    return torch.stack(out_img), torch.stack(out_idx)


def run(
    k: int,
    seed: int,
    gan_budget_min: float,
    seg_steps: int,
    copies: int,
    batch_size: int,
    work: Path,
    arms: tuple[str, ...] = ARMS,
    width: int = 12,
) -> list[Path]:
    """Train every arm's segmenter for (``k``, ``seed``); one JSON per arm in mask2image_runs/."""
    torch.set_num_threads(2)
    p = load_pairs()
    tr_idx, tr_img = p.train
    he_idx, he_img = p.heldout
    pick = pick_k(len(tr_idx), k, seed)
    idx_k, img_k = tr_idx[pick], tr_img[pick]
    moved_img, moved_idx = deformed_copies(idx_k, img_k, p.spacing, copies, seed)
    common = {
        "k": k, "seed": seed, "copies_per_pair": copies,
        "train_slices": p.train_set.slice_index[pick].tolist(),
        "heldout_slices": p.heldout_set.slice_index.tolist(),
        "cpu": cpu_name(), "torch_threads": torch.get_num_threads(), "precision": "fp32",
        "date": datetime.date.today().isoformat(), "code": code_fingerprint(),
        "command": f"python benchmarks/bench_mask2image.py downstream --k {k} --seed {seed} "
        f"--gan-budget {gan_budget_min:g} --seg-steps {seg_steps} --copies {copies} "
        f"--batch {batch_size} --seg-width {width}",
    }  # fmt: skip
    classic = (torch.cat([img_k, moved_img]), torch.cat([idx_k, moved_idx]))
    written = []
    for arm in arms:
        extra: dict = {}
        if arm == "none":
            sample = sampler((img_k, idx_k), augment=False)
        elif arm == "classic":
            sample = sampler(classic, augment=True)
        else:
            run_dir = work / f"k{k}-s{seed}"
            extra["gan"] = train_gan(p.train_set.subset(pick), run_dir, gan_budget_min * 60, seed)
            g = load_generator(run_dir)
            fake = synthesize(g, moved_idx, 7919 * seed + 1, p.n_labels)
            extra["synthetic_pairs"] = len(fake)
            sample = sampler((torch.cat([classic[0], fake]), torch.cat([classic[1], moved_idx])),
                             augment=True)  # fmt: skip
        model, facts = train_segmenter(sample, seg_steps, seed, batch_size, width=width)
        record = {
            **common, "arm": arm, "arm_text": ARM_TEXT[arm], "segmenter": facts, **extra,
            "dice_heldout": dice(segment(model, he_img), he_idx),
            "dice_train_k": dice(segment(model, img_k), idx_k),
        }  # fmt: skip
        folder = RUNS / "downstream"
        folder.mkdir(parents=True, exist_ok=True)
        out = folder / f"k{k}-s{seed}-{arm}.json"
        out.write_text(json.dumps(record, indent=2) + "\n")
        written.append(out)
        print(out.name, {t: round(v, 3) for t, v in record["dice_heldout"].items()}, flush=True)
    return written
