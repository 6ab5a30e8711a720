"""Report part of ``bench_quality.py --report``: markdown table, SWD-vs-CPU-time plot, samples."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

HEADLINE = ("dcgan", "batch32")
LABELS = {
    "dcgan": "textbook DCGAN loop (benchmark's own)",
    "full": "project, dcgan nets (base 64) + new recipe, batch 64",
    "old-defaults": "project, seed engine defaults at 64 px (before this change)",
    "w32": "cpu preset, half width (base 32, max 256)",
    "noaug": "cpu preset, no augmentation",
    "nor1": "cpu preset, no R1",
    "batch32": "cpu preset (batch 32)",
    "headline/dcgan": "one-process run: textbook DCGAN loop",
    "headline/project": "one-process run: project, upconv nets, batch 64",
    "nosn": "cpu preset without spectral norm in D (R1 only)",
    "diffaug": "cpu preset, fixed DiffAugment (translation+cutout, p=1) instead of ADA",
    "legacy-arch": "cpu preset recipe on the seed's networks (base 32, max 256)",
}


def _mean(scores, key="swd"):
    return float(np.mean([s[key] for s in scores]))


def _load(runs_dir: Path) -> dict[str, dict]:
    out = {}
    for path in sorted(runs_dir.glob("*.json")):
        if path.stem != "speed":
            out[path.stem] = json.loads(path.read_text())
    return out


def _time_to_reach(curve, target):
    """CPU seconds at which a curve first reaches ``target`` SWD (linear interpolation)."""
    prev = None
    for p in curve:
        v = _mean(p["scores"])
        if v <= target:
            if prev is None:
                return p["cpu_s"]
            (t0, v0), t1 = prev, p["cpu_s"]
            return t0 + (t1 - t0) * (v0 - target) / (v0 - v) if v0 != v else t1
        prev = (p["cpu_s"], v)
    return None


def write_report(runs_dir: Path, out_dir: Path) -> Path:
    runs = _load(runs_dir)
    lines = ["# Quality per CPU-second: project vs the textbook DCGAN loop", ""]
    any_run = next(iter(runs.values()))
    env = any_run["env"]
    real = _mean(any_run["real"])
    lines += [
        f"Data: MNI152 T1/GM/WM axial slices at {env['size']} px; held out per condition: "
        f"{any_run['n_held']} slices in 3 slabs (gap 4 slices), training {any_run['n_train']}. "
        f"torch {env['torch']}, {env['threads']} torch thread(s), budgets in process CPU "
        f"seconds (scoring excluded). Load average at start {env['loadavg_start'][0]:.1f} "
        "(a shared 2-core machine).",
        "",
        f"Real baseline (training real vs held-out real, same count): SWD×10³ = **{real:.1f}**.",
        "",
        "| run | CPU s | steps | images | SWD×10³ (mean of T1/GM/WM) | × real | "
        "nearest-real ratio | per condition SWD×10³ |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for tag, payload in runs.items():
        for run in payload["runs"]:
            name = tag if len(payload["runs"]) == 1 else f"{tag}/{run['method']}"
            for p in run["curve"]:
                v = _mean(p["scores"])
                per = " / ".join(f"{s['swd']:.0f}" for s in p["scores"])
                lines.append(
                    f"| {LABELS.get(name, name)} | {p['cpu_s']:.0f} | {p['steps']} | "
                    f"{p['images']} | {v:.1f} | {v / real:.2f} | "
                    f"{_mean(p['scores'], 'nn_ratio'):.2f} | {per} |"
                )
                for which in ("raw", "stale"):
                    if f"scores_{which}" in p:
                        w = _mean(p[f"scores_{which}"])
                        label = {"raw": "same run, raw G (no EMA)", "stale": "same run, EMA "
                                 "with the training G's BatchNorm statistics (stale)"}[which]
                        lines.append(
                            f"| ↳ {label} | {p['cpu_s']:.0f} | | | {w:.1f} | {w / real:.2f} | "
                            f"{_mean(p[f'scores_{which}'], 'nn_ratio'):.2f} | |"
                        )
    lines += ["", *_targets(runs), "", *_speed(runs_dir), ""]
    lines.append("![SWD vs CPU time](quality_swd_vs_cpu.png)")
    lines.append("")
    lines.append("![samples](quality_samples.png)")
    _plot(runs, real, out_dir / "quality_swd_vs_cpu.png")
    _samples(runs, out_dir / "quality_samples.png")
    path = out_dir / "results_quality.md"
    path.write_text("\n".join(lines) + "\n")
    print(path)
    return path


def _curve(runs, tag):
    if tag in runs:
        return runs[tag]["runs"][0]["curve"]
    for payload in runs.values():
        for run in payload["runs"]:
            if run["method"] == "dcgan" and tag == "dcgan":
                return run["curve"]
    return None


def _targets(runs):
    dc, pr = _curve(runs, "dcgan"), _curve(runs, "batch32")  # batch32 = the cpu preset
    if not dc or not pr:
        return ["(headline runs missing)"]
    out = ["## Time to quality (target: the project reaches DCGAN's SWD at T in ≤ T/2)", ""]
    for p in dc:
        target = _mean(p["scores"])
        t = _time_to_reach(pr, target)
        reached = f"{t:.0f} CPU s ({p['cpu_s'] / t:.1f}× faster)" if t else "not within budget"
        out.append(f"- DCGAN at {p['cpu_s']:.0f} CPU s: SWD×10³ {target:.1f}; project: {reached}")
    return out


def _speed(runs_dir):
    path = runs_dir / "speed.json"
    if not path.exists():
        return ["(speed table not measured)"]
    d = json.loads(path.read_text())
    out = [
        f"## Throughput ({d['threads']} torch thread(s), images per CPU-second of training)",
        "",
        "| size | method | batch | img / CPU-s | GFLOP / image (train step) | params (M, G+D) |",
        "|---|---|---|---|---|---|",
    ]
    for r in d["rows"]:
        out.append(
            f"| {r['size']} | {r['method']} | {r['batch']} | {r['img_per_cpu_s']:.1f} | "
            f"{r['gflops_per_img']:.2f} | {r['params_m']:.2f} |"
        )
    return out


def _plot(runs, real, path):
    import matplotlib

    matplotlib.use("Agg")  # the benchmark is a script, not the library
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for tag, payload in runs.items():
        for run in payload["runs"]:
            name = run["method"] if run["method"] == "dcgan" else tag
            xs = [p["cpu_s"] for p in run["curve"]]
            ys = [_mean(p["scores"]) for p in run["curve"]]
            style = "-o" if name in HEADLINE else "--."
            ax.plot(xs, ys, style, label=LABELS.get(name, name), lw=2 if name in HEADLINE else 1)
    ax.axhline(real, color="k", ls=":", label="real baseline")
    ax.set_xlabel("training CPU seconds (1 torch thread)")
    ax.set_ylabel("SWD×10³ vs held-out real (lower is better)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _samples(runs, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = []
    for tag in ("dcgan", "full", "legacy-arch", "w32"):
        payload = runs.get(tag)
        if not payload or "samples" not in payload["runs"][0]:
            continue
        run = payload["runs"][0]
        cpu = run["curve"][-1]["cpu_s"]
        for cond, imgs in run["samples"].items():
            rows.append((f"{tag} {cond} @{cpu:.0f}s", np.asarray(imgs) / 127.5 - 1))
    if not rows:
        return
    n = max(len(r[1]) for r in rows)
    fig, axes = plt.subplots(len(rows), n, figsize=(n * 1.1, len(rows) * 1.15))
    for i, (label, imgs) in enumerate(rows):
        for j in range(n):
            ax = axes[i, j]
            ax.axis("off")
            if j < len(imgs):
                ax.imshow(imgs[j], cmap="gray", vmin=-1, vmax=1)
        axes[i, 0].set_title(label, fontsize=7, loc="left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
