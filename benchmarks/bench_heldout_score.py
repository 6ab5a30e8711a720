"""Cost of the held-out score relative to training, at the demo's CPU settings.

Run ``python benchmarks/bench_heldout_score.py [--steps N] [--scores K]``. Trains the demo
configuration (MNI152 T1/GM/WM at 2 mm, 32 px, batch 32, 16 base channels, default held-out
split) for ``N`` steps after 3 warm-up steps, then times ``K`` held-out scores of the EMA
generator. Both are CPU times of this process (``time.process_time``) measured in the same run,
so other load on the machine affects them alike. Prints the cost of one score, of one training
step, and the overhead ratio ``score / (score_every x step)`` for the default ``score_every``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import torch

from napari_medgan.cli.demo import DEMO_CONFIG, load_demo_volumes
from napari_medgan.engine import TrainConfig, Trainer, build_dataset


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--scores", type=int, default=10)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = DEMO_CONFIG.replace(device="cpu", preview_every=0, checkpoint_every=0)
    ds = build_dataset(load_demo_volumes(), cfg.size, cfg.slice_axis, cfg.min_foreground)
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(cfg.replace(out_dir=out, steps=args.steps + 3), ds)
        run = trainer.run()
        for _ in range(3):
            next(run)
        t0 = time.process_time()
        for _ in range(args.steps):
            next(run)
        step_s = (time.process_time() - t0) / args.steps
        assert trainer.scorer is not None, "no held-out data: nothing to score"
        trainer.scorer.score(trainer.G_ema, trainer.device)  # warm-up
        t0 = time.process_time()
        for _ in range(args.scores):
            value = trainer.scorer.score(trainer.G_ema, trainer.device)
        score_s = (time.process_time() - t0) / args.scores
        run.close()
    every = TrainConfig().score_every
    print(f"machine load (1/5/15 min): {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    print(f"split: {trainer.split.summary()}")
    print(
        f"scored images per score: {trainer.scorer.n_images}; last score {value:.4f} "
        f"(training-vs-held-out baseline {trainer.scorer.baseline:.4f})"
    )
    print(f"training step: {step_s * 1000:.1f} ms CPU; one score: {score_s * 1000:.1f} ms CPU")
    print(f"overhead at score_every={every}: {score_s / (every * step_s):.2%} of training CPU time")


if __name__ == "__main__":
    main()
