"""``napari-medgan train``: train a GAN or conditional GAN on scans."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from napari_medgan.engine import (
    SliceDataset,
    TrainConfig,
    Trainer,
    build_dataset,
)
from napari_medgan.engine.checkpoint import LATEST
from napari_medgan.engine.config import (
    PRESETS,
    ConfigError,
    parse_ct_window,
    preset,
    preset_for_device,
)
from napari_medgan.engine.devices import resolve_device
from napari_medgan.engine.families.mask2image.pairs import build_mask_pairs, parse_label_values
from napari_medgan.engine.families.translate.pairs import build_pairs
from napari_medgan.engine.resume import check_config, check_steps, read_run
from napari_medgan.engine.runlock import check_free
from napari_medgan.engine.settings import SETTINGS, Setting, show

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
        "target contrast; --family mask2image with one --labels map per input learns to make a "
        "matching scan from a label map. Ctrl-C stops cleanly and saves a checkpoint; --resume "
        "continues it.",
    )
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="NIfTI / DICOM / NRRD scans")
    add_training_options(p)
    add_cohort_options(p)
    add_pair_options(p)
    p.add_argument(
        "--resume",
        metavar="DIR",
        help="continue from this run or checkpoint folder, with its settings, inputs and "
        f"intensity windows (only {resume_options()} may change)",
    )
    p.set_defaults(func=run)


#: The ``args`` attribute of a setting's option where it is not the setting's name (``run`` and
#: ``demo`` read ``args.out``).
DESTS = {"out_dir": "out"}


def resume_options() -> str:
    """The options and ``--set`` keys of the settings a resume may change, for ``--help``."""
    named = [s.option for s in SETTINGS if s.resume_changeable and s.option]
    keys = [s.name for s in SETTINGS if s.resume_changeable and not s.option]
    return ", ".join(named + [f"--set {k}" for k in keys])


def add_training_options(p: argparse.ArgumentParser, out_default: str = "medgan-run") -> None:
    """Options shared by ``train`` and ``demo``: one per setting with a named option in
    :data:`~napari_medgan.engine.settings.SETTINGS` (help, choices and default from there),
    ``--set`` for every setting, the preset and the conditions."""
    p.add_argument(
        "--preset",
        choices=("auto", *PRESETS),
        default="auto",
        help="settings for the machine: cpu (64 px, 800 steps) or gpu "
        "(128/256 px); "
        "auto (default) picks from the device; every option below overrides the preset",
    )
    p.add_argument(
        "--condition",
        action="append",
        metavar="NAME",
        help="condition (class) name of the matching input; repeat per input",
    )
    presets = {name: preset(name) for name in PRESETS}
    for s in SETTINGS:
        if s.option is None:
            continue
        kwargs: dict[str, Any] = {"dest": DESTS.get(s.name, s.name), "default": None}
        if s.type is bool:
            kwargs["action"] = "store_true"
        elif s.type is int:  # counts without an upper bound are refused by argparse already
            whole = s.minimum == 1 and s.maximum is None
            kwargs["type"] = positive_int if whole else int
        elif s.type is float:
            kwargs["type"] = float
        if s.choices is not None and not s.is_list:
            kwargs["choices"] = s.choices
        if s.metavar is not None:
            kwargs["metavar"] = s.metavar
        kwargs["help"] = option_help(s, presets, out_default).replace("%", "%%")
        p.add_argument(s.option, **kwargs)
    add_set_option(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def option_help(s: Setting, presets: dict[str, TrainConfig], out_default: str) -> str:
    """``--help`` of a setting's option: what it does, the allowed values, the default."""
    if s.name == "out_dir":
        default = f"default {out_default}"
    elif s.recipe and len({show(getattr(c, s.name)) for c in presets.values()}) > 1:
        default = "default: the preset's, " + ", ".join(
            f"{show(getattr(c, s.name))} for {name}" for name, c in presets.items()
        )
    else:
        default = f"default {show(s.default)}" + (f", {s.default_note}" if s.default_note else "")
    notes = []
    if s.families != "all":
        notes.append(f"{' and '.join(s.families)} only")
    if s.is_list:
        notes.append(f"comma-separated subset of {','.join(s.choices)}, or 'none'")
    elif s.choices is None and s.type in (int, float, str) and s.rule() != "text":
        notes.append(s.rule())
    notes.append(default)
    text = f"{s.help} ({'; '.join(notes)})"
    return f"{text}; {s.cli_note}" if s.cli_note else text


def config_from_args(args: argparse.Namespace, base: TrainConfig) -> TrainConfig:
    """Apply ``--set`` and then the named options that were given on top of ``base``; validate."""
    changes = overrides(args)
    for s in SETTINGS:
        value = getattr(args, DESTS.get(s.name, s.name), None) if s.option else None
        if value is None:
            continue
        if s.is_list:
            value = () if value.lower() == "none" else value
        elif s.name == "ct_window":
            value = parse_window(value)
        changes[s.name] = value
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
NON_RECIPE = tuple(s.name for s in SETTINGS if not s.recipe and s.name != "family")


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


def mask_pairs(args: argparse.Namespace, config: TrainConfig, saved) -> SliceDataset:
    """The (labels, image) training set of ``--family mask2image`` (a saved run's transforms
    and label values on resume)."""
    if args.condition or args.cohort:
        raise CLIError(
            "a mask-to-image run takes input scans with one --labels map each (or --pairs "
            "TABLE), not --condition or --cohort"
        )
    values = None
    if saved is not None:
        values = parse_label_values(saved.meta["roles"]["labels"]["values"])
    return build_mask_pairs(
        load_pairs(args, "mask2image"),
        config.size,
        config.slice_axis,
        config.min_foreground,
        transforms=saved.transforms if saved is not None else None,
        ct_window=config.ct_window,
        label_values=values,
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
    elif config.family == "mask2image":
        dataset = mask_pairs(args, config, saved)
    elif wants_pairs(args):
        raise CLIError(
            "--source/--target/--pairs train a translation (add --family translate); --labels "
            "trains a mask-to-image run (add --family mask2image)"
        )
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
        print(
            "note: training on the CPU (seconds per step at 64 px); --minutes M ends the run "
            "after a time budget, --device cuda trains on a GPU",
            file=sys.stderr,
        )
    last = run_in_terminal(trainer, quiet=args.quiet)
    best = "" if last.best_step is None else f"; best held-out score at step {last.best_step}"
    print(f"{last.status} at step {last.step}/{config.steps}; checkpoint: {last.checkpoint}{best}")
    return 0
