"""The Train dock's input for a translation run: a source and a target image layer."""

from __future__ import annotations

from napari.layers import Image
from napari.utils.notifications import show_error
from qtpy.QtWidgets import QComboBox, QFormLayout, QLabel, QWidget

from napari_medgan.engine import ConfigError, DataError, Volume
from napari_medgan.engine.families.translate.pairs import check_pair

from ..common.layers import Choice, refill, to_volumes

FAMILY_CHOICES = (
    ("GAN / conditional GAN: noise (+ condition) → scan", "gan"),
    ("Translation: a source scan → the target contrast", "translate"),
)


class PairInput(QWidget):
    """Two image-layer choices; :meth:`pair` checks them and returns engine volumes."""

    def __init__(self, viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = viewer
        self.source = QComboBox()
        self.source.setToolTip("the scan the model reads (e.g. T1)")
        self.target = QComboBox()
        self.target.setToolTip(
            "the same anatomy in the contrast to learn (e.g. a tissue map), on the source's grid"
        )
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        note = QLabel("Co-registered pair: same shape, spacing and position.")
        note.setWordWrap(True)
        form.addRow(note)
        form.addRow("source", self.source)
        form.addRow("target", self.target)
        for ev in (viewer.layers.events.inserted, viewer.layers.events.removed):
            ev.connect(self.refresh)
        self.refresh()

    def refresh(self, *_args) -> None:
        names = [
            lay.name
            for lay in self.viewer.layers
            if isinstance(lay, Image) and not lay.metadata.get("medgan_preview")
        ]
        for k, combo in enumerate((self.source, self.target)):
            refill(combo, names, fallback=k)  # a fresh form offers two different layers

    def pair(self) -> tuple[Volume, Volume]:
        """The chosen (source, target) as volumes; :class:`DataError` naming what is wrong."""
        names = self.source.currentText(), self.target.currentText()
        if not all(names):
            raise DataError("choose a source and a target image layer (open both scans first)")
        if names[0] == names[1]:
            raise DataError(f"source and target are both {names[0]!r}; choose two different scans")
        source, target = to_volumes(
            [Choice(self.viewer.layers[n], n) for n in names], conditional=False
        )
        check_pair(source, target)
        return source, target


def show_family(dock, name: str) -> None:
    """Show the Train dock's inputs for family ``name`` (and select it in the model choice)."""
    index = dock.family.findData(name)
    if index >= 0 and index != dock.family.currentIndex():
        dock.family.blockSignals(True)
        dock.family.setCurrentIndex(index)
        dock.family.blockSignals(False)
    dock.gan_inputs.setVisible(name == "gan")
    dock.pairs.setVisible(name == "translate")


def start_translation(dock) -> bool:
    """Start a translation run from the dock's source and target layers; False (and a
    notification naming the problem) when the pair or the settings cannot train."""
    try:
        pair = dock.pairs.pair()
        dock.settings.config.validate()
    except (DataError, ConfigError) as exc:
        show_error(f"Cannot start training: {exc}")
        return False
    dock.feedback.source = dock.viewer.layers[dock.pairs.source.currentText()]
    return dock._launch([], pairs=[pair])
