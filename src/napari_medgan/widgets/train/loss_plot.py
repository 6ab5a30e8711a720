"""A live plot of the losses, discriminator outputs and held-out score, redrawn a few times a
second at most."""

from __future__ import annotations

import time

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QSizePolicy, QVBoxLayout, QWidget

from napari_medgan.engine.families import series_label

#: Series drawn in the probability panel (mean discriminator outputs); all others are losses.
PROBABILITIES = ("d_real", "d_fake")
LABELS = {"loss_d": "D loss", "loss_g": "G loss", "d_real": "D(real)", "d_fake": "D(fake)"}
COLORS = {"loss_d": "#4fc3f7", "loss_g": "#ffb74d", "d_real": "#81c784", "d_fake": "#e57373"}
#: Colours of the series a family adds beyond the GAN's (L1, ...), in order of appearance.
MORE_COLORS = ("#f06292", "#aed581", "#90a4ae", "#fff176")
SCORE_COLOR, BEST_COLOR = "#ce93d8", "#ffd54f"
NO_SCORE_TEXT = "no held-out score yet"
MAX_POINTS = 400
SCORE_HEADROOM = 1.6  # score axis top = highest score (or baseline) x this


class LossPlot(QWidget):
    """Three stacked axes: the losses; mean D(real) and D(fake) probabilities; the held-out
    score (lower is better) with the best step marked and the training-vs-held-out baseline.
    Whatever named series the reports carry are drawn (a line appears with its first value):
    ``d_real`` and ``d_fake`` in the probability panel, every other series with the losses.

    ``add`` and ``add_score`` are cheap (append numbers); ``redraw`` draws only when something
    changed: with ``interval_ms`` a timer calls it at most that often, with ``None`` the owner
    calls it (the Train widget does, in the same tick as its labels, so Qt repaints the window
    once for all of them). A redraw only repaints the loss and probability curves over a cached
    background (blitting, a few ms) and asks Qt for a normal, coalesced repaint of the canvas
    rather than an immediate one; axes, ticks, labels and the score panel (text rendering:
    ~250 ms per full draw on a busy 2-core machine, which stalled napari) are redrawn only when
    a score arrives or the axis limits jump.
    """

    def __init__(self, interval_ms: int | None = 400, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.figure = Figure(figsize=(4, 3.4), facecolor="#262930")
        self.figure.subplots_adjust(left=0.14, right=0.98, top=0.97, bottom=0.11, hspace=0.14)
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumHeight(240)
        self.canvas.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.canvas)
        self.ax_loss, self.ax_prob, self.ax_score = self.figure.subplots(3, 1, sharex=True)
        self.lines = {}
        (self.score_line,) = self.ax_score.plot(
            [], [], lw=1.2, marker=".", color=SCORE_COLOR, label="held-out SWD"
        )
        (self.best_marker,) = self.ax_score.plot(
            [], [], ls="", marker="*", ms=10, color=BEST_COLOR, label="best"
        )
        self.baseline_line = self.ax_score.axhline(
            np.nan, ls="--", lw=0.8, color="#9e9e9e", label="train vs held-out"
        )
        self.score_note = self.ax_score.text(
            0.5, 0.5, NO_SCORE_TEXT, transform=self.ax_score.transAxes, ha="center",
            va="center", color="#9e9e9e", fontsize=7,
        )  # fmt: skip
        axes = ((self.ax_loss, "loss"), (self.ax_prob, "probability"), (self.ax_score, "score"))
        for ax, title in axes:
            ax.set_facecolor("#1e1f24")
            ax.tick_params(colors="#c8c8c8", labelsize=7)
            ax.set_ylabel(title, color="#c8c8c8", fontsize=8)
            for spine in ax.spines.values():
                spine.set_color("#5a5a5a")
            _legend(ax, score=ax is self.ax_score)
        self.ax_prob.set_ylim(0, 1)
        self.ax_score.set_xlabel("step", color="#c8c8c8", fontsize=8)
        self.steps: list[int] = []
        self.values: dict[str, list[float]] = {}
        self.score_steps: list[int] = []
        self.scores: list[float] = []
        self.best_step: int | None = None
        self.baseline: float | None = None
        self.draw_count = 0
        self._dirty = False
        self._last_draw = 0.0
        self._background = None
        self._score_state = None  # what the score panel showed at the last full draw
        self.canvas.mpl_connect("draw_event", self._on_full_draw)
        self._timer = QTimer(self)
        if interval_ms is not None:
            self._timer.setInterval(interval_ms)
            self._timer.timeout.connect(self.redraw)
            self._timer.start()

    def add(self, step: int, **values: float) -> None:
        """Record one step's numbers (non-finite values are kept out of the plot)."""
        if self.steps and step <= self.steps[-1]:
            return
        for key in values:
            if key not in self.values:
                self._add_series(key)
        self.steps.append(step)
        for key, series in self.values.items():
            v = float(values.get(key, np.nan))
            series.append(v if np.isfinite(v) else np.nan)
        self._dirty = True

    def _add_series(self, key: str) -> None:
        """A line for a series seen for the first time (earlier steps have no value)."""
        ax = self.ax_prob if key in PROBABILITIES else self.ax_loss
        extra = sum(k not in COLORS for k in self.values)
        color = COLORS.get(key, MORE_COLORS[extra % len(MORE_COLORS)])
        label = LABELS.get(key, series_label(key))
        (self.lines[key],) = ax.plot([], [], lw=1.2, color=color, label=label, animated=True)
        self.values[key] = [np.nan] * len(self.steps)
        _legend(ax, score=False)
        self._background = None  # the legend changed: the next redraw is a full one

    def set_score_name(self, name: str) -> None:
        """What the held-out score measures (legend of the score panel)."""
        self.score_line.set_label(name)
        _legend(self.ax_score, score=True)
        self._background = None
        self._dirty = True

    def add_score(
        self, step: int, score: float, best_step: int | None, baseline: float | None = None
    ) -> None:
        """Record a held-out score (lower is better), the best step so far and the baseline."""
        if self.score_steps and step <= self.score_steps[-1]:
            self.best_step = best_step  # the final report repeats the last score
            self._dirty = True
            return
        self.score_steps.append(step)
        self.scores.append(float(score) if np.isfinite(score) else np.nan)
        self.best_step = best_step
        if baseline is not None and np.isfinite(baseline):
            self.baseline = float(baseline)
        self._dirty = True

    def best_point(self) -> tuple[int, float] | None:
        """``(step, score)`` of the best recorded score, None before one."""
        if self.best_step is None or self.best_step not in self.score_steps:
            return None
        return self.best_step, self.scores[self.score_steps.index(self.best_step)]

    def clear(self) -> None:
        self.steps.clear()
        for v in self.values.values():
            v.clear()
        self.score_steps.clear()
        self.scores.clear()
        self.best_step = self.baseline = None
        self._dirty = True
        self.redraw()

    def redraw(self) -> None:
        """Redraw if something changed (called by the timer)."""
        if not self._dirty or not self.isVisible():
            return
        self._dirty = False
        x = np.asarray(self.steps)
        every = max(1, len(x) // MAX_POINTS)  # a few hundred points per curve are plenty
        for key, line in self.lines.items():
            line.set_data(x[::every], _smooth(np.asarray(self.values[key]))[::every])
        self.draw_count += 1
        self._last_draw = time.perf_counter()
        scores = (len(self.scores), self.best_step, self.baseline)
        full = self._update_limits(x) or self._background is None or scores != self._score_state
        if full:
            self._score_state = scores
            self._draw_scores()
            self.canvas.draw_idle()  # _on_full_draw caches it and adds the curves
        else:
            self._blit()

    def _update_limits(self, x: np.ndarray) -> bool:
        """Move the axis limits in coarse jumps; True if they changed."""
        changed = False
        if len(x):
            lo, hi = self.ax_prob.get_xlim()
            if x[-1] > hi or x[0] < lo or hi > 4 * max(x[-1], 1):
                self.ax_prob.set_xlim(x[0], x[0] + max(50, 1.5 * (x[-1] - x[0])))
                changed = True
        ys = [v for k, v in self.values.items() if k not in PROBABILITIES and v]
        y = np.concatenate([np.asarray(v) for v in ys]) if ys else np.array([])
        y = y[np.isfinite(y)]
        if len(y):
            lo, hi = self.ax_loss.get_ylim()
            y_lo, y_hi = float(y.min()), float(y.max())
            span = max(y_hi - y_lo, 1e-3)
            if y_lo < lo or y_hi > hi or (hi - lo) > 3 * span:
                self.ax_loss.set_ylim(y_lo - 0.15 * span, y_hi + 0.15 * span)
                changed = True
        return changed

    def _on_full_draw(self, _event) -> None:
        """After any full draw (limits, scores, resize): cache the background, add the curves."""
        self._background = self.canvas.copy_from_bbox(self.figure.bbox)
        self._blit()

    def _blit(self) -> None:
        if self._background is None:
            return
        self.canvas.restore_region(self._background)
        for line in self.lines.values():
            line.axes.draw_artist(line)
        self.canvas.update()  # paints the renderer's buffer at the next (coalesced) repaint

    def _draw_scores(self) -> None:
        self.score_line.set_data(self.score_steps, self.scores)
        best = self.best_point()
        self.best_marker.set_data(*(([best[0]], [best[1]]) if best else ([], [])))
        self.baseline_line.set_ydata([np.nan if self.baseline is None else self.baseline] * 2)
        self.score_note.set_visible(not self.scores)
        values = np.asarray([*self.scores, np.nan if self.baseline is None else self.baseline])
        if np.isfinite(values).any():  # distances: from 0 up, baseline included
            # the top third stays free for the legend, so it never covers a marker
            self.ax_score.set_ylim(0, float(np.nanmax(values)) * SCORE_HEADROOM + 1e-9)

    def stop_timer(self) -> None:
        self._timer.stop()


def _legend(ax, score: bool) -> None:
    """The panel's legend: one row in the score panel's headroom, two columns elsewhere."""
    if not any(not line.get_label().startswith("_") for line in ax.get_lines()):
        return  # nothing to name yet
    ax.legend(
        loc="upper center" if score else "upper right", ncol=3 if score else 2,
        fontsize=7, frameon=False, labelcolor="#e0e0e0", handlelength=1.2,
        columnspacing=0.8, handletextpad=0.4,
    )  # fmt: skip


def _smooth(y: np.ndarray, window: int = 9) -> np.ndarray:
    """A light running mean so the curves stay readable (no-op for short series)."""
    if len(y) < 2 * window:
        return y
    kernel = np.ones(window) / window
    padded = np.concatenate([np.full(window - 1, y[0]), y])
    return np.convolve(padded, kernel, mode="valid")
