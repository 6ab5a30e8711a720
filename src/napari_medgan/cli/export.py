"""``napari-medgan generate RUN --n N --out DIR/ --format ...``: a synthetic dataset on disk."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm


def add_export_options(p: argparse.ArgumentParser) -> None:
    """Options of the dataset export (``--out`` is then a folder)."""
    g = p.add_argument_group(
        "dataset export",
        "with --format, or --out ending in '/', write one 2D file per sample into the folder "
        "--out plus manifest.csv (see docs/cohorts.md)",
    )
    g.add_argument(
        "--format",
        choices=("nifti", "nrrd", "dicom", "png"),
        help="file format of each sample (default nifti when --out is a folder)",
    )
    g.add_argument("--append", action="store_true", help="add to a previous export's folder")
    g.add_argument(
        "--grid",
        choices=("native", "training"),
        default="native",
        help="native: the source slice grid and spacing (default); training: training size",
    )
    g.add_argument(
        "--evaluation",
        metavar="DIR",
        help="an `evaluate --out` folder of this checkpoint: its memorization verdict goes "
        "into the manifest (default: 'not evaluated')",
    )
    g.add_argument(
        "--modality", default="OT", help="DICOM modality code of exported series (default OT)"
    )


def wants_export(args: argparse.Namespace) -> bool:
    """True when ``generate`` should write a dataset folder rather than stacks."""
    out = str(args.out)
    return bool(args.format) or out.endswith(("/", "\\")) or Path(out).is_dir()


def run_export(args: argparse.Namespace, sampler) -> int:
    from napari_medgan.io.export import check_target, export_dataset, memorization_verdict

    if args.all_conditions or args.condition is None:
        conditions = None  # every condition of the model
    else:
        conditions = [sampler.check_condition(args.condition)]
    if sampler.conditional is False:
        conditions = None
    check_target(args.out, args.append)
    verdict = memorization_verdict(args.evaluation, sampler.path)
    if verdict.startswith("flagged"):
        print(f"napari-medgan: warning: this checkpoint was {verdict}", file=sys.stderr)
    total = args.n * (len(conditions) if conditions else len(sampler.class_names))
    bar = tqdm(total=total, unit="file", file=sys.stderr, desc="exporting")
    try:
        result = export_dataset(
            sampler,
            args.out,
            args.n,
            conditions=conditions,
            fmt=args.format or "nifti",
            seed=args.seed,
            append=args.append,
            memorization=verdict,
            grid=args.grid,
            modality=args.modality,
            progress=lambda done, _total: bar.update(done - bar.n),
        )
    finally:
        bar.close()
    print(result.manifest)
    print(f"exported {len(result.files)} files to {result.folder}", file=sys.stderr)
    return 0
