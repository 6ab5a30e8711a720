"""The translation benchmark (docs/translation.md): T1 → GM / WM on held-out MNI152 slabs.

    python benchmarks/bench_translation.py run --target GM --seed 0 --budget 900
    python benchmarks/bench_translation.py report
    python benchmarks/bench_translation.py speed RUN_DIR

``run`` trains the ``translate`` cpu preset on one CPU thread for a budget of process CPU
seconds, then scores it, the identity, the best monotone mapping and a 3×3-patch model (both
fitted on the training slabs) and the untrained network on the held-out slabs; ``report``
writes benchmarks/results_translation.md and docs/translation_sheet.png from the stored runs;
``speed`` times translating the whole 2 mm MNI152 T1 volume.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from translation.report import report, speed
from translation.run import run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="train and score one target and seed")
    p.add_argument("--target", choices=("GM", "WM"), required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--budget", type=float, default=900.0, help="CPU seconds of training")
    p.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "medgan-translate")
    p.add_argument("--tag", default="preset", help="the runs' folder in translation_runs/")
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=INT",
        help="a whole-number setting on top of the preset, e.g. size=64 --set crop=0",
    )  # fmt: skip
    sub.add_parser("report", help="results_translation.md and the picture from stored runs")
    s = sub.add_parser("speed", help="time translating the whole MNI152 T1 volume")
    s.add_argument("run_dir", type=Path)
    s.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if args.command == "run":
        changes = {k: int(v) for k, v in (item.split("=", 1) for item in args.set)}
        print(run(args.target, args.seed, args.budget, args.work, args.tag, changes))
    elif args.command == "report":
        print(report())
    else:
        print(speed(args.run_dir, args.threads))


if __name__ == "__main__":
    main()
