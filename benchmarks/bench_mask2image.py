"""The mask2image benchmark (docs/mask2image.md): fidelity, a downstream segmenter, a picture.

    python benchmarks/bench_mask2image.py fidelity --budget 8          # train, then score
    python benchmarks/bench_mask2image.py fidelity --run RUN_DIR       # score a run
    python benchmarks/bench_mask2image.py downstream --k 5 --seed 0 --gan-budget 5
    python benchmarks/bench_mask2image.py pairs-figure --run RUN_DIR
    python benchmarks/bench_mask2image.py report

Budgets are minutes of process CPU time (torch on 2 threads, fp32). ``fidelity`` scores a
mask2image run on the fixed held-out slabs of the MNI152 T1 + tissue labels: a 3×3-neighbourhood
tissue classifier's Dice on real vs synthetic images, a WM-growing edit and MS-SSIM between
variations. ``downstream`` trains a small U-Net on K real pairs in three arms (no augmentation,
classic deformation + jitter, classic + synthetic pairs from a GAN trained on the same K pairs).
Raw JSON goes to benchmarks/mask2image_runs/, ``report`` writes benchmarks/results_mask2image.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mask2image import downstream, fidelity
from mask2image.figure import pairs_figure
from mask2image.report import report

WORK = Path(tempfile.gettempdir()) / "medgan-mask2image"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    f = sub.add_parser("fidelity", help="train (or load) a run, score it on the held-out slabs")
    group = f.add_mutually_exclusive_group(required=True)
    group.add_argument("--run", type=Path, help="an existing mask2image run folder")
    group.add_argument("--budget", type=float, help="CPU-minutes of training on all slices")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--tag", default="", help="results go to fidelity-TAG.json")
    d = sub.add_parser("downstream", help="segmenter on K real pairs, three arms")
    d.add_argument("--k", type=int, required=True)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--gan-budget", type=float, default=5.0, help="CPU-minutes for the GAN")
    d.add_argument("--seg-steps", type=int, default=100, help="segmenter steps (every arm)")
    d.add_argument("--copies", type=int, default=20, help="deformed copies per real pair")
    d.add_argument("--batch", type=int, default=8, help="segmenter batch size")
    d.add_argument("--seg-width", type=int, default=12, help="U-Net width at full size")
    d.add_argument("--arms", default=",".join(downstream.ARMS))
    g = sub.add_parser("pairs-figure", help="docs/mask2image_pairs.png")
    g.add_argument("--run", type=Path, action="append", help="a run (repeat: one block each)")
    g.add_argument("--shown", type=int, default=4, help="held-out slices per run")
    for p in (f, d):
        p.add_argument("--work", type=Path, default=WORK, help="where GAN runs are trained")
    sub.add_parser("report", help="benchmarks/results_mask2image.md from the stored JSON")
    args = parser.parse_args()
    if args.command == "fidelity":
        print(fidelity.run(args.run, args.budget or 0.0, args.work, args.seed, args.tag))
    elif args.command == "downstream":
        arms = tuple(a for a in args.arms.split(",") if a)
        out = downstream.run(args.k, args.seed, args.gan_budget, args.seg_steps, args.copies,
                             args.batch, args.work, arms, args.seg_width)  # fmt: skip
        print("\n".join(map(str, out)))
    elif args.command == "pairs-figure":
        print(pairs_figure(args.run or [WORK / "fidelity-s0"], shown=args.shown))
    else:
        print(report())


if __name__ == "__main__":
    main()
