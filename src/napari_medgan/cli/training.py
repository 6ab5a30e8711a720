"""Run a trainer in the terminal: progress bar, Ctrl-C stops cleanly, previews to PNG."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

from tqdm import tqdm

from napari_medgan.engine import Trainer, TrainReport
from napari_medgan.engine.families import series_label

from .sheets import contact_sheet, to_uint8


def run_in_terminal(trainer: Trainer, quiet: bool = False) -> TrainReport:
    """Iterate the trainer with a tqdm bar; the first Ctrl-C stops after a checkpoint.

    Returns the last report (status ``finished`` or ``stopped``).
    """
    cfg = trainer.config
    last: TrainReport | None = None

    def on_sigint(signum, frame):  # first Ctrl-C: stop cleanly; second: default behaviour
        signal.signal(signal.SIGINT, previous)
        tqdm.write("stopping: finishing the step and saving a checkpoint (Ctrl-C again to abort)")
        trainer.stop()

    previous = signal.getsignal(signal.SIGINT)
    in_main = _is_main_thread()
    if in_main:
        signal.signal(signal.SIGINT, on_sigint)
    timed = cfg.minutes > 0  # the bar counts the time budget's seconds, its ETA is the time left
    bar = tqdm(
        total=round(cfg.minutes * 60) if timed else cfg.steps,
        initial=0 if timed else trainer.step,
        unit="s" if timed else "step",
        dynamic_ncols=True,
        disable=quiet,
        file=sys.stderr,
        desc=f"training on {trainer.device}" + (f" for {cfg.minutes:g} min" if timed else ""),
    )
    held = ""
    try:
        for report in trainer.run():
            bar.update(report.progress()[0] - bar.n)
            if report.heldout_score is not None:
                held = f" held-out {report.heldout_score:.3f} (best @{report.best_step})"
            if report.status == "running":
                step = f"step {report.step}/{report.total_steps} " if timed else ""
                bar.set_postfix_str(
                    f"{step}{series_line(report.losses)} {report.images_per_s:.0f} img/s{held}"
                )
            if report.preview is not None:
                write_preview(report, Path(cfg.out_dir) / "preview.png")
            last = report
    finally:
        bar.close()
        if in_main:
            signal.signal(signal.SIGINT, previous)
    assert last is not None
    return last


def series_line(losses: dict[str, float]) -> str:
    """``D 0.693 G 0.712 D(x) 0.51 ...``: each named series of a report, in its order."""
    return " ".join(f"{series_label(k)} {v:.3f}" for k, v in losses.items())


def write_preview(report: TrainReport, path: Path) -> None:
    """Save the report's preview as a PNG: a row of samples per condition."""
    rows = [(name, to_uint8(row)) for name, row in zip(report.preview_names, report.preview)]
    contact_sheet(rows, path, header=f"step {report.step}")


def _is_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()
