"""Where background engine work meets the Qt event loop.

Training and evaluation run in a child process (:class:`~napari_medgan.engine.runner.ProcessRun`):
measured on 2 CPU cores, training in a thread of napari's process ran at about half the
headless speed with event-loop stalls over 100 ms (GIL contention); the child process keeps
both (``benchmarks/results_gui.md``). :class:`BackgroundTask` polls the child's messages with
a timer a few times a second and hands them over in one batch, so the widgets redraw at human
rates. It also shows the run in napari's activity dock and registers it in the window's task
registry, so closing napari asks first and then stops the run (which saves a checkpoint).

The task outlives its widget on purpose: removing the dock widget or closing the viewer only
asks the child to stop; the child finishes its step, saves and exits on its own, and the
interpreter waits for it at exit (``engine.runner``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import numpy as np
from napari.utils import progress
from qtpy.QtCore import QObject, QTimer, Signal

from napari_medgan.engine import CheckpointError, Sampler, SamplingError
from napari_medgan.engine.runner import ProcessRun
from napari_medgan.io.placement import along_slice_axis
from napari_medgan.io.synthetic import data_digest

from ._activity import hold_still, release

POLL_MS = 100  # how often the GUI looks for messages: 10 batches per second at most


class BackgroundTask(QObject):
    """A :class:`ProcessRun` seen from the GUI thread.

    Parameters
    ----------
    run : ProcessRun
        The (not yet started) child process run.
    description : str
        Shown in napari's activity dock and in the quit confirmation.
    viewer : napari.Viewer, optional
        Whose window's task registry gets the run (napari >= 0.5 has one).
    total : int
        Steps for the activity-dock progress bar (0: indeterminate).
    parent : QObject, optional
        Usually the widget; the task object goes with it, the child process does not.

    Signals
    -------
    messages(list)
        Messages that arrived since the last poll, oldest first.
    ended()
        The child is gone and every message has been delivered.
    """

    messages = Signal(list)
    ended = Signal()

    def __init__(
        self,
        run: ProcessRun,
        description: str,
        viewer=None,
        total: int = 0,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.run = run
        self.description = description
        self.pbar = progress(total=total, desc=description)
        self._viewer = viewer
        self._window = getattr(_unwrap(viewer), "window", None)
        self._task_id = None
        self._done = False
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self.poll)

    def start(self) -> BackgroundTask:
        self.run.start()
        self._register()
        hold_still(self._viewer, self)  # napari's spinner would repaint the window 33x/s
        self._timer.start()
        return self

    # -------------------------------------------------------------- control
    def stop(self) -> bool:
        """Ask the child to stop (napari's task registry calls this when the window closes)."""
        self.run.stop()
        return True

    def pause(self) -> None:
        self.run.pause()

    def unpause(self) -> None:
        self.run.unpause()

    def set_progress(self, n: int, total: int | None = None, desc: str | None = None) -> None:
        """Move the activity-dock progress bar (cheap; call it at most once per poll)."""
        with contextlib.suppress(Exception):  # the bar may be closed by napari already
            if total is not None and self.pbar.total != total:
                self.pbar.total = total
            if desc is not None:
                self.pbar.set_description(desc)
            self.pbar.update(n - self.pbar.n)

    def abandon(self) -> None:
        """The widget goes away: stop the child (it saves and exits alone), tidy up the GUI."""
        self.run.stop()
        self._finish()

    # -------------------------------------------------------------- polling
    def poll(self) -> None:
        finished = self.run.finished.is_set()  # read before draining: nothing can follow
        batch = self.run.drain()
        if batch:
            self.messages.emit(batch)
        if finished:
            self._finish()
            self.ended.emit()

    def _finish(self) -> None:
        if self._done:
            return
        self._done = True
        with contextlib.suppress(RuntimeError):  # the Qt side may be deleted already
            self._timer.stop()
        with contextlib.suppress(Exception):
            self.pbar.close()
        release(self._viewer, self)
        if self._task_id is not None:
            with contextlib.suppress(Exception):
                from napari.utils.task_status import Status

                self._window._update_task_status(self._task_id, Status.COMPLETED, "")

    def _register(self) -> None:
        register = getattr(self._window, "_register_task_status", None)
        if register is None:  # an older napari without a task registry
            return
        with contextlib.suppress(Exception):
            from napari.utils.task_status import Status

            self._task_id = register("napari-medgan", Status.BUSY, self.description, self.stop)


def duration(seconds: float) -> str:
    """``m:ss`` or ``h:mm:ss``; a dash for an unknown (NaN or infinite) time."""
    if seconds != seconds or seconds == float("inf"):
        return "—"
    h, rem = divmod(int(seconds), 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def abandon_all(tasks: list[BackgroundTask]) -> None:
    """Stop every task in ``tasks`` without waiting (dock destroyed, viewer closed, quit)."""
    for task in list(tasks):
        task.run.stop()  # plain Python: works even while the Qt object is being deleted
        with contextlib.suppress(RuntimeError):
            task.abandon()


def hook_shutdown(widget, viewer, tasks: list[BackgroundTask], extra: Callable | None = None):
    """Stop ``tasks`` when the widget is destroyed, the viewer closes or the app quits.

    napari does not call ``closeEvent`` on docked widgets (napari#8071). The hooks hold the
    task list, not the widget, so they still work while the widget is being deleted.
    """
    from qtpy.QtWidgets import QApplication

    def stop(*_args) -> None:
        abandon_all(tasks)
        if extra is not None:
            with contextlib.suppress(RuntimeError):
                extra()

    widget.destroyed.connect(stop)
    app = QApplication.instance()
    if app is not None:
        app.aboutToQuit.connect(stop)
    qt_window = getattr(getattr(_unwrap(viewer), "window", None), "_qt_window", None)
    if qt_window is not None:
        qt_window.destroyed.connect(stop)
    return stop


def _unwrap(viewer):
    """The viewer behind napari's public-only proxy (plugins get one; the task registry and
    the main window are private attributes of the real viewer's window)."""
    return getattr(viewer, "__wrapped__", viewer)


# ---------------------------------------------------------------------- thread jobs
# Loading a generator and sampling are a few large torch calls that release the GIL: a napari
# thread worker keeps the event loop free for them without a process start (measured in
# benchmarks/gui_latency.py). Expected errors come back as values, not exceptions, so the
# widget shows one clear notification instead of napari's traceback.


def load_sampler(path: str) -> Sampler | CheckpointError:
    """The checkpoint's generator on the CPU, or the error that explains why not."""
    try:
        return Sampler.from_checkpoint(path, device="cpu")
    except CheckpointError as exc:
        return exc


def sample_job(sampler: Sampler, n: int, condition: str | None, seed: int):
    """Yield the number of images done after each chunk; return ``(images, digest)`` (or the
    error), where ``digest`` fingerprints the layer data the images become. Hashing is done here,
    in the worker: for 1024 images at 64 px it took 50 ms, a stall in napari's event loop."""
    parts: list[np.ndarray] = []
    try:
        for part in sampler.sample_chunks(n, condition, seed=seed, units="native", chunk=32):
            parts.append(part)
            yield sum(len(p) for p in parts)
    except SamplingError as exc:
        return exc
    images = np.concatenate(parts)
    geometry = sampler.geometry[condition or sampler.class_names[0]]
    return images, data_digest(along_slice_axis(geometry, images))


def swap_job(sampler: Sampler, seed: int):
    """One seed under every condition (a generator so that napari can cancel it)."""
    yield 0
    try:
        return sampler.condition_swap(1, seed=seed, units="native")
    except SamplingError as exc:
        return exc


def start_thread(func, *args, connect: dict, **kwargs):
    """Run ``func`` in napari's thread pool (registered as a task, cancellable with quit)."""
    from napari.qt.threading import create_worker

    return create_worker(func, *args, _connect=connect, **kwargs)
