"""One training configuration, shared by the CLI, the widgets and the checkpoints."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

# the allowed values of the settings, declared in .settings and used here, in the CLI and widgets
from .settings import ARCHS as ARCHS
from .settings import AUGMENT_OPS as AUGMENT_OPS
from .settings import CLASS_INPUTS as CLASS_INPUTS
from .settings import DISCRIMINATORS as DISCRIMINATORS
from .settings import FAMILIES as FAMILIES
from .settings import LOSSES as LOSSES
from .settings import MAX_HOLDOUT_SLABS as MAX_HOLDOUT_SLABS
from .settings import PRECISIONS as PRECISIONS
from .settings import SETTING, SETTINGS
from .settings import SIZES as SIZES


class ConfigError(ValueError):
    """A setting is out of range or inconsistent; the message says which and why."""


def _spec(name: str) -> Any:
    """The field of setting ``name``: its default and declaration come from ``SETTING``."""
    return SETTING[name].field()


@dataclass
class TrainConfig:
    """Everything that defines a training run: one field per setting.

    Each setting's default, allowed values, help, the families that read it and whether a resume
    may change it are declared once, in :data:`napari_medgan.engine.settings.SETTINGS` (the
    field's ``metadata["setting"]``); docs/cli.md tables them. ``extra`` is free-form metadata,
    not a setting.
    """

    family: str = _spec("family")
    size: int = _spec("size")
    steps: int = _spec("steps")
    minutes: float = _spec("minutes")
    batch_size: int = _spec("batch_size")
    lr_g: float = _spec("lr_g")
    lr_d: float = _spec("lr_d")
    beta1: float = _spec("beta1")
    beta2: float = _spec("beta2")
    loss: str = _spec("loss")
    l1_weight: float = _spec("l1_weight")
    fm_weight: float = _spec("fm_weight")
    crop: int = _spec("crop")
    r1_gamma: float = _spec("r1_gamma")
    r1_every: int = _spec("r1_every")
    augment: tuple[str, ...] = _spec("augment")
    augment_p: float = _spec("augment_p")
    ada_target: float = _spec("ada_target")
    arch: str = _spec("arch")
    class_input: str = _spec("class_input")
    discriminator: str = _spec("discriminator")
    d_spectral_norm: bool = _spec("d_spectral_norm")
    channels_last: bool = _spec("channels_last")
    compile: bool = _spec("compile")
    precision: str = _spec("precision")
    ct_window: tuple[float, float] | None = _spec("ct_window")
    ema_decay: float = _spec("ema_decay")
    z_dim: int = _spec("z_dim")
    base_channels: int = _spec("base_channels")
    max_channels: int = _spec("max_channels")
    slice_axis: int = _spec("slice_axis")
    min_foreground: float = _spec("min_foreground")
    preview_every: int = _spec("preview_every")
    checkpoint_every: int = _spec("checkpoint_every")
    keep_checkpoints: int = _spec("keep_checkpoints")
    holdout: float = _spec("holdout")
    holdout_slabs: int = _spec("holdout_slabs")
    score_every: int = _spec("score_every")
    device: str = _spec("device")
    seed: int = _spec("seed")
    out_dir: str = _spec("out_dir")
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.augment, str):
            self.augment = tuple(a for a in self.augment.replace(" ", "").split(",") if a)
        else:
            self.augment = tuple(self.augment)
        if self.ct_window is not None:
            self.ct_window = tuple(float(v) for v in self.ct_window)

    def validate(self) -> TrainConfig:
        """Check every setting; raise :class:`ConfigError` naming the first bad one.

        Ranges and choices come from each setting's declaration (``Setting.problem``), in field
        order; the checks of :data:`CHECKS` (syntax, several settings at once) follow their
        setting's own.

        Returns
        -------
        TrainConfig
            ``self``, so calls can be chained.
        """
        for s in SETTINGS:
            problem = s.problem(getattr(self, s.name))
            if problem is None and s.name in CHECKS:
                problem = CHECKS[s.name](self)
            if problem is not None:
                raise ConfigError(problem)
        return self

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict."""
        d = dataclasses.asdict(self)
        d["augment"] = list(self.augment)
        if self.ct_window is not None:
            d["ct_window"] = list(self.ct_window)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Build from :meth:`to_dict` output; unknown keys are refused with a clear error."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(unknown)}")
        d = dict(d)
        if "arch" not in d and "z_dim" in d:
            d.update(LEGACY)  # saved before these settings existed: the seed's behaviour
        if "z_dim" in d:  # saved before these settings existed: what was used then
            d.setdefault("class_input", "embedding")
            d.setdefault("discriminator", "projection")
        return cls(**d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some settings changed."""
        return dataclasses.replace(self, **changes)


#: What checkpoints written before ``arch`` existed were trained with.
LEGACY: dict[str, Any] = {
    "arch": "upconv",
    "augment_p": 1.0,
    "ada_target": 0.0,
    "ema_decay": 0.999,
}

PRESETS = ("cpu", "gpu")
#: The settings a preset decides (the rest — data, device, seed, folders — stay the user's).
RECIPE_KEYS = tuple(s.name for s in SETTINGS if s.recipe)


def preset(
    name: str, size: int | None = None, device: str = "auto", family: str = "gan"
) -> TrainConfig:
    """Settings chosen by measurement (docs/quality.md) for a kind of machine and family.

    Parameters
    ----------
    name : str
        ``"cpu"``: 64 px, 800 steps; ``"gpu"``: 128 px
        (or 256 with ``size=256``), bf16 where supported, larger networks and batches.
    size : int, optional
        Training size; the preset's own when omitted.
    device : str
        Stored in the returned config.
    family : str
        ``"translate"`` and ``"mask2image"`` get their own recipes (docs/translation.md,
        docs/mask2image.md).
    """
    if family == "translate":
        return translate_preset(name, size, device)
    if family == "mask2image":
        return mask2image_preset(name, size, device)
    if name == "cpu":
        size = size or 64
        return TrainConfig(size=size, steps=CPU_STEPS.get(size, 3000), device=device)
    if name == "gpu":
        size = size or 128
        wide = size >= 256
        return TrainConfig(
            size=size,
            steps=20000,
            batch_size=32 if wide else 64,
            base_channels=32 if wide else 64,
            max_channels=512,
            r1_every=16,
            checkpoint_every=2000,
            preview_every=200,
            channels_last=True,
            device=device,
        )
    raise ConfigError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")


def translate_preset(name: str, size: int | None = None, device: str = "auto") -> TrainConfig:
    """The ``translate`` family's recipe: a half-width U-Net, small batches, plenty of steps."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
    gpu = name == "gpu"
    size = size or 128
    return TrainConfig(
        family="translate",
        size=size,
        crop=0 if gpu or size <= 64 else 64,
        steps=20000 if gpu else TRANSLATE_CPU_STEPS.get(size, 1500),
        batch_size=32 if gpu else 16,
        base_channels=64 if gpu else 32,
        max_channels=256,
        channels_last=gpu,
        checkpoint_every=2000 if gpu else 500,
        device=device,
    )


def mask2image_preset(name: str, size: int | None = None, device: str = "auto") -> TrainConfig:
    """The ``mask2image`` family's recipe: 64 px on a CPU, 128 px on a GPU."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
    gpu = name == "gpu"
    size = size or (128 if gpu else 64)
    return TrainConfig(
        family="mask2image",
        size=size,
        crop=0 if gpu or size <= 64 else 64,
        steps=20000 if gpu else MASK2IMAGE_CPU_STEPS.get(size, 1500),
        batch_size=32 if gpu else 16,
        base_channels=64 if gpu else 32,
        max_channels=256,
        channels_last=gpu,
        checkpoint_every=2000 if gpu else 500,
        device=device,
    )


#: Steps of the ``mask2image`` family's ``cpu`` preset per size (at 64 px, 600 steps already
#: gave held-out syntheses a tissue-classifier Dice of 0.89 of the real slices';
#: docs/mask2image.md).
MASK2IMAGE_CPU_STEPS = {32: 4000, 64: 1500, 128: 1500, 256: 1200}

#: Steps of the ``translate`` family's ``cpu`` preset per size (about 15 CPU-minutes; from 128 px
#: up it trains on 64 px windows, so a step costs about what a 64 px step does).
TRANSLATE_CPU_STEPS = {32: 4000, 64: 1500, 128: 1500, 256: 1200}

#: Steps of the ``cpu`` preset per size (64 px: 800 steps took 673 s on a busy 2-core machine,
#: the demo run of docs/quality.md; the others scaled from the measured throughput).
CPU_STEPS = {32: 3000, 64: 800, 128: 200, 256: 50}


def parse_ct_window(text: str) -> tuple[float, float] | None:
    """``"LOW,HIGH"`` (HU, spaces allowed) as ``ct_window``; ``None`` for ``""`` or ``"none"``.

    The one reading of the CT window text for the CLI and the widgets; each caller words its own
    error. ``LOW < HIGH`` is checked by :meth:`TrainConfig.validate`.

    Raises
    ------
    ValueError
        When the text is not two finite numbers separated by a comma.
    """
    text = text.strip()
    if text.lower() in ("", "none"):
        return None
    low, high = (float(v) for v in text.split(","))
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"CT window bounds must be finite (got {text!r})")
    return low, high


def preset_for_device(device: str) -> str:
    """``"gpu"`` for CUDA devices, ``"cpu"`` otherwise (MPS runs take the CPU preset)."""
    return "gpu" if device.startswith("cuda") else "cpu"


def default_for_device(device: str) -> TrainConfig:
    """The preset that suits a device type (``"cuda"``, ``"cuda:1"``, ``"mps"``, ``"cpu"``)."""
    return preset(preset_for_device(device), device="auto" if device == "cpu" else device)


def _window_problem(config: TrainConfig) -> str | None:
    w = config.ct_window
    if w is not None and (len(w) != 2 or not all(math.isfinite(v) for v in w) or not w[0] < w[1]):
        return f"ct_window must be two finite numbers LOW,HIGH with LOW < HIGH (got {w})"
    return None


def _widths_problem(config: TrainConfig) -> str | None:
    if config.max_channels < config.base_channels:
        return "max_channels must be >= base_channels"
    return None


def _device_problem(config: TrainConfig) -> str | None:
    if isinstance(config.device, str) and _valid_device(config.device):
        return None
    return f"device must be {SETTING['device'].values} (got {config.device!r})"


#: The checks beyond a setting's own range or choices, run after it (by :meth:`validate`).
def _crop_problem(config: TrainConfig) -> str | None:
    if config.crop and config.crop >= config.size:
        return f"crop must be smaller than size ({config.crop} >= {config.size}); 0: whole slices"
    return None


CHECKS = {
    "crop": _crop_problem,
    "ct_window": _window_problem,
    "max_channels": _widths_problem,
    "device": _device_problem,
}


def _valid_device(device: str) -> bool:
    if device in ("auto", "cpu", "cuda", "mps"):
        return True
    if device.startswith("cuda:"):
        return device[5:].isdigit()
    return False
