"""``napari-medgan synthesize``: images (and their label maps) from a mask-to-image run."""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
from pathlib import Path

import numpy as np

from napari_medgan.engine import Volume

from .common import CLIError, load_volumes, positive_int

FORMATS = {"nifti": ".nii.gz", "nrrd": ".nrrd"}
MANIFEST = "manifest.csv"
COLUMNS = ("image", "labels", "seed", "deformed", "checkpoint", "step", "units", "source_labels")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "synthesize",
        help="make scans from a label map with a mask-to-image run (train --family mask2image)",
        description="Synthesise N images matching LABELS (a label map on its own grid), each "
        "with its own noise; with --deform each sample first gets its own randomly deformed "
        "copy of the label map. Every sample is written as an image and its label map with "
        "LABELS's geometry, and listed in manifest.csv: a ready training set of pairs.",
    )
    p.add_argument("checkpoint", metavar="RUN", help="run folder or checkpoint folder")
    p.add_argument("labels", metavar="LABELS", help="the label map (NIfTI / NRRD)")
    p.add_argument("--n", type=positive_int, default=1, help="samples to make (default 1)")
    p.add_argument(
        "--deform", action="store_true",
        help="give each sample a randomly, smoothly deformed label map (new anatomy)",
    )  # fmt: skip
    p.add_argument("--seed", type=int, default=0, help="seed of the first sample (default 0)")
    p.add_argument("--out", required=True, metavar="DIR", help="a new or empty folder")
    p.add_argument("--format", choices=tuple(FORMATS), default="nifti", help="default nifti")
    p.add_argument("--device", default="cpu", help="cpu (default), auto, cuda, cuda:N or mps")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _labels_volume(path: str) -> tuple[object, Volume]:
    """The label map read once: its image (geometry for the outputs) and its engine volume."""
    from napari_medgan.io import read_image

    images = read_image(path) if Path(path).exists() else None
    if not images:
        load_volumes([path], None)  # the one wording of a missing / unreadable input
        raise CLIError(f"{path}: no label map in it")
    if len(images) != 1:
        raise CLIError(f"{path}: holds {len(images)} series; give one label map")
    image = images[0]
    if image.data.ndim not in (2, 3):
        raise CLIError(f"{path}: {image.data.ndim}D input; give one 2D or 3D label map")
    volume = Volume(image.data, tuple(image.spacing), modality=image.modality, name=image.name,
                    origin=tuple(image.origin))  # fmt: skip
    return image, volume


def _check_folder(out: str) -> Path:
    folder = Path(out).expanduser()
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise CLIError(f"{folder}: exists and is not an empty folder; choose a new --out")
    return folder


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from napari_medgan.engine.families.mask2image.deform import deform_labels
    from napari_medgan.engine.families.mask2image.infer import Synthesizer

    folder = _check_folder(args.out)
    synth = Synthesizer.from_checkpoint(args.checkpoint, device=args.device)
    image, labels = _labels_volume(args.labels)
    synth.check_labels(labels)  # before anything is written
    folder.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, object]] = []
    per = synth.slice_count(labels)
    with tqdm(total=args.n * per, unit="slice", disable=args.quiet, file=sys.stderr,
              desc="synthesising") as bar:  # fmt: skip
        for i in range(args.n):
            seed = args.seed + i
            lab = labels
            if args.deform:
                moved = deform_labels(labels.data, labels.spacing, seed)
                lab = Volume(moved, labels.spacing, name=labels.name, origin=labels.origin,
                             modality=labels.modality)  # fmt: skip
            data = synth.synthesize(
                lab, seed, progress=lambda done, _t, base=i * per: bar.update(base + done - bar.n)
            )
            rows.append(_write_sample(folder, i, image, lab.data, data, synth, seed, args))
            _write_manifest(folder, rows)
    print(folder / MANIFEST)
    return 0


def _write_sample(folder: Path, i: int, ref, labels: np.ndarray, data: np.ndarray, synth,
                  seed: int, args: argparse.Namespace) -> dict[str, object]:  # fmt: skip
    from napari_medgan.io import ImageData, write_nifti, write_nrrd

    ext = FORMATS[args.format]
    writer = write_nrrd if args.format == "nrrd" else write_nifti
    common = {"source": "napari-medgan", "synthetic": True, "checkpoint": str(synth.path),
              "step": synth.step, "seed": seed}  # fmt: skip
    names = {}
    for kind, array, meta in (
        ("image", data, {**common, "synthesized_from": str(args.labels)}),
        ("labels", np.asarray(labels), {**common, "layer_type": "labels"}),
    ):
        name = f"sample_{i:04d}_{kind}{ext}"
        out = ImageData(
            data=array, spacing=ref.spacing, origin=ref.origin, affine=ref.affine,
            name=name, modality=synth.modality if kind == "image" else "OT", metadata=meta,
        )  # fmt: skip
        writer(folder / name, out)
        names[kind] = name
    return {
        "image": names["image"], "labels": names["labels"], "seed": seed,
        "deformed": bool(args.deform), "checkpoint": str(synth.path), "step": synth.step,
        "units": "HU" if synth.modality == "CT" else "scan units",
        "source_labels": str(args.labels),
    }  # fmt: skip


def _write_manifest(folder: Path, rows: list[dict[str, object]]) -> None:
    """Rewrite the manifest atomically, so an interrupted run leaves a consistent folder."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    tmp = folder / f".{MANIFEST}.tmp"
    tmp.write_text(buf.getvalue(), encoding="utf-8")
    os.replace(tmp, folder / MANIFEST)
