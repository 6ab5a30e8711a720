"""Train the ``mask2image`` cpu preset for a CPU-time budget; synthesise at training size."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import torch

from napari_medgan.engine import Trainer
from napari_medgan.engine.config import TrainConfig, preset
from napari_medgan.engine.data import SliceDataset
from napari_medgan.engine.families.mask2image.infer import Synthesizer
from napari_medgan.engine.families.mask2image.networks import (
    SpadeGenerator,
    make_noise,
    one_hot,
)
from napari_medgan.engine.holdout import HoldoutSplit


def gan_config(run_dir: Path, seed: int, holdout: bool) -> TrainConfig:
    """The cpu preset in fp32, no step limit (the CPU budget ends it), no scoring: the
    held-out slices are never looked at, so the final (EMA) weights are evaluated."""
    return preset("cpu", family="mask2image").replace(
        out_dir=str(run_dir), seed=seed, precision="fp32", device="cpu", steps=1_000_000,
        preview_every=0, checkpoint_every=0, score_every=0,
        **({} if holdout else {"holdout": 0.0}),
    )  # fmt: skip


def train_gan(
    dataset: SliceDataset,
    run_dir: Path,
    budget_cpu_s: float,
    seed: int = 0,
    split: HoldoutSplit | None = None,
) -> dict[str, float]:
    """Train on ``dataset`` (minus ``split``'s held-out and gap slices, or all of it when
    ``split`` is None) until ``budget_cpu_s`` seconds of process CPU time; the run's facts."""
    if run_dir.exists():
        shutil.rmtree(run_dir)
    cfg = gan_config(run_dir, seed, holdout=split is not None)
    trainer = Trainer(cfg, dataset, split=split)
    n_train = len(trainer.train_set)
    t0, w0 = time.process_time(), time.perf_counter()
    last, recent = None, []
    for report in trainer.run():
        if time.process_time() - t0 >= budget_cpu_s:
            trainer.stop()
        last = report
        if report.status == "running":
            recent = [*recent[-19:], report.losses]
    trainer.close()
    return {
        "steps": int(last.step) if last else 0,
        "cpu_s": round(time.process_time() - t0, 1),
        "wall_s": round(time.perf_counter() - w0, 1),
        "train_slices": n_train,
        "batch_size": cfg.batch_size,
        "preset_steps": preset("cpu", family="mask2image").steps,
        "losses_last_20_steps": {
            k: round(sum(r[k] for r in recent) / len(recent), 4) for k in recent[0]
        } if recent else {},
    }  # fmt: skip


def load_generator(run_dir: Path) -> SpadeGenerator:
    """The run's final EMA generator (``latest``; no held-out-selected ``best``), eval mode."""
    return Synthesizer.from_checkpoint(run_dir, prefer="latest").generator.eval()


def untrained_generator(n_labels: int, seed: int = 0) -> SpadeGenerator:
    """The preset's generator with its initial weights (a control)."""
    cfg = preset("cpu", family="mask2image")
    torch.manual_seed(seed)
    return SpadeGenerator(cfg.size, n_labels, cfg.base_channels, cfg.max_channels, cfg.crop).eval()


@torch.no_grad()
def synthesize(
    g: SpadeGenerator, index: torch.Tensor, seed: int, n_labels: int, chunk: int = 32
) -> torch.Tensor:
    """Images ``(n, S, S)`` in [-1, 1] for label indices ``(n, S, S)``, noise from ``seed``
    (a noise draw per image)."""
    gen = torch.Generator().manual_seed(int(seed))
    out = []
    for part in torch.split(index, chunk):
        noise = make_noise(len(part), part.shape[-2], part.shape[-1], gen)
        out.append(g(one_hot(part[:, None].float(), n_labels), noise)[:, 0].clamp(-1, 1))
    return torch.cat(out)
