"""Cohort options of ``napari-medgan train``: a folder tree or table of scans, prepared streamed."""

from __future__ import annotations

import argparse
import sys
import threading

from tqdm import tqdm

from napari_medgan.engine import SliceDataset, TrainConfig
from napari_medgan.engine.holdout import HoldoutSplit

from .common import CLIError, positive_int


def add_cohort_options(p: argparse.ArgumentParser) -> None:
    """``--cohort`` and the options of its discovery, preparation and cache."""
    g = p.add_argument_group(
        "cohort",
        "train on a folder tree (ROOT/<condition>/<scans>) or a CSV/TSV table "
        "(path, condition[, split][, patient]); scans are read one at a time and the prepared "
        "slices are cached (see docs/cohorts.md)",
    )
    g.add_argument("--cohort", metavar="DIR|TABLE", help="cohort folder or .csv/.tsv table")
    g.add_argument(
        "--modality",
        choices=("CT", "MR"),
        help="treat every cohort scan as this modality (CT: the HU window -1000..2000 or "
        "--ct-window; "
        "NIfTI and NRRD headers carry no modality)",
    )
    g.add_argument("--series-modality", metavar="CODE", help="DICOM: keep series of this modality")
    g.add_argument(
        "--series-description",
        metavar="REGEX",
        help="DICOM: keep series whose description matches (case-insensitive)",
    )
    g.add_argument(
        "--series-pick",
        choices=("largest", "first"),
        default="largest",
        help="DICOM: among the series left, the largest (default) or the lowest series number",
    )
    g.add_argument(
        "--split-by-scan",
        action="store_true",
        help="refuse conditions with a single scan (or patient), so the held-out split is by "
        "whole scans / patients",
    )
    g.add_argument(
        "--workers",
        type=positive_int,
        default=1,
        help="processes reading and resizing scans in parallel (default 1; each holds a scan)",
    )
    g.add_argument("--cache-dir", metavar="DIR", help="prepared-slice cache (default: user cache)")
    g.add_argument("--no-cache", action="store_true", help="prepare again and store nothing")


def prepare_cohort(
    args: argparse.Namespace, config: TrainConfig, quiet: bool
) -> tuple[SliceDataset, HoldoutSplit | None]:
    """Discover, check and prepare the cohort of ``args`` (streamed, cached, with a bar).

    Returns the prepared slices and the held-out split of the table's ``split`` column (None
    when the cohort gives none: the trainer then splits by ``config.holdout``).
    """
    from napari_medgan.engine.cohort_split import split_from_table
    from napari_medgan.engine.prepare import PreparationCancelled, prepare_streamed
    from napari_medgan.engine.slicecache import prepare_cached
    from napari_medgan.io.cohort import CohortError, SeriesRule, discover

    if args.inputs:
        raise CLIError("give either input files or --cohort, not both")
    if args.condition:
        raise CLIError(
            "--condition names inputs; a cohort's conditions come from its folders/table"
        )
    try:
        rule = SeriesRule(args.series_modality, args.series_description, args.series_pick)
        cohort = discover(args.cohort, rule, modality=args.modality)
        for name, why in cohort.skipped:
            print(f"napari-medgan: skipping {name}: {why}", file=sys.stderr)
        cohort.check(split_by_scan=args.split_by_scan)
    except CohortError as exc:
        raise CLIError(str(exc)) from None
    counts = ", ".join(f"{k}: {v}" for k, v in cohort.conditions().items())
    print(f"cohort {args.cohort}: {len(cohort.scans)} scans ({counts})", file=sys.stderr)
    bar = tqdm(
        total=len(cohort.scans), unit="scan", disable=quiet, file=sys.stderr, desc="preparing"
    )

    def progress(done: int, total: int, message: str) -> None:
        bar.total = total
        bar.update(done - bar.n)
        bar.set_postfix_str(message[-40:])

    kwargs = {
        "workers": args.workers,
        "progress": progress,
        "cancel": threading.Event(),
        "ct_window": config.ct_window,  # --ct-window reaches cohort CT scans too
    }
    cfg = (config.size, config.slice_axis, config.min_foreground)
    try:
        if args.no_cache:
            prepared = prepare_streamed(cohort.scans, *cfg, **kwargs)
        else:
            prepared = prepare_cached(cohort.scans, *cfg, cache_dir=args.cache_dir, **kwargs)
    except PreparationCancelled:
        raise CLIError("preparation cancelled; nothing was cached") from None
    finally:
        bar.close()
    skipped = list(cohort.skipped) + list(prepared.skipped)
    print(f"prepared {prepared.summary()}", file=sys.stderr)
    if skipped:
        print(
            f"napari-medgan: {len(skipped)} scan(s) skipped: " + ", ".join(n for n, _ in skipped),
            file=sys.stderr,
        )
    split = split_from_table(prepared.dataset, prepared.scans, prepared.groups, prepared.splits)
    if split is not None:
        print(f"held-out split from the table: {split.summary()}", file=sys.stderr)
    return prepared.dataset, split
