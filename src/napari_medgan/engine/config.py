"""One training configuration, shared by the CLI, the widgets and the checkpoints."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

#: Model families (``engine.families`` registers one class per name).
FAMILIES = ("gan", "translate")
LOSSES = ("nonsaturating", "minimax", "hinge")
AUGMENT_OPS = (
    "translation",
    "rotation",
    "scale",
    "flip",
    "brightness",
    "contrast",
    "gamma",
    "cutout",
)
ARCHS = ("dcgan", "upconv")
CLASS_INPUTS = ("onehot", "embedding")
DISCRIMINATORS = ("batchnorm", "projection")
PRECISIONS = ("auto", "bf16", "fp16", "fp32")
SIZES = (32, 64, 128, 256)
MAX_HOLDOUT_SLABS = 8  # held-out slabs per single-scan condition (TrainConfig.holdout_slabs)


class ConfigError(ValueError):
    """A setting is out of range or inconsistent; the message says which and why."""


@dataclass
class TrainConfig:
    """Everything that defines a training run.

    Parameters
    ----------
    family : str
        The model family (``engine.families``): ``"gan"`` (noise + class → image) or
        ``"translate"`` (a source image → the same slice in a target contrast).
    size : int
        Training resolution in pixels (square), a power of two from 32 to 256.
    steps : int
        Total number of discriminator/generator update pairs.
    batch_size : int
        Images per batch (real and fake each).
    lr_g, lr_d : float
        Adam learning rates of the generator and the discriminator.
    beta1, beta2 : float
        Adam betas (shared by both networks).
    loss : str
        ``"nonsaturating"`` (default), ``"minimax"`` (the original GAN game) or ``"hinge"``.
    l1_weight : float
        ``translate`` only: weight of the L1 distance to the target beside the adversarial loss
        (pix2pix's 100); 0 trains on the adversarial loss alone.
    r1_gamma : float
        Weight of the R1 gradient penalty on real images; 0 disables it.
    r1_every : int
        Apply R1 every this many steps (lazy regularisation, weight scaled to match).
    augment : tuple of str
        Differentiable augmentations applied to real and fake images alike (empty: none);
        ``flip`` (left-right) changes laterality and is off unless listed.
    augment_p : float
        Probability of each augmentation per image: the start value when ``ada_target`` > 0,
        the fixed value otherwise.
    ada_target : float
        Adaptive augmentation (ADA): raise the probability while ``E[sign(D(real))]`` exceeds
        this target (0 disables adaptation).
    arch : str
        ``"dcgan"`` (the default: transposed convolutions, class-conditional BatchNorm; the
        textbook nets' FLOPs) or ``"upconv"`` (nearest upsampling + 3×3 convolutions; what
        checkpoints before this setting used); see docs/quality.md.
    class_input : str
        How the class joins the generator's latent: ``"onehot"`` (the default) or
        ``"embedding"`` (a learned embedding at the latent's scale; it made every sample of a
        condition alike at 64 px, docs/quality.md; checkpoints written before this setting
        existed use it).
    discriminator : str
        ``"batchnorm"`` (the DCGAN discriminator: BatchNorm, the class as input planes) or
        ``"projection"`` (spectral norm, minibatch standard deviation and a class projection
        head; with it the generators collapsed to one image per condition at 64 px,
        docs/quality.md; checkpoints written before this setting existed use it).
    d_spectral_norm : bool
        Spectral normalisation of the ``dcgan`` projection discriminator's layers (``upconv``'s
        always has it).
    channels_last : bool
        Channels-last memory layout (faster convolutions on some CPUs and on GPUs).
    compile : bool
        Compile the generator and discriminator with ``torch.compile`` (``engine.compiling``):
        about 1.07× the images per CPU-second on the test CPU after a one-off compilation of one
        to three minutes; worth it for runs of an hour or more. Where compiling is not possible
        training runs without it.
    precision : str
        ``"auto"`` (bf16 on GPUs and on CPUs that support it natively, fp16 + loss scaling on
        older GPUs, fp32 elsewhere), or one of ``"bf16"``, ``"fp16"``, ``"fp32"``.
    ct_window : tuple of float or None
        CT intensity window (HU) mapped to the model range; None uses the default
        (``engine.data.CT_WINDOW``).
    ema_decay : float
        Decay of the exponential moving average of the generator used for sampling; 0 disables.
    z_dim : int
        Dimension of the latent vector.
    base_channels : int
        Channel width at the highest resolution; deeper layers double it up to ``max_channels``.
    max_channels : int
        Upper bound on the channel width of any layer.
    slice_axis : int
        Axis of 3D volumes along which 2D training slices are taken (0, 1 or 2, array order).
    min_foreground : float
        Slices whose fraction of foreground pixels is below this are skipped as near-empty.
    preview_every : int
        Attach preview samples to a report every this many steps (0: never).
    checkpoint_every : int
        Save a checkpoint every this many steps (0: only at the end and on stop).
    keep_checkpoints : int
        How many periodic checkpoints to keep on disk (the newest ones).
    holdout : float
        Share of each condition's slices held out from training (whole scans when a condition
        has several, else a slab with a gap; see ``engine.holdout``), in [0, 0.5]; 0 disables.
    holdout_slabs : int
        Held-out slabs per scan when a condition has a single scan (1 to 8; default 2, one in
        each half of the slice range). Each costs ``2 * gap`` more training slices and widens
        the anatomy the held-out reference shows (docs/evaluation.md).
    score_every : int
        Score the EMA generator against the held-out slices every this many steps and keep the
        best checkpoint (0: never; nothing is scored without held-out data).
    device : str
        ``"auto"`` (cuda > mps > cpu), ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.
    seed : int
        Seed of every random choice of the run (weights, batches, latents, augmentation).
    out_dir : str
        Folder of the run: checkpoints and previews go there.
    """

    family: str = "gan"
    size: int = 64
    steps: int = 2000
    # the textbook DCGAN recipe (Radford et al., 2015) with a one-hot class code, the BatchNorm
    # discriminator and EMA sampling: the only one of our recipes whose 64 px samples stay as
    # varied as real slices (docs/quality.md, benchmarks/results_quality.md)
    batch_size: int = 64
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    loss: str = "nonsaturating"
    l1_weight: float = 100.0
    r1_gamma: float = 0.0
    r1_every: int = 16
    # ADA over the medical-safe ops (no flips): lower SWD at 180 and 360 CPU-s than no
    # augmentation, samples as varied and farther from the training slices (docs/quality.md)
    augment: tuple[str, ...] = ("translation", "rotation", "scale", "gamma", "contrast", "cutout")
    augment_p: float = 0.0
    ada_target: float = 0.6
    arch: str = "dcgan"
    class_input: str = "onehot"
    discriminator: str = "batchnorm"
    d_spectral_norm: bool = True
    channels_last: bool = False
    compile: bool = False
    precision: str = "auto"
    ct_window: tuple[float, float] | None = None
    ema_decay: float = 0.999
    z_dim: int = 128
    base_channels: int = 64
    max_channels: int = 512
    slice_axis: int = 0
    min_foreground: float = 0.05
    preview_every: int = 100
    checkpoint_every: int = 500
    keep_checkpoints: int = 2
    holdout: float = 0.2
    holdout_slabs: int = 2
    score_every: int = 250
    device: str = "auto"
    seed: int = 0
    out_dir: str = "medgan-run"
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

        Returns
        -------
        TrainConfig
            ``self``, so calls can be chained.
        """
        if self.family not in FAMILIES:
            raise ConfigError(
                f"family must be one of {', '.join(FAMILIES)} (got {self.family!r})"
            )
        if self.size not in SIZES:
            raise ConfigError(f"size must be one of {', '.join(map(str, SIZES))} (got {self.size})")
        _positive_int("steps", self.steps)
        _positive_int("batch_size", self.batch_size)
        for name in ("lr_g", "lr_d"):
            value = getattr(self, name)
            if not (0 < value < 1):
                raise ConfigError(f"{name} must be between 0 and 1 (got {value})")
        for name in ("beta1", "beta2"):
            value = getattr(self, name)
            if not (0 <= value < 1):
                raise ConfigError(f"{name} must be in [0, 1) (got {value})")
        if self.loss not in LOSSES:
            raise ConfigError(f"loss must be one of {', '.join(LOSSES)} (got {self.loss!r})")
        if not (math.isfinite(self.l1_weight) and self.l1_weight >= 0):
            raise ConfigError(f"l1_weight must be a number >= 0 (got {self.l1_weight})")
        if self.r1_gamma < 0:
            raise ConfigError(f"r1_gamma must be >= 0 (got {self.r1_gamma})")
        _positive_int("r1_every", self.r1_every)
        unknown = [a for a in self.augment if a not in AUGMENT_OPS]
        if unknown:
            raise ConfigError(
                f"unknown augmentation {unknown[0]!r}; choose from {', '.join(AUGMENT_OPS)}"
            )
        if not (0 <= self.augment_p <= 1):
            raise ConfigError(f"augment_p must be in [0, 1] (got {self.augment_p})")
        if not (0 <= self.ada_target < 1):
            raise ConfigError(f"ada_target must be in [0, 1) (got {self.ada_target})")
        if self.arch not in ARCHS:
            raise ConfigError(f"arch must be one of {', '.join(ARCHS)} (got {self.arch!r})")
        if self.discriminator not in DISCRIMINATORS:
            raise ConfigError(
                f"discriminator must be one of {', '.join(DISCRIMINATORS)} "
                f"(got {self.discriminator!r})"
            )
        if self.class_input not in CLASS_INPUTS:
            raise ConfigError(
                f"class_input must be one of {', '.join(CLASS_INPUTS)} (got {self.class_input!r})"
            )
        if self.precision not in PRECISIONS:
            raise ConfigError(
                f"precision must be one of {', '.join(PRECISIONS)} (got {self.precision!r})"
            )
        if self.ct_window is not None and (
            len(self.ct_window) != 2
            or not all(math.isfinite(v) for v in self.ct_window)
            or not self.ct_window[0] < self.ct_window[1]
        ):
            raise ConfigError(
                "ct_window must be two finite numbers LOW,HIGH with LOW < HIGH "
                f"(got {self.ct_window})"
            )
        if not (0 <= self.ema_decay < 1):
            raise ConfigError(f"ema_decay must be in [0, 1) (got {self.ema_decay})")
        _positive_int("z_dim", self.z_dim)
        _positive_int("base_channels", self.base_channels)
        if self.max_channels < self.base_channels:
            raise ConfigError("max_channels must be >= base_channels")
        if self.slice_axis not in (0, 1, 2):
            raise ConfigError(f"slice_axis must be 0, 1 or 2 (got {self.slice_axis})")
        if not (0 <= self.min_foreground < 1):
            raise ConfigError(f"min_foreground must be in [0, 1) (got {self.min_foreground})")
        for name in ("preview_every", "checkpoint_every"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0 (got {getattr(self, name)})")
        _positive_int("keep_checkpoints", self.keep_checkpoints)
        if (
            isinstance(self.holdout, bool)
            or not isinstance(self.holdout, (int, float))
            or not (0 <= self.holdout <= 0.5)
        ):
            raise ConfigError(
                f"holdout must be a fraction between 0 and 0.5 (got {self.holdout!r})"
            )
        if (
            not isinstance(self.holdout_slabs, int)
            or isinstance(self.holdout_slabs, bool)
            or not 1 <= self.holdout_slabs <= MAX_HOLDOUT_SLABS
        ):
            raise ConfigError(
                f"holdout_slabs must be a whole number of slabs from 1 to {MAX_HOLDOUT_SLABS} "
                f"(got {self.holdout_slabs!r})"
            )
        if (
            not isinstance(self.score_every, int)
            or isinstance(self.score_every, bool)
            or self.score_every < 0
        ):
            raise ConfigError(
                f"score_every must be a whole number of steps >= 0 (got {self.score_every!r})"
            )
        if not _valid_device(self.device):
            raise ConfigError(
                f"device must be auto, cpu, cuda, cuda:N or mps (got {self.device!r})"
            )
        if not self.out_dir:
            raise ConfigError("out_dir must not be empty")
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
RECIPE_KEYS = (
    "size", "steps", "batch_size", "lr_g", "lr_d", "beta1", "beta2", "loss", "r1_gamma",
    "r1_every", "augment", "augment_p", "ada_target", "arch", "class_input", "discriminator",
    "d_spectral_norm", "channels_last", "precision", "ema_decay", "z_dim", "base_channels",
    "max_channels",
)  # fmt: skip


def preset(
    name: str, size: int | None = None, device: str = "auto", family: str = "gan"
) -> TrainConfig:
    """Settings chosen by measurement (docs/quality.md) for a kind of machine and family.

    Parameters
    ----------
    name : str
        ``"cpu"``: 64 px, 800 steps (about 11 minutes on 2 cores); ``"gpu"``: 128 px
        (or 256 with ``size=256``), bf16 where supported, larger networks and batches.
    size : int, optional
        Training size; the preset's own when omitted.
    device : str
        Stored in the returned config.
    family : str
        ``"translate"`` gets its own recipe (docs/translation.md).
    """
    if family == "translate":
        return translate_preset(name, size, device)
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
    size = size or (128 if gpu else 64)
    return TrainConfig(
        family="translate",
        size=size,
        steps=20000 if gpu else TRANSLATE_CPU_STEPS.get(size, 1500),
        batch_size=32 if gpu else 16,
        base_channels=64 if gpu else 32,
        max_channels=256,
        channels_last=gpu,
        checkpoint_every=2000 if gpu else 500,
        device=device,
    )


#: Steps of the ``translate`` family's ``cpu`` preset per size (64 px: about 15 CPU-minutes).
TRANSLATE_CPU_STEPS = {32: 4000, 64: 1500, 128: 400, 256: 100}

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


def _positive_int(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{name} must be a positive integer (got {value!r})")


def _valid_device(device: str) -> bool:
    if device in ("auto", "cpu", "cuda", "mps"):
        return True
    if device.startswith("cuda:"):
        return device[5:].isdigit()
    return False
