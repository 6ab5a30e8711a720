"""``napari-medgan evaluate``: score a checkpoint against real scans; metrics.json + report.md."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from .common import CLIError, load_volumes, positive_int


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="offline quality, diversity and memorization metrics of a checkpoint",
        description="Sample the checkpoint and compare with real scans: sliced Wasserstein "
        "distance, MS-SSIM diversity, KID/FD on a CNN trained here, conditional accuracy, and "
        "the memorization checks (nearest training slices, AuthPct, C_T). Every score comes "
        "with its real-vs-real baseline and a bootstrap interval. Writes metrics.json, "
        "report.md, plots and the trained feature networks (safetensors) into --out.",
    )
    p.add_argument("checkpoint", metavar="CHECKPOINT_DIR", help="run folder or checkpoint folder")
    p.add_argument(
        "inputs",
        nargs="+",
        metavar="REAL_INPUT",
        help="real scans (NIfTI / DICOM / NRRD), normally the training scans",
    )
    p.add_argument(
        "--condition",
        action="append",
        metavar="NAME",
        help="condition of the matching real input; repeat per input",
    )
    p.add_argument(
        "--heldout",
        nargs="+",
        metavar="INPUT",
        help="real scans the model never saw (sharper memorization test)",
    )
    p.add_argument(
        "--heldout-condition",
        action="append",
        metavar="NAME",
        help="condition of the matching --heldout input; repeat per input",
    )
    p.add_argument(
        "--n",
        type=positive_int,
        help="generated slices in total (default: as many as real, at most 1000)",
    )
    p.add_argument(
        "--bootstrap",
        type=positive_int,
        default=200,
        help="bootstrap replicates per interval (default 200)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of sampling and metrics (default 0)")
    p.add_argument("--device", default="cpu", help="device for sampling (default cpu)")
    p.add_argument("--out", required=True, metavar="DIR", help="new (or empty) output folder")
    p.set_defaults(func=run)


def check_out_dir(path: str | Path) -> Path:
    """A new or empty folder whose parent exists and is writable."""
    out = Path(path)
    if out.exists():
        if not out.is_dir():
            raise CLIError(f"{out}: exists and is not a folder")
        if any(out.iterdir()):
            raise CLIError(
                f"{out}: folder is not empty; choose a new --out (nothing is overwritten)"
            )
    parent = out.absolute().parent
    if not parent.is_dir():
        raise CLIError(f"{parent}: output parent folder does not exist")
    if not os.access(parent, os.W_OK):
        raise CLIError(f"{parent}: output parent folder is not writable")
    return out


def run(args: argparse.Namespace) -> int:
    from napari_medgan.engine import Sampler
    from napari_medgan.engine.metrics import evaluate_sampler, write_report

    out = check_out_dir(args.out)
    if args.heldout_condition and not args.heldout:
        raise CLIError("--heldout-condition needs --heldout inputs")
    sampler = Sampler.from_checkpoint(args.checkpoint, device=args.device)
    volumes = load_volumes(args.inputs, args.condition)
    heldout = load_volumes(args.heldout, args.heldout_condition) if args.heldout else None

    def progress(stage: str, frac: float) -> None:
        print(f"evaluate: {frac:4.0%} {stage}", file=sys.stderr)

    try:
        result = evaluate_sampler(
            sampler,
            volumes,
            heldout,
            n=args.n,
            seed=args.seed,
            n_boot=args.bootstrap,
            progress=progress,
        )
    except ValueError as exc:
        if type(exc) is ValueError:  # engine input checks; the domain errors pass through
            raise CLIError(str(exc)) from None
        raise
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.absolute().parent))
    try:
        result_ext = result.to_dict()["feature_extractor"]
        write_report(result, tmp, title=f"Evaluation of {args.checkpoint}")
        _save_networks(result, tmp)
        if out.exists():
            out.rmdir()  # checked empty above
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    mem = result.to_dict()["memorization"]
    print(out / "report.md")
    print(
        f"evaluate: extractor {result_ext['name']}; memorization "
        f"{'FLAGGED: ' + '; '.join(mem['reasons']) if mem['flagged'] else 'ok'}",
        file=sys.stderr,
    )
    return 0


def _save_networks(result, folder: Path) -> None:
    ref = getattr(result, "reference", None)
    if ref is None:
        return
    ref.extractor.save(folder / "feature_extractor.safetensors")
    if ref.classifier is not None:
        ref.classifier.save(folder / "classifier.safetensors")
