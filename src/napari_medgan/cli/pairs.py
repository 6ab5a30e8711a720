"""Scan pairs: source/target for ``train --family translate``, labels/image for ``--family
mask2image``; options and loading."""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from napari_medgan.engine import Volume

from .common import CLIError, load_volumes


def add_pair_options(p: argparse.ArgumentParser) -> None:
    """``--source``/``--target`` (repeatable, matched in order) and ``--pairs TABLE``."""
    p.add_argument(
        "--source",
        action="append",
        metavar="SCAN",
        help="translate: a source scan (NIfTI / DICOM / NRRD); repeat, matched in order with "
        "--target",
    )
    p.add_argument(
        "--target",
        action="append",
        metavar="SCAN",
        help="translate: the target scan co-registered with the matching --source (same shape "
        "and grid)",
    )
    p.add_argument(
        "--labels",
        action="append",
        metavar="SCAN",
        help="mask2image: the label map of the matching input scan (same grid, integer "
        "labels); repeat, matched in order with the inputs",
    )
    p.add_argument(
        "--pairs",
        metavar="TABLE|DIR",
        help="translate: a CSV/TSV with source,target columns (mask2image: labels,image) and "
        "optionally group (scans of one patient are held out together; relative paths from the "
        "table's folder), or a folder with source/ and target/ (labels/ and image/) "
        "sub-folders whose scans pair up by name",
    )


#: The two roles of a pair per family, in the order the pair holds them.
ROLES = {"translate": ("source", "target"), "mask2image": ("labels", "image")}


def wants_pairs(args: argparse.Namespace) -> bool:
    return bool(args.source or args.target or args.pairs or args.labels)


def load_pairs(args: argparse.Namespace, family: str = "translate") -> list[tuple[Volume, Volume]]:
    """The pairs named by ``--source``/``--target`` (mask2image: ``--labels`` and the inputs)
    or ``--pairs``; a :class:`CLIError` if none."""
    roles = ROLES[family]
    if family == "mask2image":
        firsts, seconds, flags = args.labels or [], args.inputs or [], "--labels / inputs"
        others = args.source or args.target
    else:
        firsts, seconds, flags = args.source or [], args.target or [], "--source/--target"
        others = args.labels
    if others:
        other = "--labels" if family != "mask2image" else "--source/--target"
        raise CLIError(f"{other} do not fit a {family} run")
    if args.pairs and (firsts or seconds):
        raise CLIError(f"give either --pairs TABLE or {flags}, not both")
    if args.pairs and Path(args.pairs).is_dir():
        rows = _read_folder(Path(args.pairs), roles)
    elif args.pairs:
        rows = _read_table(Path(args.pairs), roles)
    else:
        if not firsts or len(firsts) != len(seconds):
            if family == "mask2image":
                raise CLIError(
                    "a mask-to-image run needs one --labels per input scan "
                    f"({len(seconds)} inputs, {len(firsts)} label maps)"
                )
            raise CLIError(
                "a translation run needs one --target per --source "
                f"({len(firsts)} sources, {len(seconds)} targets)"
            )
        rows = [(a, b, None) for a, b in zip(firsts, seconds)]
    pairs = []
    for source, target, group in rows:
        src, tgt = _one_volume(source), _one_volume(target)
        src.group = tgt.group = group
        pairs.append((src, tgt))
    return pairs


def _one_volume(path: str) -> Volume:
    volumes = load_volumes([path], None)
    if len(volumes) != 1:
        raise CLIError(f"{path}: holds {len(volumes)} series; give one scan per source/target")
    return volumes[0]


def _read_table(path: Path, roles: tuple[str, str]) -> list[tuple[str, str, str | None]]:
    if not path.is_file():
        raise CLIError(f"{path}: no such pairs table")
    text = path.read_text(encoding="utf-8-sig")
    dialect = "excel-tab" if path.suffix.lower() in (".tsv", ".tab") else "excel"
    reader = csv.DictReader(text.splitlines(), dialect=dialect)
    columns = {c.strip().lower(): c for c in reader.fieldnames or []}
    missing = [c for c in roles if c not in columns]
    if missing:
        raise CLIError(
            f"{path}: the pairs table needs {roles[0]} and {roles[1]} columns (missing: "
            f"{', '.join(missing)}; found: {', '.join(columns) or 'none'})"
        )
    rows = []
    for line, row in enumerate(reader, start=2):
        src = (row.get(columns[roles[0]]) or "").strip()
        tgt = (row.get(columns[roles[1]]) or "").strip()
        if not src or not tgt:
            raise CLIError(f"{path}, line {line}: empty {roles[0]} or {roles[1]}")
        group = (row.get(columns["group"]) or "").strip() if "group" in columns else ""
        rows.append((str(path.parent / src), str(path.parent / tgt), group or None))
    if not rows:
        raise CLIError(f"{path}: the pairs table has no rows")
    return rows


def _read_folder(folder: Path, roles: tuple[str, str]) -> list[tuple[str, str, str | None]]:
    """``folder/source/NAME`` paired with ``folder/target/NAME`` (files or DICOM folders; the
    sub-folders are named by ``roles``)."""
    sides = {side: folder / side for side in roles}
    missing = [side for side, path in sides.items() if not path.is_dir()]
    if missing:
        raise CLIError(
            f"{folder}: a pairs folder needs {roles[0]}/ and {roles[1]}/ sub-folders "
            f"(missing: {', '.join(missing)})"
        )
    names = {side: {p.name for p in path.iterdir() if not p.name.startswith(".")}
             for side, path in sides.items()}  # fmt: skip
    unmatched = sorted(names[roles[0]] ^ names[roles[1]])
    if unmatched:
        raise CLIError(
            f"{folder}: these scans have no partner of the same name in the other sub-folder: "
            + ", ".join(unmatched[:5]) + (" ..." if len(unmatched) > 5 else "")
        )
    if not names[roles[0]]:
        raise CLIError(f"{folder}: {roles[0]}/ and {roles[1]}/ are empty")
    return [(str(sides[roles[0]] / n), str(sides[roles[1]] / n), None)
            for n in sorted(names[roles[0]])]  # fmt: skip
