"""Train a translation for a CPU budget, then score it and the baselines on held-out slabs."""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from napari_medgan.engine import Trainer, Volume
from napari_medgan.engine.config import preset
from napari_medgan.engine.families.translate.infer import Translator
from napari_medgan.engine.families.translate.networks import UNetGenerator

from . import RUNS
from .baselines import Monotone, Patch3x3, identity
from .data import mni_pair, native_slices
from .scores import scores

#: Held-out slices kept for the picture (seed 0 only).
SHOWN = 3


def train(target: str, seed: int, budget_s: float, run_dir: Path, changes: dict):
    """The ``translate`` cpu preset (with ``changes``) trained until ``budget_s`` seconds of
    process CPU time."""
    cfg = preset("cpu", family="translate").replace(
        seed=seed, out_dir=str(run_dir), steps=1_000_000, device="cpu", preview_every=0,
        checkpoint_every=0, score_every=250, **changes,
    )  # fmt: skip
    data = mni_pair(target, cfg.size)
    trainer = Trainer(cfg, data.dataset)
    t0, w0 = time.process_time(), time.perf_counter()
    for report in trainer.run():
        if time.process_time() - t0 >= budget_s:
            trainer.stop()
        last = report
    cpu_s, wall_s = time.process_time() - t0, time.perf_counter() - w0
    train_idx, held_idx = native_slices(trainer.train_set), native_slices(trainer.heldout_set)
    trainer.close()
    return data, cfg, last.step, cpu_s, wall_s, train_idx, held_idx


def evaluate(data, cfg, run_dir: Path, train_idx, held_idx, seed: int) -> dict[str, np.ndarray]:
    """Each method's prediction of the held-out target slices (native grid, target units)."""
    held_src = Volume(data.source[held_idx], data.spacing, name="T1")
    latest = Translator.from_checkpoint(run_dir, prefer="latest")
    src_t, tgt_t = latest.transforms["source"], latest.transforms["target"]
    untrained = Translator(
        generator=_untrained(cfg), config=cfg, transforms=latest.transforms, roles=latest.roles,
        device=torch.device("cpu"),
    )  # fmt: skip
    rng = np.random.default_rng(seed)
    train_src, train_tgt = data.source[train_idx], data.target[train_idx]
    monotone = Monotone().fit(train_src, train_tgt, rng)
    patch = Patch3x3().fit(train_src, train_tgt, monotone, rng)
    return {
        "model (latest)": latest.translate(held_src),
        "model (best)": Translator.from_checkpoint(run_dir, prefer="best").translate(held_src),
        "identity": identity(held_src.data, (src_t.low, src_t.high), (tgt_t.low, tgt_t.high)),
        "monotone (isotonic)": monotone(held_src.data),
        "3x3 patch model": patch(held_src.data),
        "untrained model": untrained.translate(held_src),
    }


def _untrained(cfg) -> UNetGenerator:
    torch.manual_seed(cfg.seed)
    return UNetGenerator(cfg.size, cfg.base_channels, cfg.max_channels, cfg.crop).eval()


def run(target: str, seed: int, budget_s: float, work: Path, tag: str, changes: dict) -> Path:
    """Train, score, and write ``translation_runs/TAG/{target}-s{seed}.json`` (and samples)."""
    torch.set_num_threads(1)
    run_dir = work / tag / f"{target}-s{seed}"
    data, cfg, steps, cpu_s, wall_s, train_idx, held_idx = train(
        target, seed, budget_s, run_dir, changes
    )
    preds = evaluate(data, cfg, run_dir, train_idx, held_idx, seed)
    truth = data.target[held_idx]
    window = Translator.from_checkpoint(run_dir).transforms["target"]
    data_range = float(window.high - window.low)
    record = {
        "target": target,
        "seed": seed,
        "tag": tag,
        "command": f"bench_translation.py run --target {target} --seed {seed} --budget "
        f"{budget_s:g} --tag {tag}" + "".join(f" --set {k}={v}" for k, v in changes.items()),
        "budget_cpu_s": budget_s,
        "steps": steps,
        "cpu_s": round(cpu_s, 1),
        "wall_s": round(wall_s, 1),
        "heldout_slices": len(held_idx),
        "train_slices": len(train_idx),
        "machine": platform.processor() or platform.machine(),
        "torch_threads": 1,
        "config": cfg.to_dict(),
        "scores": {name: scores(p, truth, data_range) for name, p in preds.items()},
    }
    folder = RUNS / tag
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"{target}-s{seed}.json"
    out.write_text(json.dumps(record, indent=2) + "\n")
    if seed == 0:
        shown = np.unique(np.linspace(0, len(held_idx) - 1, SHOWN).round().astype(int))
        np.savez_compressed(
            folder / f"{target}-samples.npz",
            source=data.source[held_idx][shown].astype(np.float16),
            truth=truth[shown].astype(np.float16),
            slices=held_idx[shown],
            **{name: p[shown].astype(np.float16) for name, p in preds.items()},
        )
    return out
