"""``napari-medgan generate``: draw synthetic scans from a checkpoint into NIfTI (and PNG)."""

from __future__ import annotations

import argparse
from pathlib import Path

from napari_medgan.engine import Sampler

from .common import CLIError, check_new_file, positive_int
from .export import add_export_options, run_export, wants_export
from .sheets import contact_sheet, to_uint8

NIFTI = (".nii.gz", ".nii")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "generate",
        help="generate synthetic slices from a checkpoint",
        description="Write N generated slices per condition as a NIfTI stack in scan units and "
        "the source slice geometry. With --out ending in .png, also write a PNG contact sheet "
        "(the NIfTI goes next to it). With --all-conditions, one NIfTI per condition, rendered "
        "from the same latents (a condition swap).",
    )
    p.add_argument("checkpoint", metavar="CHECKPOINT_DIR", help="run folder or checkpoint folder")
    p.add_argument("--n", type=positive_int, default=8, help="samples per condition (default 8)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--condition", metavar="NAME", help="condition to sample")
    group.add_argument(
        "--all-conditions", action="store_true", help="the same latents under every condition"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the latents (default 0)")
    p.add_argument("--device", default="cpu", help="cpu (default), auto, cuda, cuda:N or mps")
    p.add_argument(
        "--out",
        required=True,
        metavar="FILE|DIR/",
        help="output .nii.gz / .nii / .png, or a folder",
    )
    add_export_options(p)
    p.set_defaults(func=run)


def plan_outputs(out: Path, names: list[str]) -> tuple[dict[str, Path], Path | None]:
    """NIfTI path per condition name, and the PNG path (or None); all checked to be new."""
    png = None
    if str(out).lower().endswith(".png"):
        png = check_new_file(out, (".png",))
        stem, suffix = out.name[:-4], ".nii.gz"
    else:
        check_new_file(out, NIFTI)
        suffix = ".nii.gz" if out.name.lower().endswith(".nii.gz") else ".nii"
        stem = out.name[: -len(suffix)]
    if len(names) == 1:
        paths = {names[0]: out.with_name(stem + suffix)}
    else:
        paths = {n: out.with_name(f"{stem}_{_safe(n)}{suffix}") for n in names}
    for path in paths.values():
        check_new_file(path, NIFTI)
    return paths, png


def run(args: argparse.Namespace) -> int:
    from napari_medgan.io import write_nifti

    sampler = Sampler.from_checkpoint(args.checkpoint, device=args.device)
    if wants_export(args):
        return run_export(args, sampler)
    if args.all_conditions:
        if not sampler.conditional:
            raise CLIError("--all-conditions needs a conditional model; this one has no conditions")
        names = list(sampler.class_names)
    elif sampler.conditional and args.condition is None:
        raise CLIError(
            "this model is conditional: give --condition NAME or --all-conditions "
            f"(conditions: {', '.join(sampler.class_names)})"
        )
    else:
        names = [sampler.check_condition(args.condition)]
    paths, png = plan_outputs(Path(args.out), names)
    stacks = {name: sampler.sample(args.n, name, seed=args.seed, units="native") for name in names}
    for name, stack in stacks.items():
        meta = {"checkpoint": str(sampler.path), "step": sampler.step, "seed": args.seed}
        image = synthetic_image(sampler, name, stack, meta)
        print(write_nifti(paths[name], image))
    if png is not None:
        rows = []
        for name in names:
            t = sampler.transforms[name]
            rows.append((name, to_uint8(stacks[name], t.low, t.high)))
        print(contact_sheet(rows, png, header=f"step {sampler.step}, seed {args.seed}"))
    return 0


def synthetic_image(sampler: Sampler, name: str, stack, metadata: dict | None = None):
    """A native-unit stack ``(n, h, w)`` as an ImageData in the frame of the condition's source.

    Placed by the rule shared with the Generate widget (``napari_medgan.io.placement``): the
    stack axis goes back to the source's slice axis with its slice spacing and origin, so the
    file lines up with the real scan it was trained on.
    """
    from napari_medgan.io.placement import place_stack, placed_image

    data, placement = place_stack(sampler.geometry[name], stack)
    meta = {"source": "napari-medgan", "synthetic": True, "condition": name, **(metadata or {})}
    return placed_image(data, placement, f"synthetic {name}", metadata=meta)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
