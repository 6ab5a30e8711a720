"""Train widget cohort input (prepare in the background, cancel) and "Export dataset…"."""

from __future__ import annotations

import csv

import pytest
import torch

from cohort_fixtures import folder_cohort
from napari_medgan.widgets.train.state import TrainState
from napari_medgan.widgets.train.widget import TrainWidget

pytestmark = pytest.mark.gui

TINY = dict(size=32, batch_size=4, base_channels=8, max_channels=16, z_dim=8, augment=())


@pytest.fixture
def seen(monkeypatch):
    """Notifications of the train/generate widgets and the cohort/export parts."""
    import napari_medgan.widgets.generate.export_dataset as export_dataset
    import napari_medgan.widgets.generate.widget as generate
    import napari_medgan.widgets.train.cohort_input as cohort_input
    import napari_medgan.widgets.train.widget as train

    out: list[tuple[str, str]] = []
    for module in (train, generate, cohort_input, export_dataset):
        for level in ("error", "warning", "info"):
            if hasattr(module, f"show_{level}"):
                monkeypatch.setattr(
                    module, f"show_{level}", lambda m, _l=level: out.append((_l, str(m)))
                )
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield out
    torch.set_num_threads(before)


def _widget(viewer, tmp_path, cohort: str) -> TrainWidget:
    widget = TrainWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.settings.apply(
        steps=3, preview_every=0, checkpoint_every=0, device="cpu", out_dir=str(tmp_path / "run"),
        **TINY,
    )  # fmt: skip
    widget.cohort.path.setText(cohort)
    return widget


def test_train_on_cohort_folder(make_napari_viewer, qtbot, tmp_path, seen, monkeypatch):
    monkeypatch.setenv("NAPARI_MEDGAN_CACHE", str(tmp_path / "cache"))
    root = folder_cohort(tmp_path / "c")
    widget = _widget(make_napari_viewer(), tmp_path, str(root))
    assert widget.start()
    assert widget.state is TrainState.STARTING
    qtbot.waitUntil(lambda: (tmp_path / "run" / "latest").exists(), timeout=120_000)
    qtbot.waitUntil(lambda: widget.state is TrainState.IDLE, timeout=120_000)
    infos = [m for lvl, m in seen if lvl == "info"]
    assert any(m.startswith("Prepared") and "from 4 scans" in m for m in infos), seen
    assert not [m for lvl, m in seen if lvl == "error"]
    assert len(list((tmp_path / "cache").iterdir())) == 1


def test_bad_cohort_notifies(make_napari_viewer, tmp_path, seen):
    root = folder_cohort(tmp_path / "c")
    (root / "empty").mkdir()
    widget = _widget(make_napari_viewer(), tmp_path, str(root))
    assert not widget.start()
    assert widget.state is TrainState.IDLE
    assert any(lvl == "error" and "holds no scans" in m for lvl, m in seen)


def test_cancel_preparation_caches_nothing(make_napari_viewer, qtbot, tmp_path, seen, monkeypatch):
    import napari_medgan.widgets.train.cohort_input as cohort_input

    monkeypatch.setenv("NAPARI_MEDGAN_CACHE", str(tmp_path / "cache"))
    real = cohort_input._prepare

    def pressed_cancel_first(scans, config, workers, use_cache, cancel, result):
        cancel.set()  # as if Cancel was pressed before the first scan was read
        yield from real(scans, config, workers, use_cache, cancel, result)

    monkeypatch.setattr(cohort_input, "_prepare", pressed_cancel_first)
    widget = _widget(make_napari_viewer(), tmp_path, str(folder_cohort(tmp_path / "c")))
    assert widget.start()
    qtbot.waitUntil(lambda: widget.state is TrainState.IDLE, timeout=60_000)
    assert any("cancelled" in m for _, m in seen)
    assert not (tmp_path / "run" / "latest").exists()
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").iterdir())


def test_export_dataset_dialog(make_napari_viewer, qtbot, tmp_path, seen, train_tiny_run):
    from napari_medgan.widgets.generate.export_dataset import open_export_dialog
    from napari_medgan.widgets.generate.widget import GenerateWidget

    run = train_tiny_run(tmp_path / "run", steps=2, base_channels=8, max_channels=16, z_dim=8)
    widget = GenerateWidget(make_napari_viewer())
    assert widget.load(run) and widget.export_btn.isEnabled()
    dialog = open_export_dialog(widget)
    dialog.n.setValue(2)
    dialog.fmt.setCurrentText("nrrd")
    out = tmp_path / "ds"
    assert dialog.export(str(out))
    qtbot.waitUntil(lambda: dialog.job is None, timeout=60_000)
    rows = list(csv.DictReader(open(out / "manifest.csv")))
    assert len(rows) == 4 and {r["condition"] for r in rows} == {"T1", "GM"}
    assert dialog.progress.value() == 4
    assert any("Exported 4 files" in m for _, m in seen)
    assert not dialog.export(str(out))  # not empty: refused without "add to"
    assert any(lvl == "error" and "not empty" in m for lvl, m in seen)
    dialog.close()
