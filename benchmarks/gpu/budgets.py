"""The held-out SWD ratio of the ``gpu`` preset after two fixed training times.

One run of the preset at the first size, as a user starts it (held-out slabs, scores, previews
and checkpoints on), ended by the engine's own ``minutes`` setting at the longer budget: its
final report carries the held-out score and baseline. At the shorter budget the EMA generator is
scored by the trainer's own scorer (that scoring time is part of the run's clock, as the
trainer's periodic scores are). The ratio is score / baseline, the baseline being training
slices scored against the held-out ones at the same count (1.0: as close as real slices).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from napari_medgan.engine import Trainer, TrainReport, build_dataset

from .env import Environment
from .profile import Profile


def heldout_section(env: Environment, profile: Profile, work: Path) -> dict[str, Any]:
    """Train for ``max(profile.budgets_s)`` and read the held-out SWD ratio at each budget."""
    short, long = sorted(profile.budgets_s)
    cfg = profile.config(
        profile.sizes[0], env.precision, minutes=long / 60.0, steps=10**7,
        out_dir=tempfile.mkdtemp(prefix="heldout-", dir=work),
    )  # fmt: skip
    dataset = build_dataset(env.volumes, cfg.size, cfg.slice_axis, cfg.min_foreground)
    trainer = Trainer(cfg, dataset, owner="gpu_check")
    if trainer.scorer is None:
        trainer.close()
        raise RuntimeError("the trainer holds nothing out: no held-out score to read")
    points, last = [], None
    try:
        for report in trainer.run():
            if not points and report.train_s >= short:
                points.append(_score_now(trainer, report, short))
            last = report
    finally:
        trainer.close()
    points.append(_point(last, long, last.heldout_score, last.heldout_baseline, 0.0))
    return {"size": cfg.size, "split": trainer.split.summary(), "points": points}


def _score_now(trainer: Trainer, report: TrainReport, budget_s: float) -> dict[str, Any]:
    """Score the EMA generator on the held-out slices now, as the trainer does every N steps."""
    t0 = time.perf_counter()
    score = trainer.scorer.score(trainer.sampling_generator(), trainer.device)
    return _point(report, budget_s, score, trainer.scorer.baseline, time.perf_counter() - t0)


def _point(
    report: TrainReport, budget_s: float, score: float | None, baseline: float | None,
    score_s: float,
) -> dict[str, Any]:  # fmt: skip
    ratio = score / baseline if score is not None and baseline else None
    return {
        "budget_s": budget_s,
        "train_s": report.train_s,
        "step": report.step,
        "images_per_s": report.images_per_s,
        "status": report.status,
        "score": score,
        "baseline": baseline,
        "ratio": ratio,
        "score_s": score_s,
    }
