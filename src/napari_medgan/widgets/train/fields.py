"""The input widgets of the Train GAN settings form, one per ``TrainConfig`` field, and tips.

``TrainSettings`` (``settings.py``) lays them out and binds them to its config; the
builders live here so the form stays small. Field names are ``TrainConfig``'s.
"""

from __future__ import annotations

import math
from typing import Any

from magicgui import widgets as mw

from napari_medgan.engine import available_devices
from napari_medgan.engine.config import parse_ct_window
from napari_medgan.engine.settings import SETTINGS, Setting

AXES = {"axial (0)": 0, "coronal (1)": 1, "sagittal (2)": 2}
#: What an unreadable ``ct window`` entry is stored as: ``TrainConfig.validate`` refuses it, so
#: Start says so instead of training with a window the user did not mean.
BAD_WINDOW = (math.nan, math.nan)
#: Each field's tooltip: the setting's one-line help from the spec (``engine.settings``).
TIPS = {s.name: s.help for s in SETTINGS}
#: Form labels that say more than the field name.
LABELS = {"minutes": "train for (min)"}
#: What a spin box shows at its minimum, where that value means "off".
AT_MINIMUM = {"minutes": "no limit (steps)"}
#: Spin-box steps (and a top for unbounded ranges) where the default of 1 / 0.01 does not fit.
STEPS = {
    "steps": (100, 10_000_000), "minutes": (1.0, 100_000.0), "batch_size": (1, 4096),
    "lr_g": (1e-5, 1.0),
    "lr_d": (1e-5, 1.0), "beta2": (1e-4, 1.0), "ema_decay": (1e-4, 1.0), "r1_gamma": (0.1, 1000.0),
    "l1_weight": (1.0, 10_000.0), "ada_target": (0.05, 1.0), "augment_p": (0.05, 1.0),
    "holdout": (0.05, 0.5), "z_dim": (1, 4096), "base_channels": (1, 1024),
    "max_channels": (1, 4096), "preview_every": (10, 1_000_000),
    "checkpoint_every": (100, 1_000_000), "score_every": (50, 1_000_000),
    "keep_checkpoints": (1, 1000), "r1_every": (1, 1000), "seed": (1, 2**31 - 1),
}  # fmt: skip


def _window_edit() -> mw.LineEdit:
    edit = mw.LineEdit()
    edit.native.setPlaceholderText("default: -1000,2000 HU")
    return edit


def label(name: str) -> str:
    """The form's label of the field ``name``."""
    return LABELS.get(name, name.replace("_", " "))


def field_widget(s: Setting) -> mw.Widget:
    """The input widget of one setting: its choices or range come from the spec."""
    special = {
        "device": lambda: mw.ComboBox(choices=available_devices()),
        "slice_axis": lambda: mw.ComboBox(choices=list(AXES.items())),
        "augment": lambda: mw.Select(choices=list(s.choices), allow_multiple=True),
        "out_dir": lambda: mw.FileEdit(mode="d"),
        "ct_window": _window_edit,
    }
    if s.name in special:
        return special[s.name]()
    if s.choices:
        return mw.ComboBox(choices=list(s.choices))
    if s.type is bool:
        return mw.CheckBox()
    step, cap = STEPS.get(s.name, (1 if s.type is int else 0.01, 1.0))
    lo, hi = s.spin_range(step, cap)
    if s.type is int:
        spin = mw.SpinBox(min=int(lo), max=int(hi), step=int(step))
    else:
        spin = mw.FloatSpinBox(min=lo, max=hi, step=step)
    if s.name in AT_MINIMUM:
        spin.native.setSpecialValueText(AT_MINIMUM[s.name])
    return spin


def _group(name: str) -> dict[str, mw.Widget]:
    return {s.name: field_widget(s) for s in SETTINGS if s.group == name}


def basic_widgets() -> dict[str, mw.Widget]:
    """The fields always on show (the spec's ``basic`` group), device first."""
    widgets = _group("basic")
    return {"device": widgets.pop("device"), **widgets}


def advanced_widgets() -> dict[str, mw.Widget]:
    """The fields of the collapsed Advanced settings (the spec's ``advanced`` group)."""
    return _group("advanced")


def window_text(window: tuple[float, float] | None) -> str | None:
    """``ct_window`` as the ``ct window`` field shows it (empty: the default window).

    ``None`` for an unreadable entry (:data:`BAD_WINDOW`): the field keeps what was typed.
    """
    if window is None:
        return ""
    if any(math.isnan(v) for v in window):
        return None
    return f"{window[0]:g},{window[1]:g}"


def field_value(name: str, value: Any) -> Any:
    """A widget's value as the ``TrainConfig`` field ``name`` holds it."""
    if name == "augment":
        return tuple(value)
    if name == "out_dir":
        return str(value)
    if name == "ct_window":  # empty or "none": the default window
        try:
            return parse_ct_window(value)
        except ValueError:
            return BAD_WINDOW
    return value
