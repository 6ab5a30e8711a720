"""``napari-medgan train``: train a GAN or conditional GAN on scans."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from napari_medgan.engine import (
    AUGMENT_OPS,
    LOSSES,
    SIZES,
    SliceDataset,
    TrainConfig,
    Trainer,
    build_dataset,
)
from napari_medgan.engine.checkpoint import LATEST
from napari_medgan.engine.config import (
    ARCHS,
    CLASS_INPUTS,
    CPU_STEPS,
    DISCRIMINATORS,
    FAMILIES,
    MAX_HOLDOUT_SLABS,
    PRECISIONS,
    PRESETS,
    ConfigError,
    parse_ct_window,
    preset,
    preset_for_device,
)
from napari_medgan.engine.devices import resolve_device
from napari_medgan.engine.families.translate.pairs import build_pairs
from napari_medgan.engine.resume import check_config, check_steps, read_run
from napari_medgan.engine.runlock import check_free

from .cohort import add_cohort_options, prepare_cohort
from .common import CLIError, load_volumes, positive_int
from .overrides import add_set_option, overrides
from .pairs import add_pair_options, load_pairs, wants_pairs
from .training import run_in_terminal


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a GAN (or a conditional GAN, one --condition per input) or a translation",
        description="Train on NIfTI files, DICOM files or folders, or NRRD files. Give one "
        "--condition per input for a conditional GAN, or none for an unconditional one; "
        "--family translate with --source/--target pairs learns to turn a source scan into the "
        "target contrast. Ctrl-C stops cleanly and saves a checkpoint; --resume continues it.",
    )
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="NIfTI / DICOM / NRRD scans")
    add_training_options(p)
    add_cohort_options(p)
    add_pair_options(p)
    p.add_argument(
        "--resume",
        metavar="DIR",
        help="continue from this run or checkpoint folder, with its settings, inputs and "
        "intensity windows (only --steps, --device, --out, --preview-every and "
        "--checkpoint-every may change)",
    )
    p.set_defaults(func=run)


def add_training_options(p: argparse.ArgumentParser, out_default: str = "medgan-run") -> None:
    """Options shared by ``train`` and ``demo`` (defaults come from :class:`TrainConfig`)."""
    d = TrainConfig()
    p.add_argument(
        "--family",
        choices=FAMILIES,
        help=f"model family (default {d.family}): gan = noise (+ condition) -> scan; "
        "translate = a source scan -> the same slices in a target contrast",
    )
    p.add_argument(
        "--l1-weight",
        type=float,
        help=f"translate: weight of the L1 distance to the target (default {d.l1_weight})",
    )
    p.add_argument(
        "--preset",
        choices=("auto", *PRESETS),
        default="auto",
        help="settings for the machine: cpu (64 px, 800 steps, ~11 minutes on 2 cores) or gpu "
        "(128/256 px); "
        "auto (default) picks from the device; every option below overrides the preset",
    )
    p.add_argument(
        "--condition",
        action="append",
        metavar="NAME",
        help="condition (class) name of the matching input; repeat per input",
    )
    p.add_argument(
        "--size", type=int, choices=SIZES, help=f"training resolution (default {d.size})"
    )
    p.add_argument(
        "--steps",
        type=positive_int,
        help=f"training steps (default: the preset's, {CPU_STEPS[64]} for cpu at 64 px, "
        f"{preset('gpu').steps} for gpu)",
    )
    p.add_argument("--batch-size", type=positive_int, help=f"batch size (default {d.batch_size})")
    p.add_argument("--lr-g", type=float, help=f"generator learning rate (default {d.lr_g})")
    p.add_argument("--lr-d", type=float, help=f"discriminator learning rate (default {d.lr_d})")
    p.add_argument(
        "--base-channels",
        type=positive_int,
        help=f"network width at full resolution (default {d.base_channels})",
    )
    p.add_argument(
        "--max-channels", type=positive_int, help=f"cap on network width (default {d.max_channels})"
    )
    p.add_argument("--loss", choices=LOSSES, help=f"adversarial loss (default {d.loss})")
    p.add_argument(
        "--r1",
        type=float,
        dest="r1_gamma",
        help=f"R1 penalty weight, 0 disables (default {d.r1_gamma})",
    )
    p.add_argument(
        "--ada-target",
        type=float,
        help=f"adaptive augmentation target of E[sign D(real)], 0: fixed probability "
        f"(default {d.ada_target})",
    )
    p.add_argument(
        "--arch",
        choices=ARCHS,
        help=f"network architecture (default {d.arch}): dcgan = transposed convolutions and "
        "class-conditional BatchNorm; upconv = nearest upsampling + 3x3 convolutions",
    )
    p.add_argument(
        "--class-input",
        choices=CLASS_INPUTS,
        help=f"how the condition enters the generator (default {d.class_input}): a one-hot "
        "code or a learned embedding",
    )
    p.add_argument(
        "--discriminator",
        choices=DISCRIMINATORS,
        help=f"discriminator (default {d.discriminator}): batchnorm = DCGAN's, the class as "
        "input planes; projection = spectral norm, minibatch std and a class projection head",
    )
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        help=f"arithmetic (default {d.precision}: bf16 on GPUs and CPUs that support it "
        "natively, fp16 + loss scaling on older GPUs, fp32 elsewhere)",
    )
    p.add_argument(
        "--compile",
        action="store_true",
        default=None,
        help="compile the networks with torch.compile: ~1.07x faster training after a one-off "
        "compile of 1-3 minutes; worth it for runs of an hour or more (needs a C++ compiler; "
        "trains without it otherwise)",
    )
    p.add_argument(
        "--ct-window",
        metavar="LOW,HIGH",
        help="CT window in HU mapped to the model's range, written with '=' because of the "
        "minus sign: --ct-window=-1000,2000 (the default: air to dense bone; metal above it "
        "is clipped; 'none' keeps it)",
    )
    p.add_argument(
        "--augment",
        metavar="OPS",
        help=f"comma-separated subset of {','.join(AUGMENT_OPS)}, or 'none' "
        f"(default {','.join(d.augment)})",
    )
    p.add_argument(
        "--slice-axis",
        type=int,
        choices=(0, 1, 2),
        help="array axis to slice 3D volumes along (default 0: axial)",
    )
    p.add_argument(
        "--out", metavar="DIR", help=f"run folder for checkpoints (default {out_default})"
    )
    p.add_argument("--device", default=None, help="auto (default), cpu, cuda, cuda:N or mps")
    p.add_argument("--seed", type=int, help="random seed (default 0)")
    p.add_argument(
        "--checkpoint-every",
        type=int,
        help=f"steps between checkpoints (default {d.checkpoint_every})",
    )
    p.add_argument(
        "--preview-every", type=int, help=f"steps between preview PNGs (default {d.preview_every})"
    )
    p.add_argument(
        "--holdout",
        type=float,
        metavar="FRACTION",
        help=f"share of each condition's slices held out from training, 0 to 0.5 (default "
        f"{d.holdout}; whole scans when a condition has several, else a slab with a gap; 0: none)",
    )
    p.add_argument(
        "--holdout-slabs",
        type=int,
        metavar="N",
        help=f"held-out slabs per scan when a condition has one scan, 1 to {MAX_HOLDOUT_SLABS} "
        f"(default {d.holdout_slabs}: one in each half of the slice range)",
    )
    p.add_argument(
        "--score-every",
        type=int,
        metavar="N",
        help=f"steps between held-out scores; the best-scoring checkpoint is kept as 'best' "
        f"(default {d.score_every}; 0: never)",
    )
    add_set_option(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def config_from_args(args: argparse.Namespace, base: TrainConfig) -> TrainConfig:
    """Apply ``--set`` and then the named options that were given on top of ``base``; validate."""
    changes = overrides(args)
    for name in (
        "family",
        "l1_weight",
        "size",
        "steps",
        "batch_size",
        "lr_g",
        "lr_d",
        "base_channels",
        "max_channels",
        "loss",
        "r1_gamma",
        "slice_axis",
        "device",
        "seed",
        "checkpoint_every",
        "preview_every",
        "ada_target",
        "holdout",
        "holdout_slabs",
        "score_every",
        "arch",
        "class_input",
        "discriminator",
        "precision",
        "compile",
    ):
        value = getattr(args, name, None)
        if value is not None:
            changes[name] = value
    if args.augment is not None:
        changes["augment"] = () if args.augment.lower() == "none" else args.augment
    if args.out is not None:
        changes["out_dir"] = args.out
    if getattr(args, "ct_window", None) is not None:
        changes["ct_window"] = parse_window(args.ct_window)
    return base.replace(**changes).validate()


def parse_window(text: str) -> tuple[float, float] | None:
    """``"LOW,HIGH"`` → ``(low, high)``; ``"none"`` → ``None`` (the default); else a clear error."""
    try:
        window = parse_ct_window(text)
    except ValueError:
        msg = f"--ct-window takes LOW,HIGH in HU, e.g. -1000,2000 (got {text!r})"
        raise ConfigError(msg) from None
    if window is not None and not window[0] < window[1]:
        raise ConfigError(f"--ct-window: LOW must be below HIGH (got {text!r})")
    return window


#: Settings of a run that are not part of a preset's recipe (kept when a preset is applied).
NON_RECIPE = (
    "slice_axis",
    "min_foreground",
    "preview_every",
    "checkpoint_every",
    "keep_checkpoints",
    "device",
    "seed",
    "out_dir",
    "holdout",
    "holdout_slabs",
    "score_every",
    "compile",
)


def preset_base(args: argparse.Namespace, base: TrainConfig) -> TrainConfig:
    """``base`` with the recipe of ``--preset`` (auto: from the device) at ``--size``."""
    name = getattr(args, "preset", "auto") or "auto"
    sets = overrides(args)
    if name == "auto":
        device = args.device or sets.get("device") or base.device
        name = preset_for_device(resolve_device(device).type)
    family = args.family or sets.get("family") or base.family
    recipe = preset(name, size=args.size or sets.get("size"), family=family)
    # the base's own choices (e.g. the demo's intervals) are kept; where the base merely has the
    # plain defaults, the preset's values stand (the gpu preset's preview/checkpoint intervals)
    plain = TrainConfig()
    kept = {k: getattr(base, k) for k in NON_RECIPE if getattr(base, k) != getattr(plain, k)}
    return recipe.replace(**kept)


def print_split(trainer: Trainer) -> None:
    """One stderr line on the held-out split; a plain warning when nothing is held out."""
    split = trainer.split
    prefix = "split: " if split.has_heldout() else "warning: "
    print(prefix + split.summary(), file=sys.stderr)


def translation_pairs(args: argparse.Namespace, config: TrainConfig, saved) -> SliceDataset:
    """The paired training set of ``--family translate`` (a saved run's transforms on resume)."""
    if args.inputs or args.condition or args.cohort:
        raise CLIError(
            "a translation run takes --source SCAN --target SCAN (or --pairs TABLE), not "
            "inputs, --condition or --cohort"
        )
    return build_pairs(
        load_pairs(args),
        config.size,
        config.slice_axis,
        config.min_foreground,
        transforms=saved.transforms if saved is not None else None,
        ct_window=config.ct_window,
    )


def run(args: argparse.Namespace) -> int:
    base = preset_base(args, TrainConfig(slice_axis=0))
    saved = read_run(args.resume) if args.resume else None
    if saved is not None:
        base = saved.config
        if args.out is None:
            base = base.replace(out_dir=str(saved.path.parent.parent))
    config = config_from_args(args, base)
    out = Path(config.out_dir).expanduser()
    check_free(out)  # another trainer in this folder: say so before anything else
    if saved is not None:
        check_config(saved.config, config)
        check_steps(saved.step, config)
        same_folder = out.resolve() == saved.path.parent.parent.resolve()
        if not same_folder and (out / LATEST).exists():
            raise CLIError(f"{out} already holds another run; choose an empty --out to branch off")
    elif (out / LATEST).exists():
        raise CLIError(
            f"{out} already holds a run; use --resume {out} to continue it or choose another --out"
        )
    split = None
    if config.family == "translate":
        dataset = translation_pairs(args, config, saved)
    elif wants_pairs(args):
        raise CLIError("--source/--target/--pairs train a translation: add --family translate")
    elif args.cohort:
        dataset, split = prepare_cohort(args, config, quiet=args.quiet)
    elif not args.inputs:
        raise CLIError("give input scans or --cohort DIR|TABLE")
    else:
        volumes = load_volumes(args.inputs, args.condition)
        dataset = build_dataset(
            volumes,
            config.size,
            config.slice_axis,
            config.min_foreground,
            transforms=saved.transforms if saved is not None else None,  # never re-fitted
            ct_window=config.ct_window,
        )
    trainer = Trainer(config, dataset, resume=args.resume, split=split)
    summary = ", ".join(f"{k}: {v}" for k, v in trainer.train_set.counts().items())
    if dataset.roles:
        summary = " → ".join(r["name"] for r in dataset.roles.values()) + " pairs"
    print(
        f"{len(trainer.train_set)} training slices ({summary}) at {config.size}x{config.size}; "
        f"device {trainer.device}",
        file=sys.stderr,
    )
    print_split(trainer)
    if trainer.device.type == "cpu":
        print("note: training on the CPU; a GPU is much faster (--device cuda)", file=sys.stderr)
    last = run_in_terminal(trainer, quiet=args.quiet)
    best = "" if last.best_step is None else f"; best held-out score at step {last.best_step}"
    print(f"{last.status} at step {last.step}/{config.steps}; checkpoint: {last.checkpoint}{best}")
    return 0
