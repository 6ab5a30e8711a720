"""Live feedback at human rates: what the Train widget shows changes at most twice a second,
in one repaint, and napari's spinner does not repaint the window while our tasks run.

No child process and no sleeps: reports are fed by hand and time is a fake clock.
"""

from __future__ import annotations

import threading
from itertools import pairwise

import numpy as np
import pytest
from qtpy.QtGui import QMovie

from napari_medgan.engine import TrainReport
from napari_medgan.engine.runner import Ready
from napari_medgan.widgets.common.jobs import ProcessJob, activity_movie
from napari_medgan.widgets.common.layout import UI_S, StatusLine
from napari_medgan.widgets.common.preview import PREVIEW_NAME, grid
from napari_medgan.widgets.train.loss_plot import LossPlot
from napari_medgan.widgets.train.widget import TrainWidget

pytestmark = pytest.mark.gui


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def report(step: int, status: str = "running", preview: bool = False) -> TrainReport:
    losses = dict(loss_d=1.0 + step % 3, loss_g=0.5, d_real=0.6, d_fake=0.4)
    r = TrainReport(
        step=step, total_steps=1000, losses=losses, images_per_s=100.0 + step, elapsed_s=1.0,
        eta_s=10.0, device="cpu", status=status,
    )  # fmt: skip
    if preview:
        r.preview, r.preview_names = np.zeros((2, 4, 8, 8), np.float32), ["T1", "GM"]
    return r


class FakeRun:
    """Stands in for a ProcessRun: nothing runs, nothing arrives."""

    def __init__(self) -> None:
        self.finished = threading.Event()
        self.stopped = False

    def start(self):
        return self

    def stop(self) -> None:
        self.stopped = True

    def drain(self) -> list:
        return []


def test_the_screen_changes_at_most_twice_a_second_and_at_once_at_the_end(
    make_napari_viewer, qtbot
):
    viewer = make_napari_viewer()
    widget = TrainWidget(viewer)
    viewer.window.add_dock_widget(widget)
    clock = Clock()
    fb = widget.feedback
    fb.clock = clock
    ready = Ready(counts={"T1": 5}, conditional=False, pixel_spacing=2.0, device="cpu",
                  resumed_from=0)  # fmt: skip
    widget._on_messages([ready])
    texts, values = [], []
    step, seconds, polls_per_s = 0, 5, 10
    for _ in range(seconds * polls_per_s):  # 10 polls a second, 3 reports each (30 steps/s)
        batch = []
        for _ in range(3):
            step += 1
            batch.append(report(step, preview=step % 20 == 0))
        widget._on_messages(batch)
        texts.append(widget.status.text())
        values.append(widget.progress.value())
        clock.t += 1 / polls_per_s
    changes = sum(a != b for a, b in pairwise(texts)) + 1
    assert changes <= seconds / UI_S + 1  # at most twice a second, not 10 (or 30) times
    assert changes >= seconds  # but it does follow the run
    assert sum(a != b for a, b in pairwise(values)) + 1 == changes
    assert fb.refreshes <= seconds / UI_S + 2 and widget.plot.draw_count <= fb.refreshes
    assert len(widget.plot.steps) == step  # every loss reached the plot, drawn or not
    preview = viewer.layers[PREVIEW_NAME]
    assert preview.metadata["step"] % 20 == 0 and preview.metadata["step"] > step - 40
    # the last report shows at once, with no wait for the next half second
    widget._on_messages([report(step + 1, status="stopped")])
    assert widget.progress.value() == step + 1 and "Stopped" in widget.status.text()


def test_status_line_does_not_ask_for_a_relayout(qtbot):
    line = StatusLine("short", lines=2)
    qtbot.addWidget(line)
    height, hint = line.height(), line.sizeHint()
    line.setText("a much longer status line " * 10)
    assert line.height() == height and line.sizeHint() == hint
    assert line.text().startswith("a much") and line.toolTip() == line.text()


def test_napari_spinner_holds_still_while_our_job_runs(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    movie = activity_movie(viewer)
    assert movie is not None  # napari moved its private spinner: update common/jobs.py
    run = FakeRun()
    job = ProcessJob(run, "test job", viewer, total=10)
    assert movie.state() == QMovie.MovieState.Running  # napari animates it for any progress
    job.start()
    assert movie.state() == QMovie.MovieState.Paused
    run.finished.set()
    job.poll()  # the child is gone: the job tidies up
    assert movie.state() != QMovie.MovieState.Paused


def test_score_legend_leaves_the_markers_free(qtbot):
    plot = LossPlot(interval_ms=None)
    qtbot.addWidget(plot)
    plot.resize(300, 380)  # a narrow dock
    plot.show()
    scores = [0.42, 0.32, 0.32, 0.34, 0.32, 0.36, 0.37, 0.41, 0.33, 0.33, 0.30, 0.39]
    for i, score in enumerate(scores, 1):
        plot.add(100 * i, loss_d=1.0, loss_g=1.0, d_real=0.6, d_fake=0.4)
        plot.add_score(100 * i, score, 1100, baseline=0.24)
    plot.redraw()
    plot.canvas.draw()
    renderer = plot.canvas.get_renderer()
    box = plot.ax_score.get_legend().get_window_extent(renderer)
    points = plot.ax_score.transData.transform(np.c_[plot.score_steps, plot.scores])
    assert not any(box.contains(x, y) for x, y in points)
    assert box.y0 > plot.ax_score.transData.transform((0, max(scores)))[1]  # above the data
    axes = plot.ax_score.get_window_extent(renderer)
    assert axes.x0 - 2 <= box.x0 and box.x1 <= axes.x1 + 2  # and inside the panel
    plot.close()


def test_evaluate_progress_moves_at_most_twice_a_second_within_a_stage(make_napari_viewer):
    from napari_medgan.engine.runner import Progress
    from napari_medgan.widgets.evaluate.widget import EvaluateWidget

    class Job:
        def __init__(self) -> None:
            self.calls = 0

        def set_progress(self, *args, **kwargs) -> None:
            self.calls += 1

    viewer = make_napari_viewer()
    widget = EvaluateWidget(viewer)
    clock = Clock()
    widget.clock, widget.job = clock, Job()
    values = []
    for i in range(50):  # 5 s of one stage, a progress message every 0.1 s
        widget._on_messages([Progress("sampling", i / 50)])
        values.append(widget.progress.value())
        clock.t += 0.1
    changes = sum(a != b for a, b in pairwise(values)) + 1
    assert 5 <= changes <= 5 / UI_S + 1 and widget.job.calls == changes
    widget._on_messages([Progress("scoring", 0.99)])  # a new stage shows at once
    assert widget.progress.value() == 990 and "scoring" in widget.progress.format()
    widget.job = None


def test_a_crash_right_after_a_report_stays_on_the_status_line(make_napari_viewer, qtbot, notes):
    """The report that was still waiting for the screen must not cover the crash message."""
    from napari_medgan.engine.runner import Failed

    viewer = make_napari_viewer()
    widget = TrainWidget(viewer)
    viewer.window.add_dock_widget(widget)
    clock = Clock()
    widget.feedback.clock = clock
    widget._on_messages([report(1)])  # shown at once (first refresh)
    clock.t += UI_S / 4
    died = Failed("the background process ended unexpectedly", "ProcessDied", crashed=True)
    widget._on_messages([report(2), died])  # within UI_S: report 2 was not shown yet
    widget._on_ended()
    assert "crashed" in widget.status.text()
    assert widget.progress.value() == 2  # the numbers still caught up


def test_preview_grid_puts_a_row_per_condition_with_background_between_tiles():
    preview = np.arange(2 * 3, dtype=np.float32).reshape(2, 3, 1, 1) * np.ones((1, 1, 4, 4))
    out = grid(preview, gap=1)
    assert out.shape == (2 * 4 + 1, 3 * 4 + 2)
    assert out[0, 0] == 0 and out[0, 5] == 1 and out[5, 0] == 3 and out[-1, -1] == 5
    assert (out[4] == -1).all() and (out[:, 4] == -1).all()  # the gaps are background
    assert grid(preview[:, 0]).shape == (4, 2 * 4 + 2)  # (n, S, S): one row as before


def test_a_time_budget_shows_the_time_left(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    widget = TrainWidget(viewer)
    field = widget.settings.fields["minutes"]
    assert field.native.text() == "no limit (steps)"  # 0: the steps end the run
    field.value = 10.0
    assert widget.settings.config.minutes == 10.0
    r = report(40)
    r.train_s, r.time_budget_s, r.eta_s = 150.0, 600.0, 450.0
    widget._on_messages([r])
    widget.feedback.refresh(force=True)
    assert (widget.progress.value(), widget.progress.maximum()) == (150, 600)
    assert widget.progress.text() == "25% of the time"
    assert "left 7:30" in widget.status.text()
