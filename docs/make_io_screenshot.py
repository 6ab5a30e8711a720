"""Screenshot of the Reader preferences widget after "Use napari-medgan for NIfTI / DICOM / NRRD".

Run from the repository root (needs a display)::

    xvfb-run -a -s "-screen 0 1920x1200x24" python docs/make_io_screenshot.py

napari's settings go to a temporary file (``NAPARI_CONFIG``), so your own reader preferences are
not touched. Writes ``docs/screenshots/reader_prefs.png``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

OUT = Path(__file__).resolve().parent / "screenshots" / "reader_prefs.png"


def main() -> None:
    os.environ["NAPARI_CONFIG"] = str(Path(tempfile.mkdtemp()) / "settings.yaml")
    import napari
    from napari.qt import get_qapp

    from napari_medgan.widgets.reader_prefs import ReaderPrefsWidget

    viewer = napari.Viewer(title="napari-medgan", show=True)
    viewer.window._qt_window.resize(1500, 900)
    viewer.open_sample("napari-medgan", "dicom_ct")
    widget = ReaderPrefsWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Reader preferences (NIfTI / DICOM / NRRD)")
    widget.use()
    app = get_qapp()
    for _ in range(50):
        app.processEvents()
    OUT.parent.mkdir(exist_ok=True)
    viewer.window._qt_window.grab().save(str(OUT))
    print(OUT)
    viewer.close()


if __name__ == "__main__":
    main()
