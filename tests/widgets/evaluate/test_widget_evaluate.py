"""The Evaluate GAN dock widget: manifest, a real background evaluation, nearest slices, cancel,
bad inputs, and the Generate widget's warning for a checkpoint flagged for copying."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from engine_fixtures import copy_real
from napari_medgan.engine.metrics import dataset_for
from napari_medgan.napari_glue.session import memorization, runs
from napari_medgan.widgets.common.layers import to_volumes
from napari_medgan.widgets.evaluate.nearest import NEAREST_KEY
from napari_medgan.widgets.evaluate.widget import EvaluateWidget
from napari_medgan.widgets.generate.widget import GenerateWidget

pytestmark = pytest.mark.gui
QUICK = dict(n=24, n_boot=40, net_steps=40)  # seconds, not minutes, on 2 CPU cores


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, train_tiny_run):
    """A tiny conditional run (T1, GM) of 20 steps, trained by the engine directly."""
    out = tmp_path_factory.mktemp("eval") / "mni-eval"
    return train_tiny_run(out, steps=20)


@pytest.fixture
def setup(make_napari_viewer, add_mni, run_dir):
    viewer = make_napari_viewer()
    add_mni(viewer)
    widget = EvaluateWidget(viewer)
    viewer.window.add_dock_widget(widget)
    assert widget.load(run_dir)
    widget.n.setValue(QUICK["n"])
    widget.n_boot.setValue(QUICK["n_boot"])
    widget.net_steps.setValue(QUICK["net_steps"])
    yield viewer, widget
    if widget.sampler is not None:
        memorization.publish(widget.sampler.path, [])  # the registry is process-wide


def run_to_end(qtbot, widget, timeout=300_000) -> None:
    assert widget.evaluate()
    qtbot.waitUntil(lambda: widget.job is None, timeout=timeout)


def test_loads_from_manifest_and_picks_up_last_run(make_napari_viewer, run_dir):
    runs.publish(str(run_dir))
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("napari-medgan", "Evaluate GAN")
    assert type(widget).__name__ == "EvaluateWidget"
    assert widget.sampler is not None and widget.sampler.step == 20
    assert widget.evaluate_btn.isEnabled() and not widget.nearest_btn.isEnabled()


def test_evaluation_fills_table_shows_nearest_slices_and_saves(qtbot, setup, notes, tmp_path):
    viewer, widget = setup
    stages = []
    assert widget.evaluate()  # in a child process; progress comes back in batches
    widget.job.messages.connect(
        lambda batch: stages.extend((m.stage, m.fraction) for m in batch if hasattr(m, "stage"))
    )
    qtbot.waitUntil(lambda: widget.job is None, timeout=300_000)
    res = widget.result
    assert res is not None and len(res.generated) == QUICK["n"]
    assert stages[-1] == ("done", 1.0) and widget.progress.value() == 1000
    table = widget.metrics
    assert table.rowCount() == len(res.metrics) >= 10
    swd = table.row_of("swd")
    assert float(table.item(swd, 1).text()) == pytest.approx(res.metrics["swd"]["value"], 1e-2)
    assert table.item(swd, 2).text().startswith("[") and table.item(swd, 3).text() != "—"
    assert table.item(swd, 4).text() == f"{res.metrics['swd']['ratio']:.2f}×"  # ratio column
    assert "No sign of copying" in widget.verdict.text() and "C_T =" in widget.verdict.text()
    assert "sha256" in widget.details.text() and "medgan-randcnn" in widget.details.text()
    assert not res.flagged and memorization.reasons(widget.sampler.path) == []
    assert not [m for lvl, m in notes if lvl == "error"]

    widget.sample.setValue(5)
    widget.k.setValue(3)
    layer = widget.show_nearest()
    assert layer.data.shape == (32, 4 * 32 + 3 * 3)
    meta = layer.metadata
    assert meta[NEAREST_KEY] and meta["generated_index"] == 5
    assert len(meta["distance"]) == 3 and meta["distance"] == sorted(meta["distance"])
    assert meta["training_source"][0] in ("T1", "GM")
    assert "sample 5" in layer.name and "d = " in layer.name
    assert layer.translate[0] > viewer.layers["T1"].extent.world[1][-2]  # below the scans
    assert np.allclose(layer.data[:, :32], res.generated[5])
    assert NEAREST_KEY not in [c.layer.metadata for c in widget.table.choices()]
    assert [c.layer.name for c in widget.table.choices()] == ["T1", "GM"]
    assert widget.show_nearest(index=999) is None and notes[-1][0] == "error"

    report = widget.save_report(tmp_path / "report")
    assert report.name == "report.md" and (report.parent / "metrics.json").is_file()
    assert (report.parent / "feature_extractor.safetensors").is_file()
    assert widget.save_report(tmp_path / "report") is None and "not an empty" in notes[-1][1]


def test_cancel_stops_between_stages_and_widget_stays_usable(qtbot, setup, notes):
    _viewer, widget = setup
    widget.net_steps.setValue(400)
    assert widget.evaluate()
    widget.cancel()
    assert not widget.cancel_btn.isEnabled()
    qtbot.waitUntil(lambda: widget.job is None, timeout=300_000)
    assert widget.result is None
    assert "Cancelled" in widget.status.text()
    assert ("info", "Evaluation cancelled") in notes
    assert widget.evaluate_btn.isEnabled() and widget.table.isEnabled()


def test_bad_inputs_notify(qtbot, monkeypatch, make_napari_viewer, setup, tmp_path, notes):
    monkeypatch.setattr(runs, "last_run", None)  # no run trained in this session
    empty = EvaluateWidget(make_napari_viewer())
    assert not empty.evaluate() and "checkpoint" in notes[-1][1]
    assert not empty.load(tmp_path) and "Cannot load checkpoint" in notes[-1][1]

    viewer, widget = setup
    widget.table.set_choices({})
    assert not widget.evaluate() and "no image layer" in notes[-1][1]
    widget.table.set_choices({"T1": "CT"})
    assert not widget.evaluate() and "unknown to the model" in notes[-1][1]
    viewer.add_image(np.ones((2, 3, 16, 16), np.float32), name="4D")
    widget.table.set_choices({"4D": "T1"})
    assert not widget.evaluate() and "dimensions" in notes[-1][1]
    assert all(lvl == "error" for lvl, _ in notes)

    viewer.add_image(np.zeros((6, 40, 40), np.float32), name="blank")
    widget.table.set_choices({"blank": "T1"})  # only the engine, in the worker, finds this
    run_to_end(qtbot, widget)
    assert notes[-1][0] == "error" and "failed (DataError)" in notes[-1][1]
    assert widget.result is None and widget.evaluate_btn.isEnabled()


def test_flagged_checkpoint_warns_in_generate(qtbot, monkeypatch, setup, notes, tmp_path):
    viewer, widget = setup
    sampler = widget.sampler
    ds, labels = dataset_for(sampler, to_volumes(widget.table.choices(), True))
    real = ds.images[:, 0].numpy()

    copies = functools.partial(copy_real, real, labels, list(sampler.class_names))
    monkeypatch.setattr(sampler, "sample", copies)  # the widget pickles this sampler
    run_to_end(qtbot, widget)
    assert widget.result.flagged
    assert "Possible copying" in widget.verdict.text()
    assert notes[-1][0] == "warning" and "Memorization" in notes[-1][1]
    assert memorization.reasons(sampler.path)

    gen = GenerateWidget(viewer)
    assert gen.load(widget.checkpoint.value)
    assert not gen.flag.isHidden() and "copying" in gen.flag.text()
    assert gen.generate()
    qtbot.waitUntil(lambda: not gen.busy, timeout=30_000)
    layer = gen.last_layer
    assert layer is not None and notes[-1][0] == "warning" and "copy" in notes[-1][1]
    notes.clear()
    gen.save_layer(layer, tmp_path / "out.nii.gz")
    assert notes[0][0] == "warning" and notes[-1][0] == "info"  # warned, then saved
    memorization.publish(sampler.path, [])  # a clean re-evaluation clears the flag
    assert gen.flag.isHidden()
