"""Train widget cohort input: prepared in the background, cancelled, bad cohorts."""

from __future__ import annotations

import pytest

from cohort_fixtures import folder_cohort
from napari_medgan.widgets.train.state import TrainState

pytestmark = pytest.mark.gui


@pytest.fixture
def cohort_widget(make_napari_viewer, make_train_widget, tmp_path):
    """``cohort_widget(cohort)``: a docked Train widget set to train 3 steps on a cohort."""

    def make(cohort):
        widget = make_train_widget(make_napari_viewer(), tmp_path, steps=3, preview_every=0)
        widget.cohort.path.setText(str(cohort))
        return widget

    return make


def test_train_on_cohort_folder(qtbot, tmp_path, notes, monkeypatch, cohort_widget):
    monkeypatch.setenv("NAPARI_MEDGAN_CACHE", str(tmp_path / "cache"))
    root = folder_cohort(tmp_path / "c")
    widget = cohort_widget(root)
    assert widget.start()
    assert widget.state is TrainState.STARTING
    qtbot.waitUntil(lambda: (tmp_path / "run" / "latest").exists(), timeout=120_000)
    qtbot.waitUntil(lambda: widget.state is TrainState.IDLE, timeout=120_000)
    infos = [m for lvl, m in notes if lvl == "info"]
    assert any(m.startswith("Prepared") and "from 4 scans" in m for m in infos), notes
    assert not [m for lvl, m in notes if lvl == "error"]
    assert len(list((tmp_path / "cache").iterdir())) == 1


def test_bad_cohort_notifies(tmp_path, notes, cohort_widget):
    root = folder_cohort(tmp_path / "c")
    (root / "empty").mkdir()
    widget = cohort_widget(root)
    assert not widget.start()
    assert widget.state is TrainState.IDLE
    assert any(lvl == "error" and "holds no scans" in m for lvl, m in notes)


def test_cancel_preparation_caches_nothing(qtbot, tmp_path, notes, monkeypatch, cohort_widget):
    import napari_medgan.widgets.train.cohort_input as cohort_input

    monkeypatch.setenv("NAPARI_MEDGAN_CACHE", str(tmp_path / "cache"))
    real = cohort_input._prepare

    def pressed_cancel_first(scans, config, workers, use_cache, cancel, result):
        cancel.set()  # as if Cancel was pressed before the first scan was read
        yield from real(scans, config, workers, use_cache, cancel, result)

    monkeypatch.setattr(cohort_input, "_prepare", pressed_cancel_first)
    widget = cohort_widget(folder_cohort(tmp_path / "c"))
    assert widget.start()
    qtbot.waitUntil(lambda: widget.state is TrainState.IDLE, timeout=60_000)
    assert any("cancelled" in m for _, m in notes)
    assert not (tmp_path / "run" / "latest").exists()
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").iterdir())
