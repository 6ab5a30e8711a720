"""The input widgets of the Train GAN settings form, one per ``TrainConfig`` field, and tips.

``TrainSettings`` (``settings.py``) lays them out and binds them to its config; the
builders live here so the form stays small. Field names are ``TrainConfig``'s.
"""

from __future__ import annotations

import math
from typing import Any

from magicgui import widgets as mw

from napari_medgan.engine import AUGMENT_OPS, LOSSES, SIZES, available_devices
from napari_medgan.engine.config import (
    ARCHS,
    CLASS_INPUTS,
    DISCRIMINATORS,
    MAX_HOLDOUT_SLABS,
    PRECISIONS,
    parse_ct_window,
)

AXES = {"axial (0)": 0, "coronal (1)": 1, "sagittal (2)": 2}
#: What an unreadable ``ct window`` entry is stored as: ``TrainConfig.validate`` refuses it, so
#: Start says so instead of training with a window the user did not mean.
BAD_WINDOW = (math.nan, math.nan)
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
    "precision": "auto: bf16 on GPUs and CPUs that support it natively, fp16 + loss scaling on "
    "older GPUs, fp32 elsewhere",
    "compile": "compile the networks with torch.compile: about 1.07x faster training after a "
    "one-off compile of 1-3 minutes, worth it for runs of an hour or more (needs a C++ compiler; "
    "trains without it otherwise)",
    "augment_p": "augmentation probability per image: the start value with adaptive "
    "augmentation, the fixed value without (ada target 0)",
    "d_spectral_norm": "spectral normalisation of the dcgan projection discriminator",
    "channels_last": "channels-last memory layout: faster convolutions on GPUs and some CPUs",
    "z_dim": "size of the generator's latent vector",
    "ema_decay": "moving average of the generator used for previews and sampling",
    "ct_window": "CT window in HU mapped to the model's range, LOW,HIGH (e.g. -1000,2000); "
    "empty: the default -1000,2000 (air to dense bone; metal above is clipped). MR and PET "
    "scans are scaled by their percentiles instead",
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


def _spin(lo: int, hi: int, step: int = 1) -> mw.SpinBox:
    return mw.SpinBox(min=lo, max=hi, step=step)


def _float(lo: float, hi: float, step: float) -> mw.FloatSpinBox:
    return mw.FloatSpinBox(min=lo, max=hi, step=step)


def _window_edit() -> mw.LineEdit:
    edit = mw.LineEdit()
    edit.native.setPlaceholderText("default: -1000,2000 HU")
    return edit


def basic_widgets() -> dict[str, mw.Widget]:
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


def advanced_widgets() -> dict[str, mw.Widget]:
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
        "compile": mw.CheckBox(),
        "min_foreground": _float(0.0, 0.99, 0.01),
        "ct_window": _window_edit(),
        "preview_every": _spin(0, 1_000_000, 10),
        "checkpoint_every": _spin(0, 1_000_000, 100),
        "holdout_slabs": _spin(1, MAX_HOLDOUT_SLABS),
        "score_every": _spin(0, 1_000_000, 50),
        "keep_checkpoints": _spin(1, 1000),
        "seed": _spin(0, 2**31 - 1),
    }


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
