"""Quality per CPU-second: the project's trainer vs a textbook DCGAN loop, on the same data.

Both methods train on the same MNI152 T1/GM/WM axial slices (64 px by default) under the same
budgets of process CPU time (scoring excluded), with a fixed number of torch threads. At each
budget both are scored (SWD ×10³, nearest-real ratio, diversity, coverage, conditional accuracy)
against real slices held out before training. Runs accumulate as JSON in quality_runs/; the
report turns them into results_quality.md and its pictures.

Commands (without one, the options are those of `run`; the older flags --speed, --levels and
--report stand for the commands of those names)::

    python benchmarks/bench_quality.py run --method dcgan --budgets 90,180,360
    python benchmarks/bench_quality.py run --method project --set ada_target=0 --tag no-ada
    python benchmarks/bench_quality.py run --headline --budgets 90,180,360   # both, one run
    python benchmarks/bench_quality.py speed --variants       # img per CPU-s, params, FLOPs
    python benchmarks/bench_quality.py levels                 # level controls of the splits
    python benchmarks/bench_quality.py report                 # results_quality.md + pngs
    python benchmarks/bench_quality.py sheet OUT.png s10-r1-seed0@2 s8-cpu-seed0   # samples
    python benchmarks/bench_quality.py perlevel s10-r1-seed0  # SWD per pyramid level
"""

from __future__ import annotations

import argparse
import sys

from . import BENCH_DIR, RUNS

#: The older spelling of a command, as a flag of the run options (recorded commands use it).
FLAG_COMMANDS = {"--report": "report", "--levels": "levels", "--speed": "speed"}

SPLIT_HELP = """Held-out slices, per condition (--split):

* slabs: --slabs contiguous slabs spread over the slice range, --holdout of the slices in
  all, with --gap slices (default 4) dropped from training on both sides of each slab
  (neighbouring slices are near-copies);
* interleaved: every 1/holdout-th slice, spanning every level, --gap (default 1) dropped
  beside each.
"""


def _options() -> dict[str, argparse.ArgumentParser]:
    """Option groups shared by several commands."""
    data = argparse.ArgumentParser(add_help=False)
    data.add_argument("--size", type=int, default=64)
    data.add_argument("--threads", type=int, default=1)
    holdout = argparse.ArgumentParser(add_help=False)
    holdout.add_argument("--holdout", type=float, default=0.2)
    holdout.add_argument("--slabs", type=int, default=3)
    split = argparse.ArgumentParser(add_help=False)
    split.add_argument(
        "--split",
        choices=("slabs", "interleaved"),
        default="slabs",
        help="held-out slices: contiguous slabs (default) or every 1/holdout-th slice, "
        "which spans every level",
    )
    split.add_argument(
        "--gap", type=int, default=None, help="slices dropped beside held-out ones (4 / 1)"
    )
    recipe = argparse.ArgumentParser(add_help=False)
    recipe.add_argument("--set", action="append", help="project config override key=value")
    recipe.add_argument("--preset", default="cpu", help="project preset (default cpu)")
    recipe.add_argument("--seed", type=int, default=0, help="training seed (both methods)")
    return {"data": data, "holdout": holdout, "split": split, "recipe": recipe}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    opt = _options()
    fmt = argparse.RawTextHelpFormatter

    run = sub.add_parser(
        "run",
        parents=[opt["data"], opt["holdout"], opt["split"], opt["recipe"]],
        help="train and score for CPU budgets (quality_runs/TAG.json)",
        description="Train the project's trainer or the textbook loop for CPU budgets and "
        "score it at each.\n\n" + SPLIT_HELP,
        formatter_class=fmt,
    )
    run.add_argument("--method", choices=("dcgan", "project"), default="project")
    run.add_argument("--headline", action="store_true", help="dcgan and project in one run")
    run.add_argument("--tag", default=None, help="run name (quality_runs/TAG.json)")
    run.add_argument("--label", default=None, help="what the run is, for the report's table")
    run.add_argument(
        "--extra-scores", default="", help="also score raw G / stale-BN EMA: raw,stale"
    )
    run.add_argument("--budgets", default="90,180", help="CPU seconds, comma separated")

    speed = sub.add_parser(
        "speed",
        parents=[opt["data"], opt["recipe"]],
        help="paired img per CPU-second, params, FLOPs (quality_runs/speed.json)",
        description="Paired images per CPU-second of both loops, params and FLOPs.",
    )
    speed.add_argument("--rounds", type=int, default=6, help="paired rounds per row")
    speed.add_argument(
        "--speed-sizes", default="all", help="'all' (32, 64, 128) or 'size' (--size only)"
    )
    speed.add_argument(
        "--variants",
        action="store_true",
        help="at 64 px also the project in channels_last and compiled",
    )
    speed.add_argument(
        "--tag", default=None, help="write speed-TAG.json (the report reads speed.json)"
    )

    sub.add_parser(
        "levels",
        parents=[opt["data"], opt["holdout"]],
        help="level controls of both splits, real slices only (quality_runs/levels.json)",
        description="Real training slices scored like a generator, on both splits and the "
        "engine's.",
    )
    sub.add_parser(
        "report",
        help="results_quality.md and its pngs from quality_runs/",
        description="Write results_quality.md, quality_swd_vs_cpu.png and quality_samples.png "
        "from the runs in quality_runs/.",
    )
    sheet = sub.add_parser(
        "sheet",
        help="chosen runs' saved samples side by side",
        description="Draw chosen runs' saved samples, one row per condition.",
    )
    sheet.add_argument("out", help="the PNG to write")
    sheet.add_argument(
        "runs", nargs="+", metavar="TAG[@POINT]", help="run and budget point (0 = first; last)"
    )
    perlevel = sub.add_parser(
        "perlevel",
        help="SWD per pyramid level of runs' saved samples (interleaved split)",
        description="SWD×10³ per pyramid level of the samples runs saved at their last budget.",
    )
    perlevel.add_argument("tags", nargs="+", metavar="TAG")
    return p


def with_command(argv: list[str]) -> list[str]:
    """``argv`` with its command first: a flag of :data:`FLAG_COMMANDS` becomes its command,
    and options without a command are those of ``run``."""
    if argv and (argv[0] in ("-h", "--help") or not argv[0].startswith("-")):
        return argv
    for flag, command in FLAG_COMMANDS.items():
        if flag in argv:
            return [command, *(a for a in argv if a != flag)]
    return ["run", *argv]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser().parse_args(with_command(argv))
    if args.command == "report":
        from .report import write_report

        write_report(RUNS, BENCH_DIR)
    elif args.command == "levels":
        from .levels import level_controls

        level_controls(args, RUNS / "levels.json")
    elif args.command == "speed":
        from .speed import speed_table

        speed_table(args)
    elif args.command == "sheet":
        from .report import runs_sheet

        runs_sheet(args.out, args.runs)
    elif args.command == "perlevel":
        from .pyramid import per_level

        per_level(args.tags)
    else:
        from .runners import run

        return run(args, "python benchmarks/bench_quality.py " + " ".join(argv))
    return 0
