"""``napari-medgan translate``: a whole scan into a translation run's target contrast."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from napari_medgan.engine import Volume

from .common import CLIError, check_new_file, load_volumes

OUTPUTS = (".nii.gz", ".nii", ".nrrd")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "translate",
        help="translate a scan with a translation run (train --family translate)",
        description="Translate INPUT slice by slice along the run's slice axis and write it with "
        "exactly the input's shape and geometry, in the target contrast's units. The output is "
        "marked as synthetic.",
    )
    p.add_argument("checkpoint", metavar="RUN", help="run folder or checkpoint folder")
    p.add_argument("input", metavar="INPUT", help="the scan to translate (NIfTI / DICOM / NRRD)")
    p.add_argument("--out", required=True, metavar="FILE", help="output .nii.gz / .nii / .nrrd")
    p.add_argument("--device", default="cpu", help="cpu (default), auto, cuda, cuda:N or mps")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from napari_medgan.engine.families.translate.infer import Translator
    from napari_medgan.io import read_image

    out = check_new_file(args.out, OUTPUTS)
    translator = Translator.from_checkpoint(args.checkpoint, device=args.device)
    images = read_image(args.input) if Path(args.input).exists() else None
    if not images:
        load_volumes([args.input], None)  # the one wording of a missing / unreadable input
        raise CLIError(f"{args.input}: nothing to translate")
    if len(images) != 1:
        raise CLIError(f"{args.input}: holds {len(images)} series; give one scan")
    image = images[0]
    if image.data.ndim not in (2, 3):
        raise CLIError(f"{args.input}: {image.data.ndim}D input; give one 2D image or 3D volume")
    volume = Volume(
        image.data, tuple(image.spacing), modality=image.modality, name=image.name,
        origin=tuple(image.origin),
    )  # fmt: skip
    bar = None  # made once the input passed the units check: a refusal is one line

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, unit="slice", disable=args.quiet, file=sys.stderr,
                       desc="translating")  # fmt: skip
        bar.update(done - bar.n)

    try:
        data = translator.translate(volume, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    print(write_translated(out, image, data, translator, args.input))
    return 0


def write_translated(out: Path, image, data, translator, source: str) -> Path:
    """Write ``data`` with ``image``'s geometry, marked as a synthetic translation."""
    from napari_medgan.io import ImageData, write_nifti, write_nrrd

    result = ImageData(
        data=data,
        spacing=image.spacing,
        origin=image.origin,
        affine=image.affine,
        name=f"{image.name} → {translator.target_name}",
        modality=translator.roles.get("target", {}).get("modality", "OT"),
        metadata={
            "source": "napari-medgan",
            "synthetic": True,
            "translated_from": str(source),
            "checkpoint": str(translator.path),
            "step": translator.step,
            "target": translator.target_name,
        },
    )
    writer = write_nrrd if str(out).lower().endswith(".nrrd") else write_nifti
    return writer(out, result)
