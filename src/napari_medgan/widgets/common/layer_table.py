"""A table of the viewer's image layers: tick to train on, edit the condition name."""

from __future__ import annotations

from napari.layers import Image, Layer
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

from .layers import Choice

USE, LAYER, CONDITION = 0, 1, 2


class LayerTable(QTableWidget):
    """Rows follow ``viewer.layers``; ticks and condition names survive layer changes."""

    def __init__(self, viewer, parent=None) -> None:
        super().__init__(0, 3, parent)
        self.viewer = viewer
        self.setHorizontalHeaderLabels(["use", "image layer", "condition"])
        header = self.horizontalHeader()
        header.setSectionResizeMode(USE, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(LAYER, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(CONDITION, QHeaderView.ResizeMode.Stretch)
        self.verticalHeader().setVisible(False)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setMinimumHeight(90)
        self.setMaximumHeight(150)
        self._state: dict[int, tuple[bool, str]] = {}  # id(layer) -> (ticked, condition)
        self._layers: list[Layer] = []
        self.itemChanged.connect(self._remember)
        events = viewer.layers.events
        for ev in (events.inserted, events.removed, events.moved):
            ev.connect(self.refresh)
        self.refresh()

    def refresh(self, *_args) -> None:
        """Rebuild the rows from the viewer's image layers (skipping our own outputs)."""
        layers = [
            lay
            for lay in self.viewer.layers
            if isinstance(lay, Image)
            and not lay.metadata.get("medgan_preview")
            and not lay.metadata.get("medgan_generated")
            and not lay.metadata.get("medgan_nearest")
        ]
        for lay in layers:
            if id(lay) not in self._state:
                ticked = not lay.rgb
                self._state[id(lay)] = (ticked, lay.name)
                lay.events.name.connect(self.refresh)
        self._layers = layers
        self.blockSignals(True)
        try:
            self.setRowCount(len(layers))
            for row, lay in enumerate(layers):
                ticked, condition = self._state[id(lay)]
                use = QTableWidgetItem()
                use.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled)
                use.setCheckState(Qt.CheckState.Checked if ticked else Qt.CheckState.Unchecked)
                name = QTableWidgetItem(lay.name)
                name.setFlags(Qt.ItemFlag.ItemIsEnabled)
                shape = "x".join(map(str, lay.data.shape))
                name.setToolTip(f"{lay.name}: {shape}{' RGB' if lay.rgb else ''}")
                cond = QTableWidgetItem(condition)
                self.setItem(row, USE, use)
                self.setItem(row, LAYER, name)
                self.setItem(row, CONDITION, cond)
        finally:
            self.blockSignals(False)

    def _remember(self, item: QTableWidgetItem) -> None:
        row = item.row()
        if row >= len(self._layers):
            return
        lay = self._layers[row]
        ticked = self.item(row, USE).checkState() == Qt.CheckState.Checked
        cond_item = self.item(row, CONDITION)
        self._state[id(lay)] = (ticked, cond_item.text() if cond_item else lay.name)

    # ------------------------------------------------------------------ API (tests, scripts)
    def choices(self) -> list[Choice]:
        """The ticked layers with their condition names, in table order."""
        return [
            Choice(lay, self._state[id(lay)][1]) for lay in self._layers if self._state[id(lay)][0]
        ]

    def set_choices(self, choices: dict[str, str | None]) -> None:
        """Tick exactly the layers named in ``choices``; a non-None value is its condition."""
        for lay in self._layers:
            ticked = lay.name in choices
            condition = choices.get(lay.name) or self._state[id(lay)][1]
            self._state[id(lay)] = (ticked, condition)
        self.refresh()
