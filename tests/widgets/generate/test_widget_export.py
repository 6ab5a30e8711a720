"""The Generate widget's "Export dataset…": one file per sample plus a manifest, in a thread job."""

from __future__ import annotations

import csv

import pytest

pytestmark = pytest.mark.gui


def test_export_dataset_dialog(make_napari_viewer, qtbot, tmp_path, notes, train_tiny_run):
    from napari_medgan.widgets.generate.export_dataset import open_export_dialog
    from napari_medgan.widgets.generate.widget import GenerateWidget

    run = train_tiny_run(tmp_path / "run", steps=2)
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
    assert any("Exported 4 files" in m for _, m in notes)
    assert not dialog.export(str(out))  # not empty: refused without "add to"
    assert any(lvl == "error" and "not empty" in m for lvl, m in notes)
    dialog.close()
