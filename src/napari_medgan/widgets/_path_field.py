"""A folder field that reports a path only when the user means it: Enter or the chooser."""

from __future__ import annotations

from pathlib import Path

from qtpy.QtCore import Signal
from qtpy.QtWidgets import QFileDialog, QHBoxLayout, QLineEdit, QPushButton, QWidget


class PathField(QWidget):
    """A line edit plus a "Choose…" button.

    ``submitted(str)`` is emitted when Enter is pressed in the field, when a folder is picked
    in the chooser, or when :meth:`set_path` is called with ``submit=True``; never per
    keystroke (loading a checkpoint on every key showed an error notification per key).

    Parameters
    ----------
    tooltip : str
        Shown on the line edit.
    caption : str
        Title of the folder chooser.
    """

    submitted = Signal(str)

    def __init__(self, tooltip: str = "", caption: str = "Choose a folder", parent=None) -> None:
        super().__init__(parent)
        self.caption = caption
        self.edit = QLineEdit()
        self.edit.setToolTip(tooltip + " (press Enter to load)")
        self.edit.setPlaceholderText("run folder, then Enter")
        self.choose = QPushButton("Choose…")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.edit, 1)
        layout.addWidget(self.choose)
        self.edit.returnPressed.connect(self._submit)
        self.choose.clicked.connect(self._choose)

    @property
    def value(self) -> str:
        return self.edit.text().strip()

    def set_path(self, path: str | Path, submit: bool = True) -> None:
        """Show ``path``; emit ``submitted`` too unless ``submit`` is False."""
        self.edit.setText(str(path))
        if submit:
            self._submit()

    def _submit(self) -> None:
        if self.value:
            self.submitted.emit(self.value)

    def _choose(self) -> None:
        start = self.value if self.value and Path(self.value).expanduser().exists() else ""
        folder = QFileDialog.getExistingDirectory(self, self.caption, start)
        if folder:
            self.set_path(folder)
