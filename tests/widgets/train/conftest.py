"""Fixtures of the Train dock tests: a docked Train widget with a small network, waiting for a
run to end."""

from __future__ import annotations

import pytest

from napari_medgan.widgets.train.state import TrainState
from napari_medgan.widgets.train.widget import TrainWidget


@pytest.fixture
def make_train_widget(small_config):
    """``make_train_widget(viewer, folder, steps=20, preview_every=5)``: a docked Train widget
    that trains a small network into ``folder / "run"``."""

    def make(viewer, folder, steps=20, preview_every=5) -> TrainWidget:
        widget = TrainWidget(viewer)
        viewer.window.add_dock_widget(widget)
        widget.settings.apply(
            **small_config(
                steps=steps, preview_every=preview_every, out_dir=str(folder / "run"),
                ema_decay=0.9, min_foreground=0.05,
            )
        )  # fmt: skip
        return widget

    return make


@pytest.fixture
def wait_idle(qtbot):
    """``wait_idle(widget, timeout=90_000)``: wait until the Train widget is idle again."""

    def wait(widget, timeout=90_000) -> None:
        qtbot.waitUntil(lambda: widget.state is TrainState.IDLE, timeout=timeout)

    return wait
