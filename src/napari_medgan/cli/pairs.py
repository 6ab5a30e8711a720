"""Source/target scan pairs for ``train --family translate``: options and loading."""

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
        "--pairs",
        metavar="TABLE|DIR",
        help="translate: a CSV/TSV with source,target columns (and optionally group: scans of "
        "one patient are held out together; relative paths from the table's folder), or a "
        "folder with source/ and target/ sub-folders whose scans pair up by name",
    )


def wants_pairs(args: argparse.Namespace) -> bool:
    return bool(args.source or args.target or args.pairs)


def load_pairs(args: argparse.Namespace) -> list[tuple[Volume, Volume]]:
    """The pairs named by ``--source``/``--target`` or ``--pairs``; a :class:`CLIError` if none."""
    if args.pairs and (args.source or args.target):
        raise CLIError("give either --pairs TABLE or --source/--target, not both")
    if args.pairs and Path(args.pairs).is_dir():
        rows = _read_folder(Path(args.pairs))
    elif args.pairs:
        rows = _read_table(Path(args.pairs))
    else:
        sources, targets = args.source or [], args.target or []
        if not sources or len(sources) != len(targets):
            raise CLIError(
                "a translation run needs one --target per --source "
                f"({len(sources)} sources, {len(targets)} targets)"
            )
        rows = [(s, t, None) for s, t in zip(sources, targets)]
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


def _read_table(path: Path) -> list[tuple[str, str, str | None]]:
    if not path.is_file():
        raise CLIError(f"{path}: no such pairs table")
    text = path.read_text(encoding="utf-8-sig")
    dialect = "excel-tab" if path.suffix.lower() in (".tsv", ".tab") else "excel"
    reader = csv.DictReader(text.splitlines(), dialect=dialect)
    columns = {c.strip().lower(): c for c in reader.fieldnames or []}
    missing = [c for c in ("source", "target") if c not in columns]
    if missing:
        raise CLIError(
            f"{path}: the pairs table needs source and target columns (missing: "
            f"{', '.join(missing)}; found: {', '.join(columns) or 'none'})"
        )
    rows = []
    for line, row in enumerate(reader, start=2):
        src = (row.get(columns["source"]) or "").strip()
        tgt = (row.get(columns["target"]) or "").strip()
        if not src or not tgt:
            raise CLIError(f"{path}, line {line}: empty source or target")
        group = (row.get(columns["group"]) or "").strip() if "group" in columns else ""
        rows.append((str(path.parent / src), str(path.parent / tgt), group or None))
    if not rows:
        raise CLIError(f"{path}: the pairs table has no rows")
    return rows


def _read_folder(folder: Path) -> list[tuple[str, str, str | None]]:
    """``folder/source/NAME`` paired with ``folder/target/NAME`` (files or DICOM folders)."""
    sides = {side: folder / side for side in ("source", "target")}
    missing = [side for side, path in sides.items() if not path.is_dir()]
    if missing:
        raise CLIError(
            f"{folder}: a pairs folder needs source/ and target/ sub-folders "
            f"(missing: {', '.join(missing)})"
        )
    names = {side: {p.name for p in path.iterdir() if not p.name.startswith(".")}
             for side, path in sides.items()}  # fmt: skip
    unmatched = sorted(names["source"] ^ names["target"])
    if unmatched:
        raise CLIError(
            f"{folder}: these scans have no partner of the same name in the other sub-folder: "
            + ", ".join(unmatched[:5]) + (" ..." if len(unmatched) > 5 else "")
        )
    if not names["source"]:
        raise CLIError(f"{folder}: source/ and target/ are empty")
    return [(str(sides["source"] / n), str(sides["target"] / n), None)
            for n in sorted(names["source"])]  # fmt: skip
