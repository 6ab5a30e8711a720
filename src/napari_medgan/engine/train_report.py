"""What the training loop yields after each step: :class:`TrainReport`."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class TrainReport:
    """What one training step reports.

    ``losses`` holds the family's named series (``Family.loss_names``: for the GAN ``loss_d``,
    ``loss_g``, ``d_real``, ``d_fake``). ``preview`` (when present) is ``(rows, columns, size,
    size)`` in the model range [-1, 1], a name per row in ``preview_names`` (the family says what
    the rows are). ``heldout_score`` (on scoring steps only) is the family's held-out score of the
    EMA generator, lower is better, and ``heldout_baseline`` its reference line; ``best_step`` is
    the step of the best score so far (None before the first score). With a time budget
    (``config.minutes``), ``time_budget_s`` is it and ``train_s`` the training time spent of it
    (pauses excluded); ``eta_s`` is the sooner of the steps' and the budget's end.
    """

    step: int
    total_steps: int
    losses: dict[str, float]
    images_per_s: float
    elapsed_s: float
    eta_s: float
    device: str
    status: str = "running"  # running | paused | finished | stopped
    preview: np.ndarray | None = None
    preview_names: list[str] = field(default_factory=list)
    checkpoint: str | None = None
    heldout_score: float | None = None
    heldout_baseline: float | None = None
    best_step: int | None = None
    train_s: float = 0.0
    time_budget_s: float | None = None

    def progress(self) -> tuple[int, int]:
        """``(done, total)`` for a progress bar: seconds of the time budget when the run has
        one (full once the run has ended), else steps."""
        if not self.time_budget_s:
            return self.step, self.total_steps
        total = round(self.time_budget_s)
        done = total if self.status in ("finished", "stopped") else int(self.train_s)
        return min(done, total), total

    @property
    def time_left_s(self) -> float | None:
        """Seconds of the time budget left (None without a budget)."""
        if not self.time_budget_s:
            return None
        return max(0.0, self.time_budget_s - self.train_s)
