"""The report (``bench_quality.py report``): markdown table, SWD-vs-CPU-time plot, samples.

Every ``*.json`` directly in ``quality_runs/`` is one benchmark process (same data, split, seed
and scorer); older runs at shorter budgets live in sub-folders and are not part of the report.
The textbook loop's curve (``method == "dcgan"``) of the same series (tag prefix) and seed is
the baseline of each time-to-quality line.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from . import RUNS
from .levels import level_table

#: Labels of runs started before ``--label`` existed.
LABELS = {
    "s2-dcgan": "textbook DCGAN loop (benchmark's own)",
    "s2-seedlike": "upconv nets, betas (0, 0.9), DiffAugment translation+cutout p=1, no R1, "
    "EMA 0.999, batch 32",
}

#: Commands of runs started before the JSON recorded them.
COMMANDS = {
    "s2-dcgan": "python benchmarks/bench_quality.py --method dcgan --budgets 180,360,720 "
    "--tag s2-dcgan",
    "s2-seedlike": "python benchmarks/bench_quality.py --method project --preset cpu "
    "--budgets 180,360,720 --set beta1=0.0 --set beta2=0.9 --set augment=translation,cutout "
    "--set augment_p=1.0 --set ada_target=0.0 --set r1_gamma=0.0 --set ema_decay=0.999 "
    "--extra-scores raw --tag s2-seedlike (stopped after the 360-s point; these settings "
    "override every one in which the preset of that time differs from this run)",
}


def _mean(scores, key="swd"):
    return float(np.mean([s[key] for s in scores]))


def _opt(scores, key) -> str:
    """Mean of ``key`` over the conditions, or – for runs made before it was scored."""
    return f"{_mean(scores, key):.2f}" if key in scores[0] else "–"


def _load(runs_dir: Path) -> dict[str, dict]:
    out = {}
    for path in sorted(runs_dir.glob("*.json")):
        if path.stem not in ("speed", "levels"):
            out[path.stem] = json.loads(path.read_text())
    return out


def _label(tag: str, payload: dict) -> str:
    return payload.get("label") or LABELS.get(tag, tag)


#: A point counts towards time-to-quality only if its samples are at least this varied (mean
#: pairwise L2 within a condition, as a fraction of the real training slices'): a generator
#: making one image per condition scores well on SWD against a dozen held-out slices.
MIN_DIVERSITY = 0.8


def _diversity_ratio(point, real_scores):
    """Worst condition's pairwise-L2 diversity relative to real (None if not measured)."""
    if "l2div" not in point["scores"][0] or "l2div" not in real_scores[0]:
        return None
    return min(s["l2div"] / r["l2div"] for s, r in zip(point["scores"], real_scores))


def _time_to_reach(curve, target, real_scores=None):
    """CPU seconds at which a curve first reaches ``target`` SWD (linear interpolation).

    With ``real_scores``, points whose samples are less varied than :data:`MIN_DIVERSITY` of
    real (collapsed) never count as reaching it.
    """
    prev = None
    for p in curve:
        v = _mean(p["scores"])
        div = _diversity_ratio(p, real_scores) if real_scores else None
        if div is not None and div < MIN_DIVERSITY:
            v = float("inf")
        if v <= target:
            if prev is None:
                return p["cpu_s"]
            (t0, v0), t1 = prev, p["cpu_s"]
            return t0 + (t1 - t0) * (v0 - target) / (v0 - v) if v0 != v else t1
        prev = (p["cpu_s"], v)
    return None


def _series(tag: str, payload: dict) -> tuple[str, int]:
    """Runs compared with each other: the same tag prefix (``s5-...``) and the same seed."""
    return tag.split("-")[0], int(payload.get("seed", 0))


def _dcgan_curves(runs) -> dict[tuple[str, int], tuple[str, list]]:
    """The textbook loop's curve of each series."""
    out = {}
    for tag, payload in runs.items():
        for run in payload["runs"]:
            if run["method"] == "dcgan" and run["curve"]:
                out.setdefault(_series(tag, payload), (tag, run["curve"]))
    return out


#: How each ``--split`` holds slices out (runs before ``--split`` existed used slabs).
SPLITS = {
    "slabs": "3 slabs at 1/4, 1/2 and 3/4 of the slice range (gap 4 slices)",
    "interleaved": "every 5th slice, spanning every level (gap 1 slice)",
}

#: Series whose final samples make up the report's sample sheet (the latest of each split).
SHEET_SERIES = ("s5", "s8", "s9")


def _split(payload: dict) -> str:
    return payload.get("split", "slabs")


def _split_lines(runs) -> list[str]:
    """Per split: what is held out, the counts and the real baseline."""
    out = []
    for split, how in SPLITS.items():
        same = [p for p in runs.values() if _split(p) == split]
        first = next((p for p in same if "coverage" in p["real"][0]), same[0] if same else None)
        if first is None:
            continue
        out.append(
            f"- **{split}** split: held out {how}; per condition {first['n_held']} held out, "
            f"{first['n_train']} training. Real baseline (training real vs held-out real, same "
            f"count): SWD×10³ = **{_mean(first['real']):.1f}**"
            + (
                f", coverage {_opt(first['real'], 'coverage')}, conditional accuracy "
                f"{_opt(first['real'], 'cond_acc')}."
                if "coverage" in first["real"][0]
                else "."
            )
        )
    return out


def write_report(runs_dir: Path, out_dir: Path) -> Path:
    runs = _load(runs_dir)
    lines = ["# Quality per CPU-second: project vs the textbook DCGAN loop", ""]
    any_run = next(iter(runs.values()))
    env = any_run["env"]
    loads = sorted(
        {round(p["env"]["loadavg_start"][0], 1) for p in runs.values()}
        | {round(p["env"].get("loadavg_end", [0])[0], 1) for p in runs.values()}
    )
    lines += [
        f"Data: MNI152 T1/GM/WM axial slices at {env['size']} px. "
        f"torch {env['torch']}, {env['threads']} torch thread per process, budgets in process "
        "CPU seconds (scoring excluded), two to four benchmark processes at a time on a shared "
        f"2-core machine (load averages seen at starts/ends: {', '.join(map(str, loads))}).",
        "",
        *_split_lines(runs),
        "",
        "SWD is compared only within a split; × real is the ratio to the run's own split's "
        "baseline. On the slab split, training slices from only the middle half of the levels "
        "score a third of the real baseline, so SWD there rewards leaving out levels (*Level "
        "controls* below; docs/quality.md).",
        "Diversity: mean pairwise L2 of 32 samples within a condition, as a fraction of real "
        "training slices' (worst condition; 1.0 = as varied as real, near 0 = one image per "
        "condition), and mean pairwise MS-SSIM (real: "
        + " / ".join(f"{r['msssim']:.2f}" for r in any_run["real"] if "msssim" in r)
        + "; higher = more alike).",
        "",
        "Coverage: share of held-out slices with a sample within their ball (radius: distance "
        "to the 5th nearest training slice), mean of conditions (real: training slices at the "
        "held-out count); conditional accuracy: share of samples that a classifier trained on "
        "the training slices assigns to their condition (real: held-out slices). Both only in "
        "runs from 2026-11-29 04:20 on (`s5-*` and later); real values per split above.",
        "",
        "| run | CPU s | steps | images | SWD×10³ (mean of T1/GM/WM) | × real | "
        "nearest-real ratio | diversity (L2 / real) | MS-SSIM | coverage | cond. acc. | "
        "per condition SWD×10³ |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for tag, payload in runs.items():
        for run in payload["runs"]:
            name = _label(tag, payload)
            real = _mean(payload["real"])
            for p in run["curve"]:
                v = _mean(p["scores"])
                per = " / ".join(f"{s['swd']:.0f}" for s in p["scores"])
                div = _diversity_ratio(p, payload["real"])
                div_txt = "–" if div is None else f"{div:.2f}"
                sim = " / ".join(f"{s['msssim']:.2f}" for s in p["scores"] if "msssim" in s)
                lines.append(
                    f"| {name} (`{tag}`) | {p['cpu_s']:.0f} | {p['steps']} | "
                    f"{p['images']} | {v:.1f} | {v / real:.2f} | "
                    f"{_mean(p['scores'], 'nn_ratio'):.2f} | {div_txt} | {sim or '–'} | "
                    f"{_opt(p['scores'], 'coverage')} | {_opt(p['scores'], 'cond_acc')} | {per} |"
                )
                for which in ("raw", "stale"):
                    if f"scores_{which}" in p:
                        w = _mean(p[f"scores_{which}"])
                        label = {
                            "raw": "same run, raw G (no EMA)",
                            "stale": "same run, EMA with the training G's BatchNorm "
                            "statistics (stale)",
                        }[which]
                        lines.append(
                            f"| ↳ {label} | {p['cpu_s']:.0f} | | | {w:.1f} | {w / real:.2f} | "
                            f"{_mean(p[f'scores_{which}'], 'nn_ratio'):.2f} | | | | | |"
                        )
    lines += ["", *_targets(runs), "", *level_table(runs_dir / "levels.json")]
    lines += ["", *_speed(runs_dir), "", "## Commands", ""]
    for tag, payload in runs.items():
        command = payload.get("command") or COMMANDS.get(tag)
        if command:
            lines.append(f"- `{tag}`: `{command}`")
    lines += ["", "![SWD vs CPU time](quality_swd_vs_cpu.png)", ""]
    lines.append("![samples](quality_samples.png)")
    _plot(runs, out_dir / "quality_swd_vs_cpu.png")
    _samples(runs, out_dir / "quality_samples.png")
    path = out_dir / "results_quality.md"
    path.write_text("\n".join(lines) + "\n")
    print(path)
    return path


def _targets(runs):
    curves = _dcgan_curves(runs)
    if not curves:
        return ["(no textbook DCGAN run)"]
    out = [
        "## Time to quality (target: a project run reaches DCGAN's SWD at T in ≤ T/2)",
        "",
        f"Points whose diversity is below {MIN_DIVERSITY} of real's (collapsed) never count. "
        "Each project run is compared with the textbook run of its series (tag prefix) and seed.",
        "",
        "| project run | textbook run | textbook's SWD×10³ at its budgets | time to reach each "
        "(speed-up) |",
        "|---|---|---|---|",
    ]
    for tag, payload in runs.items():
        for run in payload["runs"]:
            series = _series(tag, payload)
            if run["method"] == "dcgan" or series not in curves:
                continue
            dc_tag, dc = curves[series]
            cells = []
            first = run["curve"][0]["cpu_s"] if run["curve"] else None
            for p in dc:
                t = _time_to_reach(run["curve"], _mean(p["scores"]), payload["real"])
                if t is None:
                    last = run["curve"][-1]["cpu_s"] if run["curve"] else 0
                    cells.append(f"{p['cpu_s']:.0f} s: not by {last:.0f} s")
                elif t == first:  # reached by the first budget: when exactly is not measured
                    cells.append(f"{p['cpu_s']:.0f} s: ≤ {t:.0f} s (≥ {p['cpu_s'] / t:.1f}×)")
                else:
                    cells.append(f"{p['cpu_s']:.0f} s: {t:.0f} s ({p['cpu_s'] / t:.1f}×)")
            swds = " / ".join(f"{_mean(p['scores']):.1f}" for p in dc)
            out.append(f"| `{tag}` | `{dc_tag}` | {swds} | " + "; ".join(cells) + " |")
    return out


def _speed(runs_dir):
    path = runs_dir / "speed.json"
    if not path.exists():
        return ["(speed table not measured in this session)"]
    d = json.loads(path.read_text())
    load = ", ".join(f"{v:.1f}" for v in d.get("loadavg", []))
    out = [
        f"## Throughput ({d['threads']} torch thread(s), images per CPU-second of training)",
        "",
        f"Paired in one process: the two loops take turns, a few steps each per round; medians "
        f"over rounds, ratio = project / textbook per round (median [lowest, highest]). "
        f"{d['date']}, load average at the end {load}.",
        "",
        "| size | precision | project | batch | textbook img / CPU-s | project img / CPU-s | "
        "ratio | network GFLOP / image (textbook / project) | train-step GFLOP / image | "
        "params (M, G+D) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in d["rows"]:
        nf, sf, pm = r["net_gflops"], r["step_gflops"], r["params_m"]
        out.append(
            f"| {r['size']} | {r['precision']} | {r['project']} | {r['batch'][1]} | "
            f"{r['a_img_per_cpu_s']:.1f} | {r['b_img_per_cpu_s']:.1f} | "
            f"**{r['ratio_median']:.2f}×** [{r['ratio_min']:.2f}, {r['ratio_max']:.2f}] | "
            f"{nf[0]:.3f} / {nf[1]:.3f} | {sf[0]:.2f} / {sf[1]:.2f} | {pm[0]:.2f} / {pm[1]:.2f} |"
        )
    return out


def _plot(runs, path):
    """SWD vs CPU time, one panel per split (each with its real baseline)."""
    import matplotlib

    matplotlib.use("Agg")  # the benchmark is a script, not the library
    import matplotlib.pyplot as plt

    splits = [s for s in SPLITS if any(_split(p) == s for p in runs.values())]
    fig, axes = plt.subplots(1, len(splits), figsize=(9.5 * len(splits), 5.5), squeeze=False)
    for ax, split in zip(axes[0], splits):
        real = None
        for tag, payload in runs.items():
            if _split(payload) != split:
                continue
            real = _mean(payload["real"])
            for run in payload["runs"]:
                xs = [p["cpu_s"] for p in run["curve"]]
                ys = [_mean(p["scores"]) for p in run["curve"]]
                main = run["method"] == "dcgan" or payload.get("headline")
                style = "-o" if main else "--."
                ax.plot(xs, ys, style, label=tag, lw=2 if main else 1)
        ax.axhline(real, color="k", ls=":", label="real baseline")
        ax.set_title(f"{split} split", fontsize=9)
        ax.set_xlabel("training CPU seconds (1 torch thread)")
        ax.set_ylabel("SWD×10³ vs held-out real (lower is better)")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside, not over
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def point_samples(run: dict, point: int = -1) -> tuple[dict | None, dict | None]:
    """Budget point ``point`` of a run and the 8 samples per condition saved with it, in the
    model range [-1, 1] (``None`` where there are none). The run-level samples of older runs
    belong to the last point only."""
    if not run["curve"]:
        return None, None
    pt = run["curve"][point]
    saved = pt.get("samples") or (run.get("samples") if pt is run["curve"][-1] else None)
    if not saved:
        return pt, None
    return pt, {cond: np.asarray(imgs) / 127.5 - 1 for cond, imgs in saved.items()}


def sample_sheet(rows: list[tuple[str, np.ndarray]], path) -> None:
    """A labelled row of images per ``(label, images)``, grey in [-1, 1], written to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = max(len(r[1]) for r in rows)
    fig, axes = plt.subplots(len(rows), n, figsize=(n * 1.1, len(rows) * 1.15), squeeze=False)
    for i, (label, imgs) in enumerate(rows):
        for j in range(n):
            ax = axes[i, j]
            ax.axis("off")
            if j < len(imgs):
                ax.imshow(imgs[j], cmap="gray", vmin=-1, vmax=1)
        axes[i, 0].set_title(label, fontsize=7, loc="left")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def sample_rows(tag: str, run: dict, point: int = -1) -> list[tuple[str, np.ndarray]]:
    """The sheet rows of one run's samples at a budget point (none when it saved none)."""
    pt, samples = point_samples(run, point)
    return [(f"{tag} {c} @{pt['cpu_s']:.0f}s", imgs) for c, imgs in (samples or {}).items()]


def _samples(runs, path):
    rows = [
        row
        for tag, payload in runs.items()
        if _series(tag, payload)[0] in SHEET_SERIES
        for row in sample_rows(tag, payload["runs"][0])
    ]
    if rows:
        sample_sheet(rows, path)


def runs_sheet(out: str, specs: list[str]) -> None:
    """Chosen runs' saved samples side by side (``bench_quality.py sheet OUT.png TAG[@POINT] ...``).

    For each run, the 8 samples per condition saved at budget point POINT (0 = the first budget;
    the last when omitted), one row per condition, as the report's ``quality_samples.png`` does.
    That sheet shows only some series; this shows any run, e.g. ``s10-r1-seed0@2 s8-cpu-seed0@2``.
    """
    rows = []
    for spec in specs:
        tag, _, point = spec.partition("@")
        run = json.loads((RUNS / f"{tag}.json").read_text())["runs"][0]
        rows += sample_rows(tag, run, int(point) if point else -1)
    sample_sheet(rows, out)
    print(out)
