"""Work off napari's back: training in a child process, clean close and quit, crashes.

Removing the dock widget or closing the viewer mid-run returns at once (well under a second)
and the child still saves a checkpoint; a child that dies leaves a notification and a usable
viewer. The runner itself is Qt-free and tested without a viewer at the end.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from napari_medgan.engine.runner import live_runs
from napari_medgan.widgets.common.jobs import ProcessJob
from napari_medgan.widgets.train.state import TrainState

pytestmark = pytest.mark.gui
PROMPT_S = 1.0  # the GUI may block this long at most when a widget or the viewer goes away


@pytest.fixture
def started(qtbot, tmp_path, add_mni, make_train_widget):
    """``started(viewer, **changes)``: a Train widget whose endless run has reported a step;
    ``(widget, its ProcessRun)``."""

    def start(viewer, **changes):
        add_mni(viewer)
        widget = make_train_widget(viewer, tmp_path, steps=100_000, preview_every=0)
        widget.settings.apply(**changes)
        assert widget.start()
        qtbot.waitUntil(lambda: widget.state is TrainState.TRAINING, timeout=120_000)
        qtbot.waitUntil(lambda: widget.last_report is not None, timeout=120_000)
        return widget, widget.job.run

    return start


def test_removing_the_dock_mid_run_saves_and_returns_promptly(
    make_napari_viewer, qtbot, tmp_path, started
):
    viewer = make_napari_viewer()
    widget, run = started(viewer)
    tasks = viewer.window._task_status_manager
    assert tasks.is_busy()  # napari's registry knows the run: closing the window asks first
    t0 = time.perf_counter()
    viewer.window.remove_dock_widget(widget)  # napari does not call closeEvent on docks
    widget.deleteLater()
    assert time.perf_counter() - t0 < PROMPT_S
    qtbot.waitUntil(lambda: run.stopping, timeout=5_000)  # the destroyed hook asked it
    assert run.join(120)  # the child finishes its step, saves and exits by itself
    assert run.exitcode == 0
    assert (tmp_path / "run" / "latest").exists()
    assert run not in live_runs() and not tasks.is_busy()


def test_closing_the_viewer_mid_run_saves_and_returns_promptly(
    make_napari_viewer, monkeypatch, tmp_path, started
):
    spent = []  # seconds the GUI thread spends in our stop hooks

    def timed(method):
        def wrapper(self, *args):
            t0 = time.perf_counter()
            try:
                return method(self, *args)
            finally:
                spent.append(time.perf_counter() - t0)

        return wrapper

    for name in ("stop", "abandon"):
        monkeypatch.setattr(ProcessJob, name, timed(getattr(ProcessJob, name)))
    viewer = make_napari_viewer()
    widget, run = started(viewer)
    widget.toggle_pause()  # worst case: a paused loop
    viewer.close()  # the window's task registry and the widget's hooks stop the run
    assert run.stopping and spent
    assert sum(spent) < PROMPT_S  # napari's own close (layers, gc) is not ours to time
    assert run.join(120)
    assert run.exitcode == 0 and (tmp_path / "run" / "latest").exists()


def test_a_dead_child_is_a_notification_and_the_viewer_stays_usable(
    make_napari_viewer, notes, wait_idle, started
):
    viewer = make_napari_viewer()
    widget, run = started(viewer)
    os.kill(run.pid, signal.SIGKILL)  # what the kernel's out-of-memory killer does
    wait_idle(widget, timeout=60_000)
    errors = [m for lvl, m in notes if lvl == "error"]
    assert errors and "crashed" in errors[-1] and "ended unexpectedly" in errors[-1]
    assert "crashed" in widget.status.text()
    assert widget.start_btn.isEnabled() and widget.settings.isEnabled()
    viewer.add_points([[0, 0, 0]])  # the viewer carries on
    assert len(viewer.layers) == 3
