"""``napari-medgan demo``: a conditional GAN on the offline MNI152 T1 / GM / WM templates."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from napari_medgan.engine import Sampler, Trainer, Volume, build_dataset
from napari_medgan.engine.checkpoint import LATEST
from napari_medgan.engine.config import preset

from .common import CLIError
from .generate import synthetic_image
from .overrides import overrides
from .sheets import contact_sheet, to_uint8
from .train import add_training_options, config_from_args, preset_base, print_split
from .training import run_in_terminal

#: The demo is the ``cpu`` preset's recipe at 64 px with half its batch and widths, trained for a
#: wall-time budget, so it takes about 10 minutes on any machine (the step count is only a cap).
#: At that budget the smaller networks make about 7x the steps and better samples
#: (benchmarks/results_realism.md).
DEMO_MINUTES = 9.0
DEMO_CONFIG = preset("cpu").replace(
    minutes=DEMO_MINUTES,
    steps=100_000,
    batch_size=32,
    base_channels=32,
    checkpoint_every=200,
    preview_every=50,
    score_every=100,
    slice_axis=0,
    out_dir="medgan-demo",
    device="auto",
)
N_SHOW = 6


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="train on the bundled MNI152 T1/GM/WM templates and write samples + a contact sheet",
        description="Trains a conditional GAN with three conditions (T1, GM, WM) on axial slices "
        f"of nilearn's offline MNI152 templates for {DEMO_MINUTES:g} minutes (--minutes), keeps "
        "the best checkpoint, then writes generated NIfTI stacks and "
        "contact_sheet.png (real and generated slices per condition side by side) to --out.",
    )
    add_training_options(p, out_default=DEMO_CONFIG.out_dir)
    p.set_defaults(func=run)


def load_demo_volumes() -> list[Volume]:
    """The three MNI152 templates as engine volumes named after their condition."""
    from napari_medgan.io import load_mni152

    return [
        Volume(
            data=im.data,
            spacing=tuple(im.spacing),
            condition=im.name,
            modality="MR",
            name=f"MNI152 {im.name}",
            origin=tuple(im.origin),  # generated stacks overlay the template, as from a file
        )
        for im in load_mni152()
    ]


def demo_base(args: argparse.Namespace):
    """The demo's settings, or a preset's recipe when a preset or another size is asked for."""
    if args.preset != "auto" or args.size is not None or "size" in overrides(args):
        return preset_base(args, DEMO_CONFIG)
    return DEMO_CONFIG


def run(args: argparse.Namespace) -> int:
    if args.condition:
        raise CLIError("demo uses the conditions T1, GM and WM; --condition is not accepted here")
    config = config_from_args(args, demo_base(args))
    out = Path(config.out_dir)
    if (out / LATEST).exists() or (out / "contact_sheet.png").exists():
        raise CLIError(f"{out} already holds a demo run; choose another --out")
    t0 = time.perf_counter()
    dataset = build_dataset(
        load_demo_volumes(), config.size, config.slice_axis, config.min_foreground
    )
    trainer = Trainer(config, dataset)
    print(
        f"demo: {len(dataset)} axial MNI152 slices {dataset.counts()}, "
        f"{_length(config)} at {config.size}px on {trainer.device}",
        file=sys.stderr,
    )
    print_split(trainer)
    last = run_in_terminal(trainer, quiet=args.quiet)
    trainer.close()
    sampler = Sampler.from_checkpoint(out)  # the best held-out score (latest without one)
    written = write_demo_outputs(sampler, dataset, out, seed=config.seed)
    for path in written:
        print(path)
    print(
        f"demo {last.status} at step {last.step} in {time.perf_counter() - t0:.0f} s",
        file=sys.stderr,
    )
    return 0


def _length(config) -> str:
    steps = f"{config.steps} steps"
    return f"{config.minutes:g} minutes (at most {steps})" if config.minutes else steps


def write_demo_outputs(sampler: Sampler, dataset, out: Path, seed: int = 0) -> list[Path]:
    """Generated NIfTI per condition and a real-vs-generated contact sheet."""
    from napari_medgan.io import write_nifti

    written, rows = [], []
    for label, name in enumerate(sampler.class_names):
        stack = sampler.sample(N_SHOW * 2, name, seed=seed, units="native")
        image = synthetic_image(sampler, name, stack, {"step": sampler.step, "seed": seed})
        written.append(write_nifti(out / f"generated_{name}.nii.gz", image))
        real = dataset.images[dataset.labels == label][:, 0].numpy()
        pick = np.linspace(len(real) * 0.25, len(real) * 0.75, N_SHOW).astype(int)
        fake = sampler.sample(N_SHOW, name, seed=seed, units="model")
        rows.append((f"{name} real", to_uint8(real[pick])))
        rows.append((f"{name} synth", to_uint8(fake)))
    swap = sampler.condition_swap(N_SHOW, seed=seed + 1, units="model")
    for name, tiles in zip(sampler.class_names, swap):
        rows.append((f"swap->{name}", to_uint8(tiles)))
    header = f"napari-medgan demo, step {sampler.step}"
    zoom = max(2, 128 // sampler.size)  # tiles of at least 128 px on the sheet
    written.append(contact_sheet(rows, out / "contact_sheet.png", zoom=zoom, header=header))
    return written
