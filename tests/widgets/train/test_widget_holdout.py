"""Held-out split in the GUI: the settings field, the score in the plot, the plain warning."""

from __future__ import annotations

import numpy as np
import pytest

from napari_medgan.engine.checkpoint import BEST
from napari_medgan.widgets.train.loss_plot import LossPlot
from napari_medgan.widgets.train.settings import TrainSettings
from napari_medgan.widgets.train.state import TrainState
from napari_medgan.widgets.train.widget import TrainWidget

pytestmark = pytest.mark.gui


def train_and_wait(widget, qtbot) -> None:
    assert widget.start()
    qtbot.waitUntil(lambda: widget.state is TrainState.IDLE, timeout=120_000)


def test_settings_edit_holdout_and_score_every(qtbot):
    settings = TrainSettings()
    qtbot.addWidget(settings)
    assert settings.fields["holdout"].value == pytest.approx(settings.config.holdout) == 0.2
    settings.fields["holdout"].value = 0.3
    settings.fields["score_every"].value = 50
    assert settings.config.holdout == pytest.approx(0.3) and settings.config.score_every == 50
    settings.apply(holdout=0.0)
    assert settings.fields["holdout"].value == 0.0
    assert "memorization" in settings.fields["holdout"].tooltip
    # slabs per single-scan condition: default 2, bounded like TrainConfig, edits the config
    slabs = settings.fields["holdout_slabs"]
    assert slabs.value == settings.config.holdout_slabs == 2
    assert (slabs.min, slabs.max) == (1, 8)
    slabs.value = 3
    assert settings.config.holdout_slabs == 3
    settings.apply(holdout_slabs=1)
    assert slabs.value == 1 and "slab" in slabs.tooltip


def test_plot_shows_score_best_step_and_baseline(qtbot):
    plot = LossPlot(interval_ms=10_000)
    qtbot.addWidget(plot)
    plot.show()
    for step, score, best in ((10, 0.5, 10), (20, 0.3, 20), (30, 0.4, 20)):
        plot.add(step, loss_d=1.0, loss_g=1.0, d_real=0.6, d_fake=0.4)
        plot.add_score(step, score, best, baseline=0.2)
    plot.add_score(30, 0.4, 20, baseline=0.2)  # the final report repeats the last score
    plot.redraw()
    x, y = plot.score_line.get_data()
    assert list(x) == [10, 20, 30] and np.allclose(y, [0.5, 0.3, 0.4])
    assert plot.best_point() == (20, 0.3)
    bx, by = plot.best_marker.get_data()
    assert list(bx) == [20] and np.allclose(by, [0.3])
    assert np.allclose(plot.baseline_line.get_ydata(), 0.2)
    assert not plot.score_note.get_visible()
    plot.clear()
    assert plot.best_point() is None and plot.score_note.get_visible()
    plot.stop_timer()


def test_training_feeds_scores_to_plot_and_warns_without_heldout(
    make_napari_viewer, qtbot, tmp_path, mni_small, notes, small_config
):
    viewer = make_napari_viewer()
    for name in ("T1", "GM"):
        viewer.add_image(mni_small[name].data, name=name, scale=mni_small[name].spacing)
    widget = TrainWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.settings.apply(**small_config(steps=8, score_every=4, out_dir=str(tmp_path / "run")))
    train_and_wait(widget, qtbot)
    assert widget.plot.score_steps == [4, 8]
    assert widget.plot.best_point() is not None
    assert (tmp_path / "run" / BEST).exists()
    assert not [n for n in notes if "cannot be separated" in n[1]]
    assert "held out" in widget.summary.toolTip()

    widget.settings.apply(holdout=0.0, steps=2, out_dir=str(tmp_path / "run2"))
    train_and_wait(widget, qtbot)
    warnings = [m for level, m in notes if level == "warning" and "cannot be separated" in m]
    assert len(warnings) == 1 and warnings[0].startswith("no held-out data")
    assert not widget.plot.score_steps
