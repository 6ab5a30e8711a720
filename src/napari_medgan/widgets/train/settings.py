"""A form over the fields of one :class:`~napari_medgan.engine.TrainConfig` object.

The form edits ``self.config`` in place: what the user sees is exactly what the trainer gets.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from magicgui import widgets as mw
from qtpy.QtCore import Signal
from qtpy.QtWidgets import QFormLayout, QLabel, QVBoxLayout, QWidget
from superqt import QCollapsible

from napari_medgan.engine import (
    ConfigError,
    TrainConfig,
    default_for_device,
    resolve_device,
)
from napari_medgan.engine.config import PRESETS, RECIPE_KEYS, preset, preset_for_device

from .fields import (
    BAD_WINDOW,
    TIPS,
    advanced_widgets,
    basic_widgets,
    field_value,
    label,
    window_text,
)

DEVICE_KEYS = ("size", "steps", "batch_size", "base_channels", "max_channels")


def new_run_dir(root: Path | None = None) -> Path:
    """A fresh, timestamped run folder under ``~/napari-medgan/runs`` (not created)."""
    root = root or Path.home() / "napari-medgan" / "runs"
    base = root / time.strftime("run-%Y%m%d-%H%M%S")
    path, i = base, 1
    while path.exists():
        i += 1
        path = base.with_name(f"{base.name}-{i}")
    return path


class TrainSettings(QWidget):
    """Device, resolution, steps, loss, augmentation... bound to ``config``.

    Parameters
    ----------
    config : TrainConfig, optional
        The object to edit; defaults suit the best available device.

    Signals
    -------
    family_changed(str)
        ``config.family`` changed (a family was picked, or a run folder's settings adopted).
    """

    family_changed = Signal(str)

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
        basic, advanced = basic_widgets(), advanced_widgets()
        self.fields.update(basic)
        self.fields.update(advanced)
        self.device_note = QLabel()
        self.device_note.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        # presets instead of knobs: picking one sets the recipe; every field still overrides it
        self.preset = mw.ComboBox(choices=list(PRESETS), value=self._device_preset())
        self.preset.tooltip = "cpu: 64 px, 800 steps; gpu: 128 px (256 with size 256)"
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
            form.addRow(label(name), widget.native)
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
                elif name == "ct_window":
                    value = window_text(value)
                    if value is None:  # an unreadable entry: keep the user's text on show
                        continue
                    widget.native.setStyleSheet("")
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
        family = self.config.family
        for name, value in changes.items():
            setattr(self.config, name, value)
        self.config.__post_init__()
        self.refresh()
        if self.config.family != family:
            self.family_changed.emit(self.config.family)

    def set_family(self, name: str) -> None:
        """Train a model of family ``name``: its recipe for the current preset fills the form."""
        if name == self.config.family:
            return
        recipe = preset(self.preset.value, family=name)
        self.apply(family=name, **{k: getattr(recipe, k) for k in RECIPE_KEYS})

    def _on_change(self, name: str, value: Any) -> None:
        if self._updating:
            return
        value = field_value(name, value)
        setattr(self.config, name, value)
        if name == "ct_window":  # the one typed field: mark an unreadable entry at once
            bad = value is BAD_WINDOW
            self.fields[name].native.setStyleSheet("border: 1px solid #ff6b6b;" if bad else "")
        if name == "device":
            self._device_defaults(value)
        self._update_device_note()

    def _device_defaults(self, device: str) -> None:
        try:
            kind = resolve_device(device).type
        except ConfigError:
            return
        defaults = preset(preset_for_device(kind), family=self.config.family)
        self.apply(**{k: getattr(defaults, k) for k in DEVICE_KEYS})
        self.preset.value = preset_for_device(kind)

    def _device_preset(self) -> str:
        try:
            return preset_for_device(resolve_device(self.config.device).type)
        except ConfigError:
            return "cpu"

    def _apply_preset(self, name: str) -> None:
        size = self.config.size if (name == "gpu") == (self.config.size >= 128) else None
        recipe = preset(name, size=size, family=self.config.family)
        self.apply(**{k: getattr(recipe, k) for k in RECIPE_KEYS})

    def _update_device_note(self) -> None:
        try:
            device = resolve_device(self.config.device)
        except ConfigError as exc:
            text, style = str(exc), "color: #ff6b6b;"
        else:
            if device.type == "cpu":
                text = (
                    "⚠ Training will run on the CPU: about a second or more per step at 64 px "
                    "on a laptop. Keep the size at 32-64 px, or set 'train for' to a time budget."
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
