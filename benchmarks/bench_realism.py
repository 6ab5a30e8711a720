"""Realism of a demo-style run's samples: two-sample test, spectrum and SWD against real slices.

    python benchmarks/bench_realism.py RUN_DIR [RUN_DIR ...] [--label TEXT] [--out FILE]

Each run is a GAN run trained on the MNI152 T1 / GM / WM templates (``napari-medgan demo``).
Per condition, as many samples of the run's ``best`` checkpoint (``latest`` without one) as
there are real slices of that condition, at the model's resolution, are compared with all the
real slices (training and held-out, squeezed to the model's resolution as training saw them):

- the classifier two-sample test (``engine.metrics.realism.c2st``; 0.5 = indistinguishable),
  beside the same test on the real slices split in two halves and on real vs real + noise
  (σ 0.1 in model units, the sensitivity control);
- the power per octave band, samples / real (band 0 = the top octave);
- SWD (×10³) of the samples vs the real slices, divided by the SWD of one half of the real
  slices vs the other.

The rows are appended to benchmarks/results_realism.md (``--out``) with the run's settings, the
steps reached and the CPU.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality.runners import cpu_model

from napari_medgan.engine import Sampler, build_dataset
from napari_medgan.engine.devices import cpu_has_fast_bf16
from napari_medgan.engine.metrics.realism import NOISE_SIGMA, c2st, spectrum_ratio
from napari_medgan.engine.metrics.swd import swd

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results_realism.md"


def real_slices(size: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The demo's axial slices at ``size`` px in model units, their labels and class names."""
    from napari_medgan.cli.demo import DEMO_CONFIG, load_demo_volumes

    ds = build_dataset(load_demo_volumes(), size, 0, DEMO_CONFIG.min_foreground)
    return ds.images[:, 0].numpy(), ds.labels.numpy(), list(ds.class_names)


def score_run(run: Path, seed: int = 0) -> dict:
    """The realism scores of one run, per condition (see the module docstring)."""
    sampler = Sampler.from_checkpoint(run)
    real, labels, names = real_slices(sampler.size)
    rng = np.random.default_rng(seed)
    out = {"run": str(run), "step": sampler.step, "size": sampler.size, "conditions": {}}
    for c, name in enumerate(names):
        pool = real[labels == c]
        fake = sampler.sample(len(pool), name, seed=seed + 11, units="model")
        half = rng.permutation(len(pool))
        a, b = pool[half[: len(pool) // 2]], pool[half[len(pool) // 2 :]]
        noisy = b + rng.normal(0.0, NOISE_SIGMA, b.shape).astype(b.dtype)
        out["conditions"][name] = {
            "n": len(pool),
            "c2st": c2st(fake, pool, seed=seed).value,
            "c2st_real_halves": c2st(a, b, seed=seed).value,
            "c2st_noise_control": c2st(a, noisy, seed=seed).value,
            "spectrum": spectrum_ratio(fake, pool).round(3).tolist(),
            "swd_ratio": swd(fake, pool, seed=seed).value / swd(a, b, seed=seed).value,
        }
    return out


def table_rows(result: dict, label: str) -> list[str]:
    rows = []
    for name, s in result["conditions"].items():
        bands = " / ".join(f"{v:.2f}" for v in s["spectrum"])
        rows.append(
            f"| {label} | {result['step']} | {name} | {s['c2st']:.2f} | "
            f"{s['c2st_real_halves']:.2f} | {s['c2st_noise_control']:.2f} | {bands} | "
            f"{s['swd_ratio']:.2f} |"
        )
    return rows


HEADER = [
    "| run | step | condition | two-sample accuracy (0.5 = real) | real halves | real vs "
    "real + noise | power per band, samples / real (top octave first) | SWD / real halves |",
    "|---|---|---|---|---|---|---|---|",
]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--label", action="append", default=None, help="one per run (default: name)")
    p.add_argument("--note", default="", help="a line above the table: command, machine")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args()
    labels = args.label or [r.name for r in args.runs]
    lines = [
        f"\n## {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n",
        f"CPU: {cpu_model()} (native bf16: {'yes' if cpu_has_fast_bf16() else 'no'}). "
        + args.note + "\n",
        *HEADER,
    ]
    for run, label in zip(args.runs, labels):
        result = score_run(run)
        (run / "realism.json").write_text(json.dumps(result, indent=2) + "\n")
        lines += table_rows(result, label)
        print("\n".join(table_rows(result, label)), flush=True)
    if not args.out.exists():
        args.out.write_text(
            "# Realism of the demo's samples\n\nWritten by `python benchmarks/bench_realism.py "
            "RUN...`; see its docstring for what each column is.\n"
        )
    with args.out.open("a") as f:
        f.write("\n".join(lines) + "\n")
    print(args.out)


if __name__ == "__main__":
    main()
