"""The Train GAN dock widget: manifest, real short runs, pause/resume/stop, bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_medgan.widgets.state import TrainState, runs
from napari_medgan.widgets.train import TrainWidget

pytestmark = pytest.mark.gui
TINY = dict(
    size=32,
    batch_size=8,
    base_channels=8,
    max_channels=32,
    z_dim=16,
    augment=(),
    ema_decay=0.9,
    checkpoint_every=0,
    device="cpu",
    min_foreground=0.05,
)


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def add_mni(viewer, mni, names=("T1", "GM")):
    for name in names:
        image = mni[name]
        viewer.add_image(
            image.data,
            name=name,
            scale=image.spacing,
            translate=image.origin,
            metadata={"modality": "MR"},
        )


def make_widget(viewer, tmp_path, steps=20, preview_every=5) -> TrainWidget:
    widget = TrainWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.settings.apply(
        steps=steps, preview_every=preview_every, out_dir=str(tmp_path / "run"), **TINY
    )
    return widget


def wait_idle(qtbot, widget, timeout=90_000):
    qtbot.waitUntil(lambda: widget.state is TrainState.IDLE, timeout=timeout)


def test_widgets_load_from_manifest(make_napari_viewer):
    viewer = make_napari_viewer()
    _, train = viewer.window.add_plugin_dock_widget("napari-medgan", "Train GAN")
    _, gen = viewer.window.add_plugin_dock_widget("napari-medgan", "Generate synthetic scans")
    assert type(train).__name__ == "TrainWidget"
    assert type(gen).__name__ == "GenerateWidget"
    assert train.settings.config.device == "auto"
    assert train.settings.device_note.text()  # the device is always spelled out


def test_short_run_gives_preview_checkpoint_and_plot(
    make_napari_viewer, qtbot, tmp_path, mni_small, notes
):
    viewer = make_napari_viewer()
    add_mni(viewer, mni_small)
    widget = make_widget(viewer, tmp_path, steps=20)
    published = []
    runs.run_saved.connect(published.append)
    try:
        assert widget.start()
        wait_idle(qtbot, widget)
    finally:
        runs.run_saved.disconnect(published.append)
    r = widget.last_report
    assert r.status == "finished" and r.step == 20
    assert (tmp_path / "run" / "latest").exists()
    assert published and published[-1] == str(tmp_path / "run")
    preview = viewer.layers["MedGAN preview"]
    assert preview.data.shape == (32, 2 * 32 + 2)
    assert tuple(preview.contrast_limits) == (-1.0, 1.0)
    assert np.allclose(preview.scale, widget.pixel_spacing)
    assert preview.metadata["conditions"] == ["T1", "GM"]
    assert len(widget.plot.steps) >= 19
    assert not [n for n in notes if n[0] == "error"]
    assert widget.start_btn.isEnabled()
    assert "resumes" in widget.resume_note.text()
