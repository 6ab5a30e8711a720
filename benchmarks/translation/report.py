"""The translation benchmark's table and picture, from the stored runs."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from . import BENCH_DIR, RUNS

DOCS = BENCH_DIR.parent / "docs"
METHODS = (
    "model (latest)", "model (best)", "identity", "monotone (isotonic)", "3x3 patch model",
    "untrained model",
)  # fmt: skip
SHEET = ("source", "truth", "model (latest)", "monotone (isotonic)", "3x3 patch model")


def report() -> Path:
    lines = [
        "# Translation benchmark: T1 → GM and T1 → WM on held-out MNI152 slabs",
        "",
        "Written by `python benchmarks/bench_translation.py report` from "
        "`benchmarks/translation_runs/`; each run by `bench_translation.py run --target T "
        "--seed S --budget B` (one CPU thread, budget in process CPU seconds). Scores are means "
        "over the held-out slices on the native 2 mm grid, in the target map's units "
        "(MAE, lower is better; PSNR and SSIM with the target window as data range, higher is "
        "better). Baselines are fitted on the training slabs of the same split.",
        "",
    ]
    for folder in sorted(p for p in RUNS.iterdir() if p.is_dir()):
        lines += tag_section(folder)
    out = BENCH_DIR / "results_translation.md"
    out.write_text("\n".join(lines))
    return out


def tag_section(folder: Path) -> list[str]:
    """The tables of one set of runs (``translation_runs/TAG``) and its picture."""
    runs = [json.loads(p.read_text()) for p in sorted(folder.glob("*-s*.json"))]
    c = runs[0]["config"]
    lines = [
        f"## `{folder.name}`: {c['size']} px slices"
        + (f", trained on {c['crop']} px windows" if c.get("crop") else ", whole slices"),
        "",
        f"Command: `{runs[0]['command']}` (per target and seed).",
        "",
    ]
    for target in sorted({r["target"] for r in runs}):
        mine = sorted((r for r in runs if r["target"] == target), key=lambda r: r["seed"])
        r0 = mine[0]
        lines += [
            f"### T1 → {target}",
            "",
            f"Seeds {', '.join(str(r['seed']) for r in mine)}; budget "
            f"{r0['budget_cpu_s']:.0f} CPU-s; steps reached "
            f"{', '.join(str(r['steps']) for r in mine)}; {r0['heldout_slices']} held-out and "
            f"{r0['train_slices']} training slices; CPU: {r0['machine']}.",
            "",
            "| method | MAE | PSNR (dB) | SSIM |",
            "|---|---|---|---|",
        ]
        for method in METHODS:
            cells = []
            for key, fmt in (("mae", "{:.4f}"), ("psnr", "{:.2f}"), ("ssim", "{:.4f}")):
                values = np.array([r["scores"][method][key] for r in mine])
                cell = fmt.format(values.mean())
                if len(values) > 1:
                    cell += " ± " + fmt.format(values.max() - values.min()).lstrip("0")
                    cell = cell.replace("± .", "± 0.")
                cells.append(cell)
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        lines += ["", "± is the spread (max − min) over the seeds.", ""]
    sheet = draw_sheet(folder)
    if sheet is not None:
        lines += [f"![held-out slices]({Path('..') / sheet.relative_to(BENCH_DIR.parent)})", ""]
    return lines


def draw_sheet(folder: Path) -> Path | None:
    """Held-out slices of seed 0: source, truth and three methods side by side, per target."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = sorted(folder.glob("*-samples.npz"))
    if not files:
        return None
    rows = [(f.name.split("-")[0], np.load(f)) for f in files]
    n_rows = sum(len(s["slices"]) for _, s in rows)
    fig, axes = plt.subplots(n_rows, len(SHEET), figsize=(2.2 * len(SHEET), 2.4 * n_rows))
    row = 0
    for target, samples in rows:
        for k, z in enumerate(samples["slices"]):
            for col, name in enumerate(SHEET):
                ax = axes[row, col]
                image = samples[name][k].astype(np.float32)
                vmax = 1.0 if name != "source" else float(samples["source"].max())
                ax.imshow(np.flipud(image), cmap="gray", vmin=0, vmax=vmax)
                ax.set_xticks([])
                ax.set_yticks([])
                if row == 0:
                    ax.set_title(name.replace("monotone (isotonic)", "monotone"), fontsize=9)
                if col == 0:
                    ax.set_ylabel(f"T1 → {target}\nslice {int(z)}", fontsize=9)
            row += 1
    fig.tight_layout()
    out = DOCS / f"translation_sheet_{folder.name}.png"
    fig.savefig(out, dpi=80)
    plt.close(fig)
    return out


def speed(run_dir: Path, threads: int = 2) -> str:
    """Seconds to translate the whole 2 mm MNI152 T1 volume (after one warm-up slice)."""
    import torch

    from napari_medgan.engine import Volume
    from napari_medgan.engine.families.translate.infer import Translator
    from napari_medgan.io import load_mni152

    torch.set_num_threads(threads)
    t1 = next(im for im in load_mni152(resolution=2) if im.name == "T1")
    volume = Volume(t1.data, t1.spacing, name="T1", origin=t1.origin)
    translator = Translator.from_checkpoint(run_dir)
    translator.translate(Volume(t1.data[40:41], t1.spacing, name="warm-up"))
    times = []
    for _ in range(3):
        start = time.perf_counter()
        out = translator.translate(volume)
        times.append(time.perf_counter() - start)
    assert out.shape == t1.data.shape
    return (
        f"whole T1 volume {t1.data.shape}: {min(times):.2f} s best, {max(times):.2f} s worst of "
        f"3 ({threads} torch threads); output shape {out.shape}"
    )
