"""Every dock widget fits a 1366x768 laptop: minimum heights, run controls outside scrolling."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.gui
WIDGETS = ("Train GAN", "Generate synthetic scans", "Evaluate GAN")
MAX_MIN_HEIGHT = 600  # px: a 768 px screen minus menus, title bar and the dock title


@pytest.mark.parametrize("name", WIDGETS)
def test_dock_widget_minimum_height_fits_a_laptop(make_napari_viewer, name):
    viewer = make_napari_viewer()
    dock, widget = viewer.window.add_plugin_dock_widget("napari-medgan", name)
    height = max(widget.minimumSizeHint().height(), widget.minimumHeight())
    assert height <= MAX_MIN_HEIGHT, f"{name}: minimum height {height} px"
    assert dock.minimumSizeHint().height() <= MAX_MIN_HEIGHT + 40


def test_all_three_docked_fit_a_laptop_window(make_napari_viewer):
    viewer = make_napari_viewer(show=True)
    for name in WIDGETS:
        viewer.window.add_plugin_dock_widget("napari-medgan", name, tabify=True)
    window = viewer.window._qt_window
    window.resize(1366, 740)
    assert window.minimumSizeHint().height() <= 740


def test_train_controls_never_scroll_away(make_napari_viewer):
    viewer = make_napari_viewer()
    _, train = viewer.window.add_plugin_dock_widget("napari-medgan", "Train GAN")
    for w in (train.table, train.settings):
        assert train.scroll.widget().isAncestorOf(w)  # inputs scroll
    for w in (train.start_btn, train.pause_btn, train.stop_btn, train.progress, train.plot):
        assert not train.scroll.isAncestorOf(w)  # run controls and feedback stay in view
