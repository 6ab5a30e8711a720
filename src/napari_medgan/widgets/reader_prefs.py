"""A small dock widget: make napari-medgan napari's reader for NIfTI / DICOM / NRRD, on request."""

from __future__ import annotations

from napari.utils.notifications import show_error, show_info
from qtpy.QtWidgets import QFileDialog, QLabel, QPushButton, QVBoxLayout, QWidget

from napari_medgan.napari_glue import preferences

INTRO = (
    "napari's own reader also opens NIfTI, DICOM and NRRD, but without patient geometry or "
    "Hounsfield units, so File ▸ Open asks which reader to use. Choose napari-medgan once here "
    "(a napari preference; Preferences ▸ Plugins shows and edits it)."
)


class ReaderPrefsWidget(QWidget):
    """Buttons that set or remove napari's reader preferences for the medical formats.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        Injected by napari (unused; the preferences are napari-wide).
    """

    def __init__(self, napari_viewer=None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = napari_viewer
        intro = QLabel(INTRO)
        intro.setWordWrap(True)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.use_btn = QPushButton("Use napari-medgan for NIfTI / DICOM / NRRD")
        self.folder_btn = QPushButton("…and for DICOM folders under a folder…")
        self.restore_btn = QPushButton("Restore napari's reader choice")
        layout = QVBoxLayout(self)
        for widget in (intro, self.use_btn, self.folder_btn, self.restore_btn, self.status):
            layout.addWidget(widget)
        layout.addStretch(1)
        self.use_btn.clicked.connect(lambda: self.use())
        self.folder_btn.clicked.connect(self._pick_folder)
        self.restore_btn.clicked.connect(lambda: self.restore())
        self._show_status()

    def use(self, folders: tuple[str, ...] = ()) -> list[str]:
        """Set the preferences (and for ``folders``); return the patterns now preferred."""
        try:
            patterns = preferences.use_medgan_readers(folders)
        except OSError as exc:
            show_error(f"Reader preference not set: {exc}")
            return preferences.preferred_patterns()
        show_info("napari-medgan now opens " + ", ".join(patterns))
        self._show_status()
        return patterns

    def restore(self) -> list[str]:
        """Remove this plugin's reader preferences; return the removed patterns."""
        removed = preferences.restore_napari_readers()
        show_info(
            "Removed reader preferences: " + ", ".join(removed) if removed else "Nothing to remove"
        )
        self._show_status()
        return removed

    def _pick_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder holding DICOM series")
        if folder:
            self.use((folder,))

    def _show_status(self) -> None:
        patterns = preferences.preferred_patterns()
        self.status.setText(
            "napari-medgan is the preferred reader for: " + ", ".join(patterns)
            if patterns
            else "No preference set: File ▸ Open asks which reader to use for these formats."
        )
