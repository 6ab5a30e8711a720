"""The Train dock's inputs for paired runs: a source and a target image layer (translation), or
a Labels layer and its image layer (mask-to-image)."""

from __future__ import annotations

from napari.layers import Image, Labels
from napari.utils.notifications import show_error
from qtpy.QtWidgets import QComboBox, QFormLayout, QLabel, QWidget

from napari_medgan.engine import ConfigError, DataError, Volume
from napari_medgan.engine.families.mask2image.pairs import check_label_pair, check_labels
from napari_medgan.engine.families.translate.pairs import check_pair

from ..common.layers import Choice, labels_volume, refill, to_volumes

FAMILY_CHOICES = (
    ("GAN / conditional GAN: noise (+ condition) → scan", "gan"),
    ("Translation: a source scan → the target contrast", "translate"),
    ("Masks → scans: a label map → a matching scan", "mask2image"),
)


class PairInput(QWidget):
    """Two layer choices; :meth:`pair` checks them and returns engine volumes.

    ``labels=False``: a source and a target image layer (co-registered). ``labels=True``: a
    Labels layer and the image layer it was drawn on; the pair is (labels, image).
    """

    def __init__(self, viewer, labels: bool = False, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer, self.labels = viewer, labels
        self.source = QComboBox()
        self.target = QComboBox()
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        if labels:
            self.source.setToolTip("a Labels layer (e.g. tissue classes) drawn on the image's grid")
            self.target.setToolTip("the scan the label map describes")
            note = QLabel("A label map and its scan: same shape, spacing and position.")
            rows = (("labels", self.source), ("image", self.target))
        else:
            self.source.setToolTip("the scan the model reads (e.g. T1)")
            self.target.setToolTip(
                "the same anatomy in the contrast to learn (e.g. a tissue map), on the source's "
                "grid"
            )
            note = QLabel("Co-registered pair: same shape, spacing and position.")
            rows = (("source", self.source), ("target", self.target))
        note.setWordWrap(True)
        form.addRow(note)
        for text, combo in rows:
            form.addRow(text, combo)
        for ev in (viewer.layers.events.inserted, viewer.layers.events.removed):
            ev.connect(self.refresh)
        self.refresh()

    def refresh(self, *_args) -> None:
        images = [
            lay.name
            for lay in self.viewer.layers
            if isinstance(lay, Image) and not lay.metadata.get("medgan_preview")
        ]
        if self.labels:
            refill(self.source, [lay.name for lay in self.viewer.layers if isinstance(lay, Labels)])
            refill(self.target, images)
            return
        for k, combo in enumerate((self.source, self.target)):
            refill(combo, images, fallback=k)  # a fresh form offers two different layers

    def pair(self) -> tuple[Volume, Volume]:
        """The chosen pair as volumes; :class:`DataError` naming what is wrong."""
        names = self.source.currentText(), self.target.currentText()
        if self.labels:
            if not all(names):
                raise DataError("choose a Labels layer and the image it was drawn on (open both "
                                "first, e.g. File ▸ Open Sample ▸ MNI152 T1 + tissue labels)")
            image = to_volumes([Choice(self.viewer.layers[names[1]], names[1])], False)[0]
            labels = labels_volume(self.viewer.layers[names[0]])
            check_label_pair(labels, image)
            check_labels(labels)
            return labels, image
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
    dock.mask_pairs.setVisible(name == "mask2image")


def start_pairs(dock) -> bool:
    """Start a paired run (translation or mask-to-image) from the dock's chosen layers; False
    (and a notification naming the problem) when the pair or the settings cannot train."""
    inputs = dock.mask_pairs if dock.settings.config.family == "mask2image" else dock.pairs
    try:
        pair = inputs.pair()
        dock.settings.config.validate()
    except (DataError, ConfigError) as exc:
        show_error(f"Cannot start training: {exc}")
        return False
    dock.feedback.source = dock.viewer.layers[inputs.target.currentText()]
    return dock._launch([], pairs=[pair])
