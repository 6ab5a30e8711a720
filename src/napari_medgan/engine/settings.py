"""Every training setting, declared once: default, allowed values, help, families, resume, CLI.

:data:`SETTINGS` holds one :class:`Setting` per field of
:class:`~napari_medgan.engine.config.TrainConfig`, in the field order (the order of ``--help``,
of the Train widget's form and of docs/cli.md). Everything else is derived from it:

- the dataclass fields' defaults (:meth:`Setting.field`);
- :meth:`TrainConfig.validate`'s range and choice checks (:meth:`Setting.problem`; the few checks
  that involve several settings or a syntax stay in ``config.py``);
- the preset's keys (``config.RECIPE_KEYS``) and the settings a resume may change
  (``resume.ALLOWED_CHANGES``);
- the named options of ``napari-medgan train`` / ``demo`` and ``--set`` (``cli/train.py``,
  ``cli/overrides.py``);
- the settings table of docs/cli.md (:func:`markdown_table`; :func:`write_table` rewrites it);
- the Train widget's tooltips, choices and ranges (:attr:`Setting.help`, :attr:`Setting.choices`,
  :meth:`Setting.spin_range`, :attr:`Setting.group`).

This module imports nothing of the engine at import time (``config.py`` builds on it).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import typing
from dataclasses import dataclass
from typing import Any

#: Model families (``engine.families`` registers one class per name).
FAMILIES = ("gan", "translate", "mask2image")
LOSSES = ("nonsaturating", "minimax", "hinge")
AUGMENT_OPS = (
    "translation", "rotation", "scale", "flip", "brightness", "contrast", "gamma", "cutout",
)  # fmt: skip
ARCHS = ("dcgan", "upconv")
CLASS_INPUTS = ("onehot", "embedding")
DISCRIMINATORS = ("batchnorm", "projection")
PRECISIONS = ("auto", "bf16", "fp16", "fp32")
SIZES = (32, 64, 128, 256)
MAX_HOLDOUT_SLABS = 8  # held-out slabs per single-scan condition (TrainConfig.holdout_slabs)
GROUPS = ("model", "basic", "advanced", "")  # "": not in the Train widget


@dataclass(frozen=True)
class Setting:
    """One training setting: what it is, what it may be, who reads it and where it is shown.

    Attributes
    ----------
    name, type, default
        The ``TrainConfig`` field: its name, annotation and default.
    help
        One line on what it does: the CLI help, the widget's tooltip, the docs table's text.
    choices
        The allowed values (for a list-valued setting such as ``augment``: of each item).
    minimum, maximum, exclusive_min, exclusive_max
        The allowed range of a number (``None``: unbounded on that side).
    noun
        What the error message calls a valid value ("a fraction", "a whole number of slabs");
        ``"unknown <noun> 'x'"`` for a list-valued setting's bad item.
    values
        The allowed values in words, where a range or choices cannot say it (``device``).
    families
        The model families that read it (``"all"``, or a tuple of :data:`FAMILIES`).
    resume_changeable
        Whether a resumed run may change it (it does not change what the networks learn).
    group
        Where the Train widget shows it: ``"model"`` (the model choice at the top of the dock),
        ``"basic"``, ``"advanced"`` (the collapsed Advanced settings) or ``""`` (not in it).
    recipe
        Decided by a preset (``config.preset``); the rest stay the user's.
    option, metavar, cli_note
        The named command-line option (``None``: reached through ``--set`` only), its metavar
        and a note on its syntax for ``--help``.
    default_note
        What the default means, where the value alone does not say it.
    """

    name: str
    type: Any
    default: Any
    help: str
    choices: tuple[Any, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_min: bool = False
    exclusive_max: bool = False
    noun: str = ""
    values: str = ""
    families: str | tuple[str, ...] = "all"
    resume_changeable: bool = False
    group: str = "advanced"
    recipe: bool = False
    option: str | None = None
    metavar: str | None = None
    cli_note: str = ""
    default_note: str = ""

    def field(self) -> Any:
        """The ``dataclasses.field`` of ``TrainConfig`` that declares this setting."""
        return dataclasses.field(default=self.default, metadata={"setting": self})

    @property
    def is_list(self) -> bool:
        """A comma-separated list of choices (``augment``)."""
        return typing.get_origin(self.type) is tuple and typing.get_args(self.type)[-1] is ...

    def used_by(self, family: str) -> bool:
        """Whether the model family ``family`` reads this setting."""
        return self.families == "all" or family in self.families

    def rule(self) -> str:
        """The allowed values in words: ``"in [0, 1)"``, ``"a positive integer"``, ..."""
        if self.values:
            return self.values
        if self.choices is not None:
            return ("any of " if self.is_list else "one of ") + ", ".join(map(show, self.choices))
        if self.type is bool:
            return "true or false"
        lo, hi = self.minimum, self.maximum
        if self.type is int:
            if lo == 1 and hi is None and not self.noun:
                return "a positive integer"
            noun = self.noun or "a whole number"
            if lo is not None and hi is not None:
                return f"{noun} from {show(lo)} to {show(hi)}"
            return f"{noun} >= {show(lo)}" if lo is not None else noun
        if self.type is float:
            noun = self.noun or "a number"
            if lo is not None and hi is not None:
                if self.exclusive_min or self.exclusive_max:
                    return (
                        f"in {'(' if self.exclusive_min else '['}{show(lo)}, {show(hi)}"
                        f"{')' if self.exclusive_max else ']'}"
                    )
                return f"{noun} between {show(lo)} and {show(hi)}"
            if lo is not None:
                return f"{noun} {'>' if self.exclusive_min else '>='} {show(lo)}"
            return noun
        return "text"

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is not allowed (the :class:`ConfigError` message), or ``None``."""
        if self.is_list:
            for item in value:
                if item not in self.choices:
                    return f"unknown {self.noun} {item!r}; choose from {', '.join(self.choices)}"
            return None
        if self.type is bool:
            ok = value in (True, False)
        elif self.type is int:
            ok = isinstance(value, int) and not isinstance(value, bool) and self._in_range(value)
        elif self.type is float:
            ok = (
                isinstance(value, numbers.Real)
                and not isinstance(value, bool)
                and math.isfinite(value)
                and self._in_range(value)
            )
        elif self.type is str and self.choices is None:
            if not value:
                return f"{self.name} must not be empty"
            ok = True
        else:  # choices (below); the syntax of the others (ct_window) is checked in config.py
            ok = True
        if ok and self.choices is not None:
            ok = value in self.choices
        return None if ok else f"{self.name} must be {self.rule()} (got {value!r})"

    def _in_range(self, value: float) -> bool:
        lo, hi = self.minimum, self.maximum
        if lo is not None and (value <= lo if self.exclusive_min else value < lo):
            return False
        return hi is None or (value < hi if self.exclusive_max else value <= hi)

    def spin_range(self, step: float, cap: float) -> tuple[float, float]:
        """Inclusive bounds for a spin box: exclusive ends moved in by ``step``, ``cap`` above
        an unbounded range (0 below one)."""
        lo = 0 if self.minimum is None else self.minimum + (step if self.exclusive_min else 0)
        hi = cap if self.maximum is None else self.maximum - (step if self.exclusive_max else 0)
        return lo, hi


def show(value: Any) -> str:
    """A value as help, tables and messages write it: ``0.0002``, ``true``, ``none``, ``a, b``."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    if value is None:
        return "none"
    if isinstance(value, tuple):
        return ", ".join(map(show, value)) if value else "none"
    return str(value)


S = Setting
_UNIT = {"minimum": 0.0, "maximum": 1.0}  # a probability-like number in [0, 1)
_GAN = ("gan",)
SETTINGS: tuple[Setting, ...] = (
    S("family", str, "gan", "model family: gan = noise (+ condition) -> scan; translate = a "
      "source scan -> the same slices in a target contrast; mask2image = a label map "
      "(+ noise) -> a matching scan", choices=FAMILIES, group="model", option="--family"),
    S("size", int, 64, "training resolution in pixels (square); slices keep their aspect ratio",
      choices=SIZES, group="basic", recipe=True, option="--size"),
    S("steps", int, 2000, "discriminator/generator update pairs", minimum=1, group="basic",
      recipe=True, resume_changeable=True, option="--steps"),
    S("minutes", float, 0.0, "train for at most this many minutes of wall time (pauses excluded); "
      "the run ends at whichever of steps and minutes comes first", minimum=0.0,
      noun="a number of minutes", group="basic", resume_changeable=True, option="--minutes",
      default_note="0: no time limit; a resumed run gets its own budget"),
    # the textbook DCGAN recipe (Radford et al., 2015) with a one-hot class code, the BatchNorm
    # discriminator and EMA sampling: the only one of our recipes whose 64 px samples stay as
    # varied as real slices (docs/quality.md, benchmarks/results_quality.md)
    S("batch_size", int, 64, "images per batch, real and fake each", minimum=1, group="basic",
      recipe=True, option="--batch-size"),
    S("lr_g", float, 2e-4, "generator Adam learning rate", **_UNIT, exclusive_min=True,
      exclusive_max=True, recipe=True, option="--lr-g"),
    S("lr_d", float, 2e-4, "discriminator Adam learning rate", **_UNIT, exclusive_min=True,
      exclusive_max=True, recipe=True, option="--lr-d"),
    S("beta1", float, 0.5, "Adam beta1 of both networks", **_UNIT, exclusive_max=True,
      recipe=True),
    S("beta2", float, 0.999, "Adam beta2 of both networks", **_UNIT, exclusive_max=True,
      recipe=True),
    S("loss", str, "nonsaturating", "adversarial loss: nonsaturating, minimax (the original GAN "
      "game) or hinge", choices=LOSSES, group="basic", recipe=True, option="--loss"),
    S("l1_weight", float, 100.0, "weight of the L1 distance to the target beside the adversarial "
      "loss, pix2pix's 100; 0: the adversarial loss alone", minimum=0.0,
      families=("translate",), group="advanced", option="--l1-weight"),
    S("fm_weight", float, 10.0, "weight of feature matching (the discriminator's features of the "
      "synthetic image against the real one's, pix2pixHD's 10) beside the adversarial loss; 0: "
      "the adversarial loss alone", minimum=0.0, families=("mask2image",), group="advanced",
      option="--fm-weight"),
    S("crop", int, 0, "train on random CROP x CROP windows of the size-px slices (one window "
      "for source and target, or labels and image) and apply the model to whole slices; 0: "
      "whole slices", choices=(0, 32, 64, 128), families=("translate", "mask2image"),
      group="advanced", recipe=True),
    S("r1_gamma", float, 0.0, "R1 gradient penalty weight on real images; 0 disables it",
      minimum=0.0, recipe=True, option="--r1"),
    S("r1_every", int, 16, "lazy R1: apply it every this many steps, its weight scaled to match",
      minimum=1, recipe=True),
    # ADA over the medical-safe ops (no flips): lower SWD at 180 and 360 CPU-s than no
    # augmentation, samples as varied and farther from the training slices (docs/quality.md)
    S("augment", tuple[str, ...], ("translation", "rotation", "scale", "gamma", "contrast",
      "cutout"), "differentiable augmentations of real and fake images alike; flip changes "
      "laterality and is off unless listed", choices=AUGMENT_OPS, noun="augmentation",
      group="basic", recipe=True, option="--augment", metavar="OPS"),
    S("augment_p", float, 0.0, "augmentation probability per image: the start value with "
      "adaptive augmentation, the fixed value without (ada_target 0)", **_UNIT, recipe=True),
    S("ada_target", float, 0.6, "adaptive augmentation (ADA): raise the augmentation probability "
      "while E[sign D(real)] exceeds this; 0: a fixed probability", **_UNIT, exclusive_max=True,
      recipe=True, option="--ada-target"),
    S("arch", str, "dcgan", "networks: dcgan = transposed convolutions, class-conditional "
      "BatchNorm; upconv = nearest upsampling + 3x3 convolutions, as in older checkpoints",
      choices=ARCHS, families=_GAN, recipe=True, option="--arch"),
    S("class_input", str, "onehot", "how the condition enters the generator: a one-hot code or a "
      "learned embedding", choices=CLASS_INPUTS, families=_GAN, recipe=True,
      option="--class-input"),
    S("discriminator", str, "batchnorm", "batchnorm = DCGAN's, the class as input planes; "
      "projection = spectral norm, minibatch std and a class projection head",
      choices=DISCRIMINATORS, families=_GAN, recipe=True, option="--discriminator"),
    S("d_spectral_norm", bool, True, "spectral normalisation of the dcgan projection "
      "discriminator's layers; upconv's always has it", families=_GAN, recipe=True),
    S("channels_last", bool, False, "channels-last memory layout: faster convolutions on GPUs "
      "and some CPUs", recipe=True),
    S("compile", bool, False, "compile the networks with torch.compile: about 1.07x faster "
      "training after a one-off compile of 1-3 minutes, worth it for runs of an hour or more; "
      "needs a C++ compiler, trains without it otherwise", resume_changeable=True,
      option="--compile"),
    S("precision", str, "auto", "arithmetic: auto = bf16 on GPUs and CPUs that support it "
      "natively, fp16 + loss scaling on older GPUs, fp32 elsewhere", choices=PRECISIONS,
      recipe=True, option="--precision"),
    S("ct_window", tuple[float, float] | None, None, "CT window in HU mapped to the model's "
      "range, LOW,HIGH; none: air to dense bone, metal above it clipped; MR and PET scans are "
      "scaled by their percentiles instead", values="LOW,HIGH (HU) with LOW < HIGH, or none",
      default_note="-1000 to 2000 HU", option="--ct-window", metavar="LOW,HIGH",
      cli_note="written with '=' because of the minus sign: --ct-window=-1000,2000"),
    S("ema_decay", float, 0.999, "decay of the moving average of the generator used for "
      "previews and sampling; 0 disables it", **_UNIT, exclusive_max=True, recipe=True),
    S("z_dim", int, 128, "size of the generator's latent vector", minimum=1, families=_GAN,
      recipe=True),
    S("base_channels", int, 64, "network width at full resolution; deeper layers double it up "
      "to max_channels", minimum=1, recipe=True, option="--base-channels"),
    S("max_channels", int, 512, "cap on any layer's width, at least base_channels", minimum=1,
      recipe=True, option="--max-channels"),
    S("slice_axis", int, 0, "array axis that 3D volumes are sliced along: 0 axial, 1 coronal, "
      "2 sagittal", choices=(0, 1, 2), group="basic", default_note="axial",
      option="--slice-axis"),
    S("min_foreground", float, 0.05, "skip slices with less foreground than this fraction",
      **_UNIT, exclusive_max=True),
    S("preview_every", int, 100, "steps between previews; 0: never", minimum=0,
      noun="a whole number of steps", resume_changeable=True, default_note="20 in the widget",
      option="--preview-every"),
    S("checkpoint_every", int, 500, "steps between checkpoints; 0: only on stop and at the end",
      minimum=0, noun="a whole number of steps", resume_changeable=True,
      option="--checkpoint-every"),
    S("keep_checkpoints", int, 2, "periodic checkpoints kept on disk (the newest)", minimum=1,
      resume_changeable=True),
    S("holdout", float, 0.2, "share of each condition's slices held out from training to score "
      "the model: whole scans when a condition has several, else a slab with a gap; 0: none "
      "(then quality and memorization cannot be told apart)",
      minimum=0.0, maximum=0.5, noun="a fraction", group="basic", option="--holdout",
      metavar="FRACTION"),
    S("holdout_slabs", int, 2, "held-out slabs per scan when a condition has a single scan, "
      "spread along the slice axis; each costs the training slices of the gap beside it", minimum=1,
      maximum=MAX_HOLDOUT_SLABS, noun="a whole number of slabs", option="--holdout-slabs",
      metavar="N"),
    S("score_every", int, 250, "steps between held-out scores; the best-scoring checkpoint is "
      "kept as 'best'; 0: never", minimum=0, noun="a whole number of steps",
      resume_changeable=True, option="--score-every", metavar="N"),
    S("device", str, "auto", "where to train: auto = cuda > mps > cpu",
      values="auto, cpu, cuda, cuda:N or mps", group="basic", resume_changeable=True,
      option="--device"),
    S("seed", int, 0, "seed of every random choice of the run: weights, batches, latents, "
      "augmentation", option="--seed"),
    S("out_dir", str, "medgan-run", "run folder: checkpoints and previews go there",
      values="a folder", group="basic", resume_changeable=True, option="--out",
      metavar="DIR"),
)  # fmt: skip
del S

#: The settings by name.
SETTING: dict[str, Setting] = {s.name: s for s in SETTINGS}


# ------------------------------------------------------------------------ docs/cli.md
TABLE_BEGIN = "<!-- settings table: generated from napari_medgan.engine.settings -->"
TABLE_END = "<!-- end of the settings table -->"


def recipe_default(s: Setting) -> str:
    """A recipe setting's default: the ``cpu`` / ``gpu`` presets' values, and where the ``gpu``
    preset at 256 px and the ``translate`` and ``mask2image`` families' presets differ."""
    from .config import preset

    def pair(cpu: Any, gpu: Any) -> str:
        return show(cpu) if cpu == gpu else f"{show(cpu)} / {show(gpu)}"

    value = {
        k: getattr(preset(n, size=size, family=f), s.name)
        for k, n, size, f in (
            ("cpu", "cpu", None, "gan"), ("gpu", "gpu", None, "gan"), ("wide", "gpu", 256, "gan"),
            ("tcpu", "cpu", None, "translate"), ("tgpu", "gpu", None, "translate"),
            ("mcpu", "cpu", None, "mask2image"), ("mgpu", "gpu", None, "mask2image"),
        )
    }  # fmt: skip
    text = pair(value["cpu"], value["gpu"])
    notes = []
    if s.name != "size" and value["wide"] != value["gpu"]:
        notes.append(f"gpu at 256 px: {show(value['wide'])}")
    if s.used_by("translate") and (value["tcpu"], value["tgpu"]) != (value["cpu"], value["gpu"]):
        notes.append(f"translate: {pair(value['tcpu'], value['tgpu'])}")
    if s.used_by("mask2image") and (value["mcpu"], value["mgpu"]) != (value["cpu"], value["gpu"]):
        notes.append(f"mask2image: {pair(value['mcpu'], value['mgpu'])}")
    return text + (f" ({'; '.join(notes)})" if notes else "")


def default_text(s: Setting) -> str:
    """The default as the docs table shows it."""
    if s.recipe:
        return "recipe: " + recipe_default(s)
    text = show(s.default)
    return f"{text} ({s.default_note})" if s.default_note else text


def markdown_table() -> str:
    """The settings table of docs/cli.md (without its begin / end markers)."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    rows = [
        "| setting | default | command line | widget | values | what it does |",
        "|---|---|---|---|---|---|",
    ]
    for s in SETTINGS:
        what = s.help
        if s.families != "all":
            what = f"*{' and '.join(s.families)} only:* {what}"
        if s.resume_changeable:
            what += "; *may change on resume*"
        values = s.rule()
        if values.startswith(("one of ", "any of ")):
            values = values.replace("one of ", "", 1)
        rows.append(
            "| "
            + " | ".join(
                cell(c)
                for c in (
                    f"`{s.name}`",
                    default_text(s),
                    f"`{s.option or '--set'}`",
                    s.group or "—",
                    values,
                    what,
                )
            )
            + " |"
        )
    return "\n".join(rows) + "\n"


def between_markers(doc: str, begin: str, end: str, body: str, what: str) -> str:
    """``doc`` with the text between the lines ``begin`` and ``end`` replaced by ``body``; a
    ``ValueError`` naming ``what`` when a marker is missing."""
    head, found_begin, rest = doc.partition(begin + "\n")
    _, found_end, tail = rest.partition(end)
    if not found_begin or not found_end:
        raise ValueError(f"the {what}'s markers are missing: {begin} ... {end}")
    return head + found_begin + body + found_end + tail


def with_table(doc: str) -> str:
    """``doc`` (the text of docs/cli.md) with the table between its markers regenerated."""
    return between_markers(doc, TABLE_BEGIN, TABLE_END, markdown_table(), "settings table")


def write_table(path: str = "docs/cli.md") -> None:
    """Regenerate the settings table in the file ``path`` (docs/cli.md) in place."""
    from pathlib import Path

    doc = Path(path)
    doc.write_text(with_table(doc.read_text()))
