"""The Generate dock widget: samples and condition swaps from a checkpoint, as image layers."""

from __future__ import annotations

from pathlib import Path

from napari.layers import Image, Labels
from napari.utils.notifications import show_error, show_info
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from napari_medgan.engine import CheckpointError, Sampler, SamplingError
from napari_medgan.engine.families.translate.infer import Translator

from ..common.jobs import thread_job
from ..common.layers import refill
from ..common.output_layers import GENERATED_KEY, sample_layer, swap_layer
from ..common.path_field import CheckpointInput, connect_while_alive
from .export_dataset import open_export_dialog
from .flag import MemorizationFlag, memorization
from .sampling import sample_job, swap_job
from .saving import ask_and_save, save_generated
from .synthesis import LABELS_KEY, start_synthesis
from .translation import start_translation


class GenerateWidget(MemorizationFlag, CheckpointInput, QWidget):
    """Draw samples from a trained model into layers that line up with the real scans,
    translate an image layer with a translation run (``translate``), or make images from a
    Labels layer with a mask-to-image run (``mask2image``).

    Parameters
    ----------
    napari_viewer : napari.Viewer
        Injected by napari when the widget is docked.
    """

    families = ("gan", "translate", "mask2image")

    def __init__(self, napari_viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = napari_viewer
        self.sampler: Sampler | None = None
        self.job = None  # the running sampling job
        self.last_layer: Image | None = None
        self._checkpoint_input()
        self.flag = QLabel()  # memorization verdict of the Evaluate widget, when flagged
        self.flag.setWordWrap(True)
        self.flag.setStyleSheet("color: #c62828; font-weight: bold;")
        self.flag.hide()
        self.n = QSpinBox(minimum=1, maximum=512, value=8)
        self.condition = QComboBox()
        self.seed = QSpinBox(minimum=0, maximum=2**31 - 1, value=0)
        self.reference = QComboBox()
        self.reference.setToolTip("generated layers take this layer's position and slice spacing")
        self.reference_label = QLabel("reference layer")
        self.translate_btn = QPushButton("Translate layer")
        self.translate_btn.setToolTip(
            "the chosen image layer in the run's target contrast, as a new layer on its grid"
        )
        self.synth_btn = QPushButton("Synthesize from labels")
        self.synth_btn.setToolTip("one image per sample, on the chosen Labels layer's grid")
        self.deform = QCheckBox("deform the mask for each sample (new anatomy)")
        self.generate_btn = QPushButton("Generate")
        self.swap_btn = QPushButton("Condition swap")
        self.swap_btn.setToolTip("one seed rendered under every condition, stacked on a new axis")
        self.cancel_btn = QPushButton("Cancel")
        self.progress = QProgressBar()
        self.progress.setFormat("%v / %m images")
        self.progress.hide()
        self.save_target = QComboBox()
        self.save_btn = QPushButton("Save…")
        self.export_btn = QPushButton("Export dataset…")
        self.export_btn.setToolTip("one file per sample plus manifest.csv, in the background")
        self._build_layout()

        self.cancel_btn.clicked.connect(self.cancel)
        self.condition.currentTextChanged.connect(self._match_reference)
        self.generate_btn.clicked.connect(self.generate)
        self.swap_btn.clicked.connect(self.condition_swap)
        self.translate_btn.clicked.connect(self.translate)
        self.synth_btn.clicked.connect(self.synthesize)
        self.save_btn.clicked.connect(self._save_dialog)
        self.export_btn.clicked.connect(lambda: open_export_dialog(self))
        events = napari_viewer.layers.events
        for ev in (events.inserted, events.removed):
            ev.connect(self._refresh_layers)
        connect_while_alive(self, memorization.verdict, self._update_flag)
        self._refresh_layers()
        self._update_buttons()
        self._follow_runs()

    def _build_layout(self) -> None:
        layout = QVBoxLayout(self)
        form = QFormLayout()
        form.addRow("checkpoint", self.checkpoint)
        form.addRow(self.info)
        form.addRow(self.flag)
        form.addRow("samples", self.n)
        form.addRow("condition", self.condition)
        form.addRow("seed", self.seed)
        form.addRow(self.reference_label, self.reference)
        form.addRow(self.deform)
        layout.addLayout(form)
        row = QHBoxLayout()
        row.addWidget(self.generate_btn)
        row.addWidget(self.swap_btn)
        row.addWidget(self.translate_btn)
        row.addWidget(self.synth_btn)
        row.addWidget(self.cancel_btn)
        layout.addLayout(row)
        layout.addWidget(self.progress)
        save = QHBoxLayout()
        save.addWidget(self.save_target, 1)
        save.addWidget(self.save_btn)
        layout.addWidget(QLabel("<b>Save a generated layer</b>"))
        layout.addLayout(save)
        layout.addWidget(self.export_btn)
        layout.addStretch(1)

    # ------------------------------------------------------------------ model
    @property
    def translating(self) -> bool:
        """A translation run is loaded (an image layer in, its translation out)."""
        return self.sampler is not None and self.sampler.config.family == "translate"

    @property
    def synthesizing(self) -> bool:
        """A mask-to-image run is loaded (a Labels layer in, images out)."""
        return self.sampler is not None and self.sampler.config.family == "mask2image"

    def _loaded(self, sampler: Sampler | Translator) -> None:
        self.condition.clear()
        if self.sampler.config.family == "gan":
            self.condition.addItems(sampler.class_names)
        label = {"translate": "layer to translate", "mask2image": "labels layer"}
        self.reference_label.setText(label.get(self.sampler.config.family, "reference layer"))
        self._refresh_layers()
        self._update_buttons()
        self._update_flag()

    def _load_failed(self, error: CheckpointError) -> None:
        show_error(f"Cannot load checkpoint: {error}")
        self._update_buttons()
        self._update_flag()

    # ------------------------------------------------------------------ actions
    def generate(self) -> bool:
        """Sample ``n`` images of the chosen condition in the background; they arrive as a new
        image layer (``last_layer``). False if nothing started."""
        if not self._can_run() or not self._gan_only("sample"):
            return False
        self._warn_if_flagged(self.sampler.path)
        sampler, n, seed = self.sampler, self.n.value(), self.seed.value()
        cond = self.condition.currentText() if sampler.conditional else None
        ref = self.reference_layer()

        def done(result) -> None:
            images, digest = (result, None) if isinstance(result, SamplingError) else result
            self._add(images, "generate", sample_layer, sampler, images, cond, seed, ref, digest)

        self._start(sample_job, (sampler, n, cond, seed), n, f"Generating {n} images", done)
        return True

    def condition_swap(self) -> bool:
        """Render one seed under every condition in the background: a layer with a leading
        condition axis (``last_layer``). False if nothing started."""
        if not self._can_run() or not self._gan_only("sample"):
            return False
        self._warn_if_flagged(self.sampler.path)
        sampler, seed, ref = self.sampler, self.seed.value(), self.reference_layer()

        def done(images) -> None:
            self._add(images, "swap conditions", swap_layer, sampler, images, seed, ref)

        self._start(swap_job, (sampler, seed), 0, "Condition swap", done)
        return True

    def translate(self) -> bool:
        """Translate the chosen image layer in the background; the result arrives as a new layer
        on the same grid (``last_layer``). False (and a notification) if nothing started."""
        return self._can_run() and start_translation(self, self.reference_layer())

    def synthesize(self) -> bool:
        """Make ``n`` images from the chosen Labels layer in the background (seeds from
        ``seed``; with ``deform`` each from its own deformed mask); the last arrives as
        ``last_layer``. False (and a notification) if nothing started."""
        return self._can_run() and start_synthesis(
            self, self.reference_layer(), self.n.value(), self.seed.value(),
            self.deform.isChecked(),
        )  # fmt: skip

    def cancel(self) -> None:
        """Stop the running sampling job after its current chunk."""
        if self.job is not None:
            self.job.quit()
            self.cancel_btn.setEnabled(False)

    @property
    def busy(self) -> bool:
        return self.job is not None

    def _can_run(self) -> bool:
        if self.sampler is None:
            show_error("Load a checkpoint first")
            return False
        return self.job is None

    def _gan_only(self, what: str) -> bool:
        if self.sampler.config.family != "gan":
            kind, use = ("translation", "Translate layer") if self.translating else (
                "mask-to-image", "Synthesize from labels")  # fmt: skip
            show_error(f"Cannot {what}: this is a {kind} run; use {use}")
            return False
        return True

    def _start(self, job, args, total: int, desc: str, done, unit: str = "images") -> None:
        self.progress.setFormat(f"%v / %m {unit}")
        self.progress.setRange(0, total)
        self.progress.setValue(0)
        self.progress.setVisible(total > 0)
        self.job = thread_job(
            job, *args, progress=(total, desc), viewer=self.viewer,
            connect={"yielded": self.progress.setValue, "returned": done, "finished": self._done},
        )  # fmt: skip
        self._update_buttons()

    def _add(self, images, what: str, make, *args) -> None:
        if isinstance(images, SamplingError):
            show_error(f"Cannot {what}: {images}")
            return
        data, kwargs = make(self.viewer, *args)
        self.last_layer = self.viewer.add_image(data, **kwargs)
        self._refresh_layers()

    def _done(self) -> None:
        if self.job is not None and getattr(self.job, "abort_requested", False):
            show_info("Generation cancelled")
        self.job = None
        self.progress.hide()
        self._update_buttons()

    def save_layer(self, layer: Image, path: str | Path, dicom: bool = False) -> Path | None:
        """Write ``layer`` as NIfTI (``path``) or as a synthetic DICOM series (folder ``path``);
        see :func:`~napari_medgan.widgets.generate.saving.save_generated`."""
        self._warn_if_flagged(layer.metadata.get("model"))
        labels = self.viewer.layers[layer.metadata[LABELS_KEY]] if layer.metadata.get(
            LABELS_KEY) in self.viewer.layers else None  # fmt: skip
        return save_generated(layer, path, dicom, labels)

    def _save_dialog(self) -> None:
        ask_and_save(self, self.viewer, self.save_target.currentText())

    # ------------------------------------------------------------------ helpers
    def reference_layer(self) -> Image | Labels | None:
        name = self.reference.currentText()
        return self.viewer.layers[name] if name in self.viewer.layers else None

    def _match_reference(self, condition: str) -> None:
        index = self.reference.findText(condition)
        if index >= 0:
            self.reference.setCurrentIndex(index)

    def _refresh_layers(self, *_args) -> None:
        images = [lay for lay in self.viewer.layers if isinstance(lay, Image)]
        real = [lay.name for lay in images if not _ours(lay)]
        generated = [lay.name for lay in images if lay.metadata.get(GENERATED_KEY)]
        labels = [lay.name for lay in self.viewer.layers if isinstance(lay, Labels)]
        refill(self.reference, labels if self.synthesizing else real)
        refill(self.save_target, generated, fallback=len(generated) - 1)  # the newest
        self._update_buttons()

    def _update_buttons(self) -> None:
        ok = self.sampler is not None and self.job is None
        gan = ok and self.sampler.config.family == "gan"
        self.cancel_btn.setEnabled(self.job is not None)
        self.generate_btn.setEnabled(gan)
        self.export_btn.setEnabled(gan)
        self.swap_btn.setEnabled(gan and self.sampler.conditional)
        self.condition.setEnabled(gan and self.sampler.conditional)
        for w in (self.n, self.seed):
            w.setEnabled(not self.translating)
        self.translate_btn.setVisible(self.translating)
        self.translate_btn.setEnabled(ok)
        for w in (self.synth_btn, self.deform):
            w.setVisible(self.synthesizing)
        self.synth_btn.setEnabled(ok)
        self.save_btn.setEnabled(self.save_target.count() > 0)


def _ours(layer: Image) -> bool:
    return bool(layer.metadata.get(GENERATED_KEY) or layer.metadata.get("medgan_preview"))
