"""A form over the fields of one :class:`~napari_medgan.engine.TrainConfig` object.

The form edits ``self.config`` in place: what the user sees is exactly what the trainer gets.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from magicgui import widgets as mw
from qtpy.QtWidgets import QFormLayout, QLabel, QVBoxLayout, QWidget
from superqt import QCollapsible

from napari_medgan.engine import (
    AUGMENT_OPS,
    LOSSES,
    SIZES,
    ConfigError,
    TrainConfig,
    available_devices,
    default_for_device,
    resolve_device,
)
from napari_medgan.engine.config import (
    ARCHS,
    CLASS_INPUTS,
    DISCRIMINATORS,
    MAX_HOLDOUT_SLABS,
    PRECISIONS,
    PRESETS,
    RECIPE_KEYS,
    preset,
    preset_for_device,
)

AXES = {"axial (0)": 0, "coronal (1)": 1, "sagittal (2)": 2}
DEVICE_KEYS = ("size", "steps", "batch_size", "base_channels", "max_channels")
TIPS = {
    "size": "training resolution in pixels (square); slices keep their aspect ratio",
    "steps": "total discriminator/generator updates",
    "loss": "nonsaturating (default), minimax (the original GAN game) or hinge",
    "augment": "differentiable augmentation for small data, applied to real and fake",
    "slice_axis": "axis of 3D volumes along which 2D slices are taken (z, y, x order)",
    "r1_gamma": "R1 gradient penalty weight on real images; 0 disables it",
    "ada_target": "adaptive augmentation: raise the augmentation probability while "
    "E[sign D(real)] exceeds this (0: fixed probability)",
    "arch": "dcgan: transposed convolutions, class-conditional BatchNorm (the preset's); "
    "upconv: nearest upsampling + 3x3 convolutions (older checkpoints)",
    "class_input": "how the condition enters the generator: a one-hot code (the preset's) or "
    "a learned embedding",
    "discriminator": "batchnorm: DCGAN's, the class as input planes (the preset's); projection: "
    "spectral norm, minibatch std and a class projection head",
    "precision": "auto: bf16 on GPUs that support it, fp16 + loss scaling on older GPUs, fp32 "
    "on CPU/MPS",
    "augment_p": "augmentation probability per image: the start value with adaptive "
    "augmentation, the fixed value without (ada target 0)",
    "d_spectral_norm": "spectral normalisation of the dcgan projection discriminator",
    "channels_last": "channels-last memory layout: faster convolutions on GPUs and some CPUs",
    "z_dim": "size of the generator's latent vector",
    "ema_decay": "moving average of the generator used for previews and sampling",
    "min_foreground": "skip slices with less than this fraction of foreground",
    "preview_every": "update the preview layer every this many steps",
    "out_dir": "run folder for checkpoints; a folder that holds a run is resumed",
    "checkpoint_every": "save a checkpoint every this many steps (also on stop and at the end)",
    "holdout": "share of each condition's slices never trained on, used to score the model "
    "(whole scans when a condition has several, else a slab with a gap); 0: none, and then "
    "quality and memorization cannot be told apart",
    "holdout_slabs": "held-out slabs per scan when a condition has a single scan, spread "
    "along the slice axis: more slabs show the reference more of the anatomy, each costs "
    "training slices (the gap beside it)",
    "score_every": "score the model on the held-out slices every this many steps and keep "
    "the best checkpoint (0: never)",
}


def new_run_dir(root: Path | None = None) -> Path:
    """A fresh, timestamped run folder under ``~/napari-medgan/runs`` (not created)."""
    root = root or Path.home() / "napari-medgan" / "runs"
    base = root / time.strftime("run-%Y%m%d-%H%M%S")
    path, i = base, 1
    while path.exists():
        i += 1
        path = base.with_name(f"{base.name}-{i}")
    return path


def _spin(lo: int, hi: int, step: int = 1) -> mw.SpinBox:
    return mw.SpinBox(min=lo, max=hi, step=step)


def _float(lo: float, hi: float, step: float) -> mw.FloatSpinBox:
    return mw.FloatSpinBox(min=lo, max=hi, step=step)


def _basic_widgets() -> dict[str, mw.Widget]:
    return {
        "device": mw.ComboBox(choices=available_devices()),
        "size": mw.ComboBox(choices=list(SIZES)),
        "steps": _spin(1, 10_000_000, 100),
        "batch_size": _spin(1, 4096),
        "loss": mw.ComboBox(choices=list(LOSSES)),
        "slice_axis": mw.ComboBox(choices=list(AXES.items())),
        "augment": mw.Select(choices=list(AUGMENT_OPS), allow_multiple=True),
        "holdout": _float(0.0, 0.5, 0.05),
        "out_dir": mw.FileEdit(mode="d"),
    }


def _advanced_widgets() -> dict[str, mw.Widget]:
    return {
        "arch": mw.ComboBox(choices=list(ARCHS)),
        "class_input": mw.ComboBox(choices=list(CLASS_INPUTS)),
        "discriminator": mw.ComboBox(choices=list(DISCRIMINATORS)),
        "precision": mw.ComboBox(choices=list(PRECISIONS)),
        "lr_g": _float(1e-6, 0.99, 1e-5),
        "lr_d": _float(1e-6, 0.99, 1e-5),
        "beta1": _float(0.0, 0.999, 0.01),
        "beta2": _float(0.0, 0.9999, 0.0001),
        "r1_gamma": _float(0.0, 1000.0, 0.1),
        "r1_every": _spin(1, 1000),
        "ada_target": _float(0.0, 0.99, 0.05),
        "augment_p": _float(0.0, 1.0, 0.05),
        "ema_decay": _float(0.0, 0.9999, 0.0001),
        "z_dim": _spin(1, 4096),
        "base_channels": _spin(1, 1024),
        "max_channels": _spin(1, 4096),
        "d_spectral_norm": mw.CheckBox(),
        "channels_last": mw.CheckBox(),
        "min_foreground": _float(0.0, 0.99, 0.01),
        "preview_every": _spin(0, 1_000_000, 10),
        "checkpoint_every": _spin(0, 1_000_000, 100),
        "holdout_slabs": _spin(1, MAX_HOLDOUT_SLABS),
        "score_every": _spin(0, 1_000_000, 50),
        "keep_checkpoints": _spin(1, 1000),
        "seed": _spin(0, 2**31 - 1),
    }


class TrainSettings(QWidget):
    """Device, resolution, steps, loss, augmentation... bound to ``config``.

    Parameters
    ----------
    config : TrainConfig, optional
        The object to edit; defaults suit the best available device.
    """

    def __init__(self, config: TrainConfig | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        if config is None:
            config = default_for_device(resolve_device("auto").type)
            config.device = "auto"
            config.slice_axis = 0  # axial slices of (z, y, x) scans
            config.preview_every = 20
            config.out_dir = str(new_run_dir())
        self.config = config
        self._updating = False
        self.fields: dict[str, mw.Widget] = {}
        basic, advanced = _basic_widgets(), _advanced_widgets()
        self.fields.update(basic)
        self.fields.update(advanced)
        self.device_note = QLabel()
        self.device_note.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        # presets instead of knobs: picking one sets the recipe; every field still overrides it
        self.preset = mw.ComboBox(choices=list(PRESETS), value=self._device_preset())
        self.preset.tooltip = "cpu: 64 px, ~10 min on 2 cores; gpu: 128 px (256 with size 256)"
        self.preset.changed.connect(self._apply_preset)
        basic_form = self._form(basic)
        basic_form.insertRow(0, "preset", self.preset.native)
        layout.addLayout(basic_form)
        layout.addWidget(self.device_note)
        self.advanced = QCollapsible("Advanced settings")
        holder = QWidget()
        holder.setLayout(self._form(advanced))
        self.advanced.addWidget(holder)
        layout.addWidget(self.advanced)
        self.fields["augment"].native.setMaximumHeight(80)
        for name, widget in self.fields.items():
            widget.changed.connect(lambda value, n=name: self._on_change(n, value))
        self.refresh()

    def _form(self, widgets: dict[str, mw.Widget]) -> QFormLayout:
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        for name, widget in widgets.items():
            widget.tooltip = TIPS.get(name, name.replace("_", " "))
            form.addRow(name.replace("_", " "), widget.native)
        return form

    # ------------------------------------------------------------------ config <-> widgets
    def refresh(self) -> None:
        """Show the values of ``self.config`` in the widgets."""
        self._updating = True
        try:
            for name, widget in self.fields.items():
                value: Any = getattr(self.config, name)
                if name == "augment":
                    value = list(value)
                elif name == "device" and value not in widget.choices:
                    widget.choices = (*widget.choices, value)
                try:
                    widget.value = value
                except ValueError:  # out of the form's range: validate() will name it
                    pass
        finally:
            self._updating = False
        self._update_device_note()

    def apply(self, **changes: Any) -> None:
        """Change settings of ``self.config`` (in place) and show them."""
        for name, value in changes.items():
            setattr(self.config, name, value)
        self.config.__post_init__()
        self.refresh()

    def _on_change(self, name: str, value: Any) -> None:
        if self._updating:
            return
        if name == "augment":
            value = tuple(value)
        elif name == "out_dir":
            value = str(value)
        setattr(self.config, name, value)
        if name == "device":
            self._device_defaults(value)
        self._update_device_note()

    def _device_defaults(self, device: str) -> None:
        try:
            kind = resolve_device(device).type
        except ConfigError:
            return
        defaults = default_for_device(kind)
        self.apply(**{k: getattr(defaults, k) for k in DEVICE_KEYS})
        self.preset.value = preset_for_device(kind)

    def _device_preset(self) -> str:
        try:
            return preset_for_device(resolve_device(self.config.device).type)
        except ConfigError:
            return "cpu"

    def _apply_preset(self, name: str) -> None:
        size = self.config.size if (name == "gpu") == (self.config.size >= 128) else None
        recipe = preset(name, size=size)
        self.apply(**{k: getattr(recipe, k) for k in RECIPE_KEYS})

    def _update_device_note(self) -> None:
        try:
            device = resolve_device(self.config.device)
        except ConfigError as exc:
            text, style = str(exc), "color: #ff6b6b;"
        else:
            if device.type == "cpu":
                text = (
                    "⚠ Training will run on the CPU: expect minutes per few hundred steps. "
                    "Keep the size at 32-64 px; a GPU is 10-100x faster."
                )
                style = "color: #ffb347; font-weight: bold;"
            else:
                text, style = f"Training on {device} ({self.config.device}).", "color: #8fd18f;"
        self.device_note.setText(text)
        self.device_note.setStyleSheet(style)

    @property
    def on_cpu(self) -> bool:
        try:
            return resolve_device(self.config.device).type == "cpu"
        except ConfigError:
            return False
