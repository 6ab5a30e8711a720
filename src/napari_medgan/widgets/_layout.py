"""Layout helpers that keep the dock widgets usable on a 1366x768 laptop screen."""

from __future__ import annotations

from qtpy.QtWidgets import QScrollArea, QVBoxLayout, QWidget


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
