"""Keep napari's "in progress" spinner still while our background work runs.

napari shows an animated GIF in its status bar whenever a progress bar exists. Each of its
~33 frames per second repaints a widget of the main window, and a window that holds the
OpenGL canvas is composited as a whole on every repaint: measured under Xvfb (software
OpenGL), the spinner alone kept napari's process at ~50 % of a core (6 % with it slowed to
3 frames/s), which is what stole a training child's CPU (``benchmarks/results_gui.md``).
While one of our tasks holds it, the spinner stays on a still frame (it is still shown, and
the activity dock still lists the task with its progress); napari restarts it for anyone
else's new progress bar, and we let it run again when our last task ends.

The GIF lives in private napari attributes (napari 0.5-0.6); when they are missing nothing
happens.
"""

from __future__ import annotations

import contextlib

_holders: set[int] = set()  # ids of the tasks that hold the spinner still


def activity_movie(viewer):
    """The QMovie of napari's status-bar progress spinner, or None."""
    window = getattr(getattr(viewer, "__wrapped__", viewer), "window", None)
    qt_window = getattr(window, "_qt_window", None)
    dialog = getattr(qt_window, "_activity_dialog", None)
    toggle = getattr(dialog, "_toggleButton", None)
    label = getattr(toggle, "_inProgressIndicator", None)
    with contextlib.suppress(Exception):
        return label.movie() if label is not None else None
    return None


def hold_still(viewer, holder: object) -> None:
    """Pause the spinner (call after creating the task's napari ``progress``)."""
    movie = activity_movie(viewer)
    if movie is None:
        return
    _holders.add(id(holder))
    with contextlib.suppress(RuntimeError):  # the Qt object may be gone already
        movie.setPaused(True)


def release(viewer, holder: object) -> None:
    """``holder`` is done; when no task of ours holds the spinner, let it run again if napari
    still shows it (someone else's progress is active)."""
    if id(holder) not in _holders:
        return
    _holders.discard(id(holder))
    movie = activity_movie(viewer)
    if _holders or movie is None:
        return
    with contextlib.suppress(RuntimeError):
        from qtpy.QtGui import QMovie

        if movie.state() == QMovie.MovieState.Paused:
            movie.setPaused(False)
