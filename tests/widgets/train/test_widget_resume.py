"""The Train widget continues a run with the run's own settings and windows, and never shares it."""

from __future__ import annotations

import pytest

from napari_medgan.engine.resume import read_run
from napari_medgan.engine.runlock import RunLock
from napari_medgan.widgets.train.state import TrainState

pytestmark = pytest.mark.gui


def _errors(notes):
    return [m for lvl, m in notes if lvl == "error"]


def test_resume_takes_settings_and_windows_from_the_checkpoint(
    make_napari_viewer, tmp_path, notes, monkeypatch, add_mni, make_train_widget, wait_idle
):
    viewer = make_napari_viewer()
    add_mni(viewer)
    widget = make_train_widget(viewer, tmp_path, steps=2, preview_every=0)
    assert widget.start()
    wait_idle(widget)
    out = tmp_path / "run"
    saved = read_run(out)
    # a changed setting is refused, naming it, before anything runs
    widget.settings.apply(loss="hinge", steps=4)
    assert widget.start() is False
    assert (
        "cannot resume: loss is nonsaturating in the checkpoint, hinge in the settings"
        in (_errors(notes)[-1])
    )
    assert widget.state is TrainState.IDLE and read_run(out).step == 2
    # only the steps changed: accepted, and the child process is told to resume (it takes the
    # intensity windows from the checkpoint: runner.train_target -> resume_transforms)
    import napari_medgan.widgets.train.widget as train_module

    started = []
    real_run = train_module.ProcessRun
    monkeypatch.setattr(
        train_module, "ProcessRun", lambda target, kwargs, **kw: started.append(kwargs)
        or real_run(target, kwargs, **kw),
    )  # fmt: skip
    widget.settings.apply(loss="nonsaturating")
    assert widget.start()
    wait_idle(widget)
    assert widget.last_report.status == "finished" and widget.last_report.step == 4
    assert started and started[0]["resume"] == out
    assert read_run(out).meta["transforms"] == saved.meta["transforms"]

    # a second widget pointed at the run folder shows the run's settings
    other = make_train_widget(viewer, tmp_path / "elsewhere")
    other.settings.apply(z_dim=64, lr_g=1e-3)
    other.settings.fields["out_dir"].value = str(out)
    assert other.settings.config.z_dim == saved.config.z_dim
    assert other.settings.config.lr_g == saved.config.lr_g
    assert "holds a run at step 4" in other.resume_note.text()


def test_busy_run_folder_is_refused(
    make_napari_viewer, qtbot, tmp_path, notes, add_mni, make_train_widget, wait_idle
):
    viewer = make_napari_viewer()
    add_mni(viewer)
    first = make_train_widget(viewer, tmp_path, steps=100_000, preview_every=0)
    second = make_train_widget(viewer, tmp_path)
    # widget vs a CLI trainer holding the folder
    with RunLock(tmp_path / "run", owner="napari-medgan train t1.nii.gz --out run"):
        assert second.start() is False
        assert "napari-medgan train t1.nii.gz" in _errors(notes)[-1]
    # widget vs widget
    assert first.start()
    qtbot.waitUntil(lambda: first.state is TrainState.TRAINING, timeout=90_000)
    assert second.start() is False
    assert f"in use by process {first.job.run.pid}" in _errors(notes)[-1]  # the child owns it
    assert "napari Train widget" in _errors(notes)[-1]
    first.stop()
    wait_idle(first)
    assert first.last_report.status == "stopped"
