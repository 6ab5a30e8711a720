"""What a person sees of a training run: summary, progress, status line, loss plot, preview.

Reports arrive in batches ten times a second (``common.jobs.ProcessJob``); numbers go into the
plot as they come (cheap), but the screen changes at most ``UI_S`` apart, all parts in the
same event-loop pass, so Qt repaints napari's window once for all of them. Every repaint of a
widget in napari's window recomposites the whole window (it holds the OpenGL canvas); under
software OpenGL each costs ~15-20 ms of napari's CPU, which a training child on the same
cores pays for (``benchmarks/results_gui.md``). So the status line is painted text of a fixed
height (a changing ``QLabel`` re-lays out the dock, a second repaint) and the progress bar
repaints with the rest rather than at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtWidgets import QLabel, QProgressBar, QSizePolicy, QVBoxLayout, QWidget

from napari_medgan.engine import TrainReport
from napari_medgan.engine.families import series_label
from napari_medgan.engine.runner import Failed, Ready

from ..common.layout import UI_S, StatusLine, set_progress_quietly
from ..common.preview import show_preview
from .loss_plot import PROBABILITIES, LossPlot

log = logging.getLogger(__name__)


def loss_text(losses: dict[str, float]) -> str:
    """``D 0.693 · G 0.712 · L1 0.101``: a report's losses (not the D probabilities)."""
    return " · ".join(
        f"{series_label(k)} {v:.3f}" for k, v in losses.items() if k not in PROBABILITIES
    )


class TrainFeedback(QWidget):
    """The lower half of the Train widget: turns training messages into what is shown.

    Parameters
    ----------
    viewer : napari.Viewer
        Where the preview layer goes.
    clock : callable
        Seconds, monotonic (tests pass a fake one).
    """

    def __init__(self, viewer, clock: Callable[[], float] = time.monotonic, parent=None) -> None:
        super().__init__(parent)
        self.viewer = viewer
        self.clock = clock
        self.summary = fixed_lines(QLabel(), 1)
        self.progress = QProgressBar()
        self.progress.setFormat("step %v / %m")
        self.status = StatusLine("Tick image layers, check the settings, press Start.")
        self.plot = LossPlot(interval_ms=None)  # redrawn by refresh(), with everything else
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for w in (self.summary, self.progress, self.status):
            layout.addWidget(w)
        layout.addWidget(self.plot, 1)
        self.last_report: TrainReport | None = None
        self.pixel_spacing = 1.0
        self.source = None  # the layer the preview is placed beside
        self.job = None  # the ProcessJob whose activity-dock bar follows the run
        self.refreshes = 0  # how often the screen was updated (tests, benchmarks)
        self._shown: TrainReport | None = None  # the report the labels show
        self._preview: TrainReport | None = None  # newest preview not shown yet
        self._last_refresh = -float("inf")

    def reset(self, keep_plot: bool) -> None:
        """A run starts (``keep_plot``: it resumes, so the old curves continue)."""
        if not keep_plot:
            self.plot.clear()
        self.last_report = self._shown = self._preview = None
        self._last_refresh = -float("inf")

    # ------------------------------------------------------------------ messages
    def report(self, r: TrainReport) -> None:
        """Record one step's report (cheap; nothing is drawn here)."""
        if r.status == "running":
            self.plot.add(r.step, **r.losses)
        if r.heldout_score is not None:
            self.plot.add_score(r.step, r.heldout_score, r.best_step, r.heldout_baseline)
        if r.preview is not None:
            self._preview = r
        self.last_report = r

    def ready(self, msg: Ready) -> None:
        self.pixel_spacing = msg.pixel_spacing
        counts = ", ".join(f"{k}: {v}" for k, v in msg.counts.items())
        kind = "conditional GAN" if msg.conditional else "GAN"
        if msg.roles:
            what = "mask-to-image" if "labels" in msg.roles else "translation"
            kind = f"{what} " + " → ".join(r["name"] for r in msg.roles.values())
        self.plot.set_score_name(msg.score_name)
        again = f"; resumed at step {msg.resumed_from}" if msg.resumed_from else ""
        self.summary.setText(f"{kind} on {msg.device} · slices {counts}{again}")
        self.summary.setToolTip(self.summary.text() + "\n" + msg.split)
        if not msg.heldout:
            show_warning(msg.split)

    def failed(self, msg: Failed) -> None:
        if msg.crashed:
            log.error("training process crashed: %s\n%s", msg.message, msg.details)
            show_error(f"Training crashed ({msg.kind}): {msg.message}")
            self.announce(f"Training crashed: {msg.message}")
        else:
            show_error(f"Training failed ({msg.kind}): {msg.message}")
            self.announce(f"Training failed: {msg.message}")

    def final(self, r: TrainReport) -> None:
        word = "Finished" if r.status == "finished" else "Stopped"
        self.announce(f"{word} at step {r.step}/{r.total_steps}; saved {r.checkpoint}")
        show_info(f"{word} at step {r.step}; checkpoint saved in {r.checkpoint}")

    def set_status(self, text: str) -> None:
        self.status.setText(text)

    def announce(self, text: str) -> None:
        """How a run ended: the newest numbers go on screen now, then ``text`` on the status
        line, so no report still waiting for the throttled screen can cover it."""
        self.refresh(force=True)
        self.set_status(text)

    # ------------------------------------------------------------------ the screen
    def refresh(self, force: bool = False) -> bool:
        """Show the newest numbers, curves and preview, unless the screen changed less than
        ``UI_S`` ago (``force``: now). True if it updated."""
        now = self.clock()
        if not force and now - self._last_refresh < UI_S:
            return False
        self._last_refresh = now
        self.refreshes += 1
        r = self.last_report
        if r is not None and r is not self._shown:
            self._shown = r
            self._show_progress(r)
        self.plot.redraw()
        if self._preview is not None:
            p, self._preview = self._preview, None
            beside = self.source if self.source in self.viewer.layers else None
            spacing = self.pixel_spacing
            show_preview(self.viewer, p.preview, p.preview_names, spacing, beside, p.step)
        if r is not None and self.job is not None:
            # last: napari's bar processes pending events, i.e. paints what changed above
            self.job.set_progress(*r.progress())
        return True

    def _show_progress(self, r: TrainReport) -> None:
        fmt = "%p% of the time" if r.time_budget_s else "step %v / %m"
        if self.progress.format() != fmt:
            self.progress.setFormat(fmt)
        set_progress_quietly(self.progress, *r.progress())
        if r.status == "running":
            left = "left" if r.time_budget_s else "ETA"
            self.set_status(
                f"step {r.step}/{r.total_steps} · {r.images_per_s:.0f} img/s · "
                f"{left} {duration(r.eta_s)} · {loss_text(r.losses)} · {r.device}"
            )
        elif r.status == "paused":
            self.set_status(f"Paused at step {r.step}: Resume or Stop (saves a checkpoint).")


def fixed_lines(label: QLabel, lines: int = 2) -> QLabel:
    """Make ``label`` wrap within a fixed height of ``lines`` text lines and take any width, so
    new text never changes the dock's layout (the full text is in the tooltip)."""
    label.setWordWrap(lines > 1)
    fm = label.fontMetrics()
    label.setFixedHeight(lines * fm.lineSpacing() + 2)
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
    return label


def duration(seconds: float) -> str:
    """``m:ss`` or ``h:mm:ss``; a dash for an unknown (NaN or infinite) time."""
    if seconds != seconds or seconds == float("inf"):
        return "—"
    h, rem = divmod(int(seconds), 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
