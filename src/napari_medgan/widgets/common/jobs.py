"""Background work of the dock widgets: one idiom, one name.

Every dock starts its background work here and holds the handle it gets back as ``self.job``
(``None`` while idle); a dock whose job must stop when napari closes also keeps it in the list
``self._jobs`` that :func:`hook_shutdown` holds. Two kinds of job:

- :class:`ProcessJob`: a child process (:class:`~napari_medgan.engine.runner.ProcessRun`), for
  training and evaluation. Measured on 2 CPU cores, training in a thread of napari's process
  ran at about half the headless speed with event-loop stalls over 100 ms (GIL contention); the
  child keeps both (``benchmarks/results_gui.md``). Its messages are polled a few times a second
  and handed over in one batch, so the widgets redraw at human rates. It is registered in the
  window's task registry, so closing napari asks first and then stops the run (which saves a
  checkpoint). The job outlives its widget on purpose: removing the dock or closing the viewer
  only asks the child to stop; it finishes its step, saves and exits on its own, and the
  interpreter waits for it at exit (``engine.runner``).
- :func:`thread_job`: napari's thread worker (``napari.qt.threading``, which registers it with
  the window and routes its errors to notifications), for loading a generator, sampling,
  exporting and preparing a cohort: a few large calls that release the GIL, without a process
  start (measured in ``benchmarks/gui_latency.py``). :func:`relay` turns a plain function with a
  progress callback into the generator such a worker runs.

Both can show a bar in napari's activity dock (:class:`ActivityBar`); while one is open, napari's
status-bar spinner stays on a still frame. Its ~33 frames per second each repaint a widget of
the main window, and a window that holds the OpenGL canvas is composited as a whole on every
repaint: under Xvfb the spinner alone kept napari at ~50 % of a core, which is what stole a
training child's CPU (``benchmarks/results_gui.md``). The spinner runs again when our last job
ends (napari restarts it for anyone else's progress). It lives in private napari attributes
(napari 0.5-0.6); when they are missing nothing happens.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

from napari.utils import progress as napari_progress
from qtpy.QtCore import QObject, QTimer, Signal

from napari_medgan.engine.runner import ProcessRun

POLL_MS = 100  # how often the GUI looks for a child's messages: 10 batches per second at most
_holders: set[int] = set()  # ids of the open bars that hold napari's spinner still


class ActivityBar:
    """A job's bar in napari's activity dock (``total`` 0: indeterminate)."""

    def __init__(self, total: int, desc: str, viewer=None) -> None:
        self.pbar = napari_progress(total=total, desc=desc)
        self._viewer = viewer

    def hold(self) -> None:
        """Pause napari's spinner until :meth:`close` (call once the job starts)."""
        movie = activity_movie(self._viewer)
        if movie is None:
            return
        _holders.add(id(self))
        with contextlib.suppress(RuntimeError):  # the Qt object may be gone already
            movie.setPaused(True)

    def set(self, n: int, total: int | None = None, desc: str | None = None) -> None:
        """Show ``n`` done (cheap; call it at most once per poll)."""
        with contextlib.suppress(Exception):  # the bar may be closed by napari already
            if total is not None and self.pbar.total != total:
                self.pbar.total = total
            if desc is not None:
                self.pbar.set_description(desc)
            self.pbar.update(n - self.pbar.n)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.pbar.close()
        if id(self) not in _holders:
            return
        _holders.discard(id(self))
        movie = activity_movie(self._viewer)
        if _holders or movie is None:
            return
        with contextlib.suppress(RuntimeError):  # napari still shows it: someone else's progress
            from qtpy.QtGui import QMovie

            if movie.state() == QMovie.MovieState.Paused:
                movie.setPaused(False)


def activity_movie(viewer):
    """The QMovie of napari's status-bar progress spinner, or None."""
    qt_window = getattr(getattr(_unwrap(viewer), "window", None), "_qt_window", None)
    dialog = getattr(qt_window, "_activity_dialog", None)
    toggle = getattr(dialog, "_toggleButton", None)
    label = getattr(toggle, "_inProgressIndicator", None)
    with contextlib.suppress(Exception):
        return label.movie() if label is not None else None
    return None


class ProcessJob(QObject):
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
        Usually the widget; the job object goes with it, the child process does not.

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
        self, run: ProcessRun, description: str, viewer=None, total: int = 0, parent=None
    ) -> None:
        super().__init__(parent)
        self.run = run
        self.description = description
        self.bar = ActivityBar(total, description, viewer)
        self._window = getattr(_unwrap(viewer), "window", None)
        self._task_id = None
        self._done = False
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self.poll)

    def start(self) -> ProcessJob:
        self.run.start()
        self._register()
        self.bar.hold()
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
        """Move the activity-dock progress bar (see :meth:`ActivityBar.set`)."""
        self.bar.set(n, total, desc)

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
        self.bar.close()
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


def thread_job(
    func: Callable,
    *args,
    connect: dict[str, Callable],
    progress: tuple[int, str] | None = None,
    viewer=None,
    **kwargs,
):
    """Run ``func(*args, **kwargs)`` in napari's thread pool; return napari's worker (the job).

    ``connect`` maps the worker's signals (``yielded``, ``returned``, ``errored``, ``finished``)
    to slots. ``quit()`` asks a generator to stop at its next ``yield``. With
    ``progress=(total, description)``, a bar in the activity dock follows what ``func`` yields
    (the number done so far) until the job ends, and napari's spinner found through ``viewer``
    holds still meanwhile.
    """
    from napari.qt.threading import create_worker

    worker = create_worker(func, *args, _start_thread=False, **kwargs)
    if progress is not None:
        worker.activity_bar = bar = ActivityBar(*progress, viewer)  # Qt holds bar.set weakly
        bar.hold()
        worker.yielded.connect(bar.set)
        worker.finished.connect(bar.close)
    for signal, slot in connect.items():
        getattr(worker, signal).connect(slot)
    worker.start()
    return worker


_DONE = object()


def relay(work: Callable[[Callable[[Any], None]], None], name: str) -> Iterator[Any]:
    """Run ``work(put)`` in a daemon thread and yield every value it ``put``s until it returns.

    ``work`` keeps its own outcome (and its own exception handling); the thread is joined before
    this generator ends, so that outcome is complete when the caller reads it.
    """
    ticks: queue.Queue = queue.Queue()

    def run() -> None:
        try:
            work(ticks.put)
        finally:
            ticks.put(_DONE)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    while (tick := ticks.get()) is not _DONE:
        yield tick
    thread.join()


def abandon_all(jobs: list[ProcessJob]) -> None:
    """Stop every job in ``jobs`` without waiting (dock destroyed, viewer closed, quit)."""
    for job in list(jobs):
        job.run.stop()  # plain Python: works even while the Qt object is being deleted
        with contextlib.suppress(RuntimeError):
            job.abandon()


def hook_shutdown(widget, viewer, jobs: list[ProcessJob], extra: Callable | None = None):
    """Stop ``jobs`` when the widget is destroyed, the viewer closes or the app quits.

    napari does not call ``closeEvent`` on docked widgets (napari#8071). The hooks hold the
    job list, not the widget, so they still work while the widget is being deleted.
    """
    from qtpy.QtWidgets import QApplication

    def stop(*_args) -> None:
        abandon_all(jobs)
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
