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
        description="Sample the checkpoint (its best held-out score by default), or read "
        "--samples, and compare with the run's held-out real slices: sliced Wasserstein "
        "distance, MS-SSIM diversity, KID/FD on a fixed random CNN, a classifier two-sample "
        "test and power-spectrum band ratios (realism), conditional accuracy, and "
        "the memorization gate (shift-tolerant nearest training slices, a near-copy threshold "
        "calibrated on held-out slices, AuthPct, C_T). Every score comes with an interval, the "
        "real baseline (training real vs held-out real) and its ratio to it; verbatim training "
        "copies and the untrained generator are scored beside. Writes metrics.json, report.md, "
        "plots and the networks (safetensors) into --out.",
    )
    p.add_argument("checkpoint", metavar="CHECKPOINT_DIR", help="run folder or checkpoint folder")
    p.add_argument(
        "inputs",
        nargs="+",
        metavar="REAL_INPUT",
        help="real scans (NIfTI / DICOM / NRRD): the scans the run was trained on (its "
        "held-out split is re-applied to them)",
    )
    p.add_argument(
        "--samples",
        nargs="+",
        metavar="FILE",
        help="score these images instead of sampling the run: one file per condition (in the "
        "order of the first appearance of each --condition), read like real inputs; slices "
        "along the run's slice axis, at the run's native slice shape or the model size",
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
        help="extra real scans the model never saw, added to the held-out reference",
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
        help="generated slices in total (default: as many as real, at most 1000; not with "
        "--samples)",
    )
    p.add_argument(
        "--bootstrap",
        type=positive_int,
        default=200,
        help="bootstrap replicates per interval (default 200)",
    )
    p.add_argument(
        "--features",
        choices=("random", "trained"),
        default="random",
        help="KID/FD feature network: a fixed random CNN (default; same bytes on every machine) "
        "or a small CNN trained on the run's training slices (~20 s; same bytes for any thread "
        "count on one kind of CPU; see docs/evaluation.md)",
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
    if args.samples and args.n:
        raise CLIError("--n draws samples from the run; it cannot be combined with --samples")
    sampler = Sampler.from_checkpoint(args.checkpoint, device=args.device)
    volumes = load_volumes(args.inputs, args.condition)
    heldout = load_volumes(args.heldout, args.heldout_condition) if args.heldout else None
    samples = _load_samples(args.samples, args.condition) if args.samples else None

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
            samples=samples,
            progress=progress,
            extractor=args.features,
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
    data = result.to_dict()
    mem = data["memorization"]
    print(out / "report.md")
    for w in data["warnings"]:
        print(f"evaluate: warning: {w}", file=sys.stderr)
    print(
        f"evaluate: extractor {result_ext['name']}; memorization "
        f"{'FLAGGED: ' + '; '.join(mem['reasons']) if mem['flagged'] else 'not flagged'}",
        file=sys.stderr,
    )
    return 0


def _load_samples(paths: list[str], conditions: list[str] | None) -> list:
    """One volume per condition (conditions in order of first appearance), read like inputs."""
    names = list(dict.fromkeys(conditions)) if conditions else [None]
    if len(paths) != len(names):
        want = f"{len(names)} (one per condition: {', '.join(names)})" if conditions else "1"
        raise CLIError(f"--samples: got {len(paths)} files, need {want}")
    volumes = []
    for path, name in zip(paths, names):
        read = load_volumes([path], [name] if name is not None else None)
        if len(read) != 1:
            raise CLIError(f"{path}: holds {len(read)} images; give one image per --samples file")
        volumes.append(read[0])
    return volumes


def _save_networks(result, folder: Path) -> None:
    ref = getattr(result, "reference", None)
    if ref is None:
        return
    ref.extractor.save(folder / "feature_extractor.safetensors")
    if ref.classifier is not None:
        ref.classifier.save(folder / "classifier.safetensors")
