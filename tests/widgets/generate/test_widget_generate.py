"""The Generate dock widget: samples and condition swaps as layers that line up; saving."""

from __future__ import annotations

import numpy as np
import pytest

from napari_medgan.io import read_dicom, read_nifti
from napari_medgan.napari_glue.session import runs
from napari_medgan.widgets.generate.widget import GenerateWidget

pytestmark = pytest.mark.gui


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, train_tiny_run):
    """A tiny conditional run (T1, GM) trained by the engine directly."""
    out = tmp_path_factory.mktemp("gen") / "mni-run"
    return train_tiny_run(out, steps=3)


@pytest.fixture
def setup(make_napari_viewer, add_mni, run_dir):
    viewer = make_napari_viewer()
    add_mni(viewer)
    widget = GenerateWidget(viewer)
    viewer.window.add_dock_widget(widget)
    assert widget.load(run_dir)
    return viewer, widget


def finish(qtbot, widget, started: bool):
    """Wait for the background job ``started`` by the widget; its layer."""
    assert started
    qtbot.waitUntil(lambda: not widget.busy, timeout=60_000)
    return widget.last_layer


def test_picks_up_published_run(make_napari_viewer, qtbot, monkeypatch, run_dir):
    monkeypatch.setattr(runs, "last_run", None)  # whatever other tests trained before
    viewer = make_napari_viewer()
    widget = GenerateWidget(viewer)
    runs.publish(str(run_dir))  # loads in the background
    qtbot.waitUntil(lambda: widget.sampler is not None, timeout=30_000)
    assert widget.sampler.step == 3
    assert [widget.condition.itemText(i) for i in range(widget.condition.count())] == ["T1", "GM"]
    fresh = GenerateWidget(viewer)  # a widget opened later starts from the last run
    assert fresh.sampler is not None


def test_generate_adds_aligned_stacks_with_unique_names(setup, qtbot, mni_small):
    viewer, widget = setup
    t1 = viewer.layers["T1"]
    widget.n.setValue(5)
    widget.condition.setCurrentText("GM")
    assert widget.reference.currentText() == "GM"  # reference follows the condition's name
    widget.seed.setValue(7)
    layer = finish(qtbot, widget, widget.generate())
    ref = mni_small["GM"]
    assert layer.data.shape == (5, *ref.data.shape[1:])
    assert np.allclose(layer.scale, ref.spacing)
    # the reference's frame (io.placement): same y, x origin; sample 0 on the slice shown
    assert np.allclose(layer.translate[1:], t1.translate[1:])
    shown = viewer.dims.point[0]
    assert abs(layer.translate[0] - shown) <= ref.spacing[0] / 2 + 1e-6
    assert layer.name == "mni-run GM step3 seed7"
    assert layer.metadata["condition"] == "GM" and layer.metadata["seed"] == 7
    again = finish(qtbot, widget, widget.generate())
    assert again.name == "mni-run GM step3 seed7 #2"
    assert np.array_equal(again.data, layer.data)  # same seed, same samples
    assert layer.name in viewer.layers and widget.save_target.count() == 2


def test_condition_swap_layer(setup, qtbot, mni_small):
    _viewer, widget = setup
    widget.seed.setValue(3)
    layer = finish(qtbot, widget, widget.condition_swap())
    ref = mni_small["T1"]
    assert layer.data.shape == (2, 1, *ref.data.shape[1:])
    assert layer.metadata["conditions"] == ["T1", "GM"]
    assert next(iter(layer.axis_labels)) == "condition"
    assert np.allclose(layer.scale[1:], ref.spacing)
    assert "swap" in layer.name and "T1 | GM" in layer.name


def test_save_nifti_and_dicom_never_overwrite(setup, qtbot, tmp_path, notes):
    _viewer, widget = setup
    widget.n.setValue(3)
    layer = finish(qtbot, widget, widget.generate())
    path = widget.save_layer(layer, tmp_path / "gen.nii.gz")
    back = read_nifti(path)[0]
    assert back.data.shape == layer.data.shape
    assert np.allclose(back.spacing, layer.scale, atol=1e-4)
    assert widget.save_layer(layer, tmp_path / "gen.nii.gz") is None
    assert "already exists" in notes[-1][1] and notes[-1][0] == "error"
    widget.save_layer(layer, tmp_path / "dicom", dicom=True)
    series = read_dicom(tmp_path / "dicom")[0]
    assert series.data.shape == layer.data.shape
    swap = finish(qtbot, widget, widget.condition_swap())
    assert widget.save_layer(swap, tmp_path / "swap.nii.gz") is None
    assert "4D" in notes[-1][1]


def test_bad_checkpoint_notifies(make_napari_viewer, tmp_path, notes):
    viewer = make_napari_viewer()
    widget = GenerateWidget(viewer)
    assert widget.load(tmp_path) is False
    assert notes[-1][0] == "error" and "checkpoint" in notes[-1][1].lower()
    assert not widget.generate_btn.isEnabled()


def test_generate_runs_in_background_and_cancels(setup, qtbot, notes):
    viewer, widget = setup
    before = len(viewer.layers)
    widget.n.setValue(512)
    assert widget.generate()
    assert widget.busy and widget.cancel_btn.isEnabled() and not widget.generate_btn.isEnabled()
    assert not widget.generate()  # one job at a time
    widget.cancel()
    qtbot.waitUntil(lambda: not widget.busy, timeout=60_000)
    assert len(viewer.layers) == before  # a cancelled job adds nothing
    assert any("cancelled" in m for _, m in notes)
    assert widget.generate_btn.isEnabled()


def test_path_field_loads_on_enter_not_per_keystroke(
    make_napari_viewer, qtbot, monkeypatch, run_dir, notes
):
    monkeypatch.setattr(runs, "last_run", None)  # a fresh session: nothing to pick up
    viewer = make_napari_viewer()
    widget = GenerateWidget(viewer)
    qtbot.keyClicks(widget.checkpoint.edit, str(run_dir)[:-3])  # typing: nothing loads
    qtbot.wait(200)
    assert widget.sampler is None and not notes
    qtbot.keyClicks(widget.checkpoint.edit, str(run_dir)[-3:])
    qtbot.keyClick(widget.checkpoint.edit, "\r")  # Enter loads (in the background)
    qtbot.waitUntil(lambda: widget.sampler is not None, timeout=30_000)
    assert not [n for n in notes if n[0] == "error"]
