"""Layout helpers that keep the dock widgets usable on a 1366x768 laptop screen."""

from __future__ import annotations

from qtpy.QtCore import Qt
from qtpy.QtGui import QPainter, QPalette
from qtpy.QtWidgets import QProgressBar, QScrollArea, QSizePolicy, QVBoxLayout, QWidget

UI_S = 0.5
"""Seconds between two changes of a widget's live feedback (progress, status, plot, preview):
what a person can follow, and few repaints of napari's window (each recomposites it)."""


def scrolled(min_height: int = 110) -> tuple[QScrollArea, QVBoxLayout]:
    """A frameless, vertically scrolling area and the layout of its content.

    Inputs and results go in here; run buttons and progress stay outside, always in view.
    """
    content = QWidget()
    layout = QVBoxLayout(content)
    layout.setContentsMargins(0, 0, 4, 0)
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QScrollArea.Shape.NoFrame)
    area.setWidget(content)
    area.setMinimumHeight(min_height)
    return area, layout


class StatusLine(QWidget):
    """A text line that changes often without costing napari a re-layout.

    A ``QLabel`` asks its parents to re-lay out on every new text, and each layout pass
    repaints the dock again; this widget only repaints itself. It wraps within a fixed height
    of ``lines`` lines, takes any width, and keeps the full text in its tooltip.
    """

    def __init__(self, text: str = "", lines: int = 2, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._text = ""
        self.setFixedHeight(lines * self.fontMetrics().lineSpacing() + 4)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.setText(text)

    def text(self) -> str:
        return self._text

    def setText(self, text: str) -> None:  # QLabel's name: callers need not care
        if text != self._text:
            self._text = text
            self.setToolTip(text)
            self.update()

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setPen(self.palette().color(QPalette.ColorRole.WindowText))
        flags = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
        painter.drawText(self.rect(), int(flags) | int(Qt.TextFlag.TextWordWrap), self._text)
        painter.end()


def set_progress_quietly(bar: QProgressBar, value: int, maximum: int | None = None) -> None:
    """Move ``bar`` with a deferred repaint: ``QProgressBar.setValue`` repaints at once, which
    in napari's window means a separate recomposition of the whole window, not one shared
    with the other widgets that change in the same pass."""
    bar.setUpdatesEnabled(False)
    try:
        if maximum is not None and bar.maximum() != maximum:
            bar.setMaximum(maximum)
        bar.setValue(value)
    finally:
        bar.setUpdatesEnabled(True)  # schedules a normal update()
