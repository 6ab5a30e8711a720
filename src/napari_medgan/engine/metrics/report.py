"""Markdown report with PNG plots (matplotlib's object API on an Agg canvas: no pyplot, no
process-wide backend switch, imported lazily)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from .evaluate import EvaluationResult
from .realism import c2st_reading, spectrum_reading

LABELS = {
    "swd": ("Sliced Wasserstein distance (mean of pyramid levels)", "lower"),
    "msssim_gap": ("Diversity gap |MS-SSIM(pairs) − held-out MS-SSIM(pairs)|", "lower"),
    "kid": ("KID (fixed random-CNN features)", "lower"),
    "fd": ("Fréchet distance (fixed random-CNN features)", "lower"),
    "c2st": ("C2ST: held-out accuracy of a CNN telling the images from real", "≈ 0.5"),
    "spectrum": ("Power in the top spatial-frequency octave / real's", "0.75–1.33"),
    "coverage": ("Coverage: share of held-out slices with a scored image nearby (k-NN)",
                 "higher"),
    "recall": ("Recall: share of held-out slices inside the scored images' k-NN manifold",
               "higher"),
    "precision": ("Precision: share of scored images near a held-out slice", "≈ baseline"),
    "density": ("Density: held-out neighbourhoods per scored image / k", "≈ baseline"),
    "cond_accuracy": ("Conditional accuracy (independent classifier)", "higher"),
    "swap_accuracy": ("Condition-swap accuracy", "higher"),
    "nn_distance": ("Mean copy distance to the nearest training slice", "≈ baseline"),
    "nn_distance_feature": ("Mean feature distance to the nearest training slice", "≈ baseline"),
    "authpct": ("AuthPct (% authentic samples)", "≈ baseline"),
    "near_copy_fraction": ("Fraction below the near-copy threshold", "≈ baseline"),
    "ct": ("C_T effect size (Cliff's delta)", "≈ 0; < 0 copies"),
}
N_PAIRS = 8
NO_RATIO_DIRECTIONS = ("chance", "unity")  # values read against 0.5 or 1, not as ratios


def fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "–"
    v = float(v)
    if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e4):
        return f"{v:.2e}"
    return f"{v:.3g}"


def _ci(ci: Any) -> str:
    if not ci:
        return ""
    return f" [{fmt(ci[0])}, {fmt(ci[1])}]"


def _ratio(r: Any) -> str:
    return "–" if r is None else f"{r:.2f}×"


def _baseline_cell(m: dict[str, Any]) -> str:
    """Real baseline with its interval; with the sensitivity control beside it when present."""
    text = f"{fmt(m.get('baseline'))}{_ci(m.get('baseline_ci'))}"
    sens = m.get("sensitivity")
    return text if not sens else f"{text}; noise control {fmt(sens.get('value'))}"


def metrics_table(data: dict[str, Any]) -> str:
    """Markdown table: every metric for the generated images, the real baseline and the
    control rows; each value with its interval and its ratio to the baseline."""
    controls = dict(data.get("controls", {}))
    for name, row in data.get("other_checkpoints", {}).items():
        controls[f"{name} checkpoint (step {row['step']})"] = row
    head = ["Metric", "Generated [95% CI]", "ratio", "Real baseline [95% CI]"]
    head += [f"{name[0].upper() + name[1:]} (ratio)" for name in controls] + ["Better"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key, m in data["metrics"].items():
        label, better = LABELS.get(key, (key, m.get("better", "")))
        cells = [label, f"{fmt(m['value'])}{_ci(m.get('ci'))}", _ratio(m.get("ratio")),
                 _baseline_cell(m)]
        for row in controls.values():
            c = row["metrics"].get(key)
            cells.append("–" if c is None else f"{fmt(c['value'])} ({_ratio(c.get('ratio'))})")
        rows.append("| " + " | ".join([*cells, better]) + " |")
    return "\n".join(rows)


def per_condition_line(m: dict[str, Any], label: str = "SWD per condition") -> str:
    """``"SWD per condition: T1 0.071 (1.23×), GM ..."``: each condition's value and its ratio
    to that condition's real baseline (for ``c2st`` and ``spectrum``, the baseline itself:
    ``"T1 0.81 (real 0.48)"``); ``""`` when the metric has no per-condition values."""
    per, base = m.get("per_condition") or {}, m.get("baseline_per_condition") or {}
    if not per or not all(isinstance(v, (int, float)) for v in per.values()):
        return ""
    cells = []
    for name, v in per.items():
        b = base.get(name)
        if m.get("better") in NO_RATIO_DIRECTIONS:
            cells.append(f"{name} {fmt(v)} (real {fmt(b)})")
            continue
        r = None if not b or not np.isfinite(v) or b <= 0 else v / b
        cells.append(f"{name} {fmt(v)} ({_ratio(r)})")
    return f"{label}: " + ", ".join(cells)


def verdict_line(data: dict[str, Any]) -> str:
    mem = data["memorization"]
    if mem["flagged"]:
        return "**FLAGGED: copying of training slices** — " + "; ".join(mem["reasons"])
    return ("Not flagged: no excess of near-copies and C_T shows no copying "
            f"(estimated copied fraction {mem['copied_fraction']:.0%}).")


def _scored_rows(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Metric tables of the generated images, the other checkpoints and the controls by name."""
    rows = {"Generated": data["metrics"]}
    for name, row in data.get("other_checkpoints", {}).items():
        rows[f"{name[0].upper() + name[1:]} checkpoint"] = row["metrics"]
    for name, row in data.get("controls", {}).items():
        rows[name[0].upper() + name[1:]] = row["metrics"]
    return rows


def realism_lines(data: dict[str, Any]) -> list[str]:
    """The report's realism section: the two-sample test and the spectrum band ratios of every
    scored set, beside real vs real and the noise control."""
    c2, sp = data["metrics"].get("c2st"), data["metrics"].get("spectrum")
    if c2 is None or sp is None:
        return []
    sens = c2.get("sensitivity", {})
    n = ", ".join(f"{k} {v}" for k, v in c2.get("n_per_condition", {}).items())
    lines = [
        "## Realism", "",
        f"Classifier two-sample test ({n} images per set and condition, 5-fold; 0.5 = cannot be "
        f"told from real): {c2st_reading(c2)}. Real vs real {fmt(c2.get('baseline'))}"
        f"{_ci(c2.get('baseline_ci'))}; noise control (real + Gaussian noise σ = "
        f"{sens.get('noise_sigma', '–')}) {fmt(sens.get('value'))}{_ci(sens.get('ci'))}, "
        f"{'detected' if sens.get('detected') else 'NOT detected'}.", "",
    ]
    for name, m in _scored_rows(data).items():
        line = per_condition_line(m.get("c2st", {}), "C2ST per condition")
        c = m.get("c2st")
        if c is not None:
            lines.append(f"- {name}: C2ST {fmt(c['value'])}{_ci(c.get('ci'))}"
                         + (f"; {line}" if line else ""))
    lines += ["", "Power spectrum, ratio to real per octave band (band 0 = the finest, "
              "[Nyquist/2, Nyquist]; > 1 excess fine texture or speckle, < 1 blur; "
              "0.75–1.33 reads as real):", ""]
    head = ["Set"] + [f"band {b['band']} [{b['cycles_per_pixel'][0]:.3g}, "
                      f"{b['cycles_per_pixel'][1]:.3g}] cyc/px" for b in sp["per_band"]]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    sets = {name: m["spectrum"]["per_band"] for name, m in _scored_rows(data).items()
            if "spectrum" in m}
    sets["Real vs real"] = [{"value": v} for v in sp.get("baseline_per_band", [])]
    sets["Noise control"] = sp.get("sensitivity", {}).get("per_band", [])
    for name, bands in sets.items():
        rows.append("| " + " | ".join([name] + [fmt(b["value"]) + ("" if "ci" not in b
                                                 else _ci(b["ci"])) for b in bands]) + " |")
    lines += [*rows, ""]
    if sp.get("per_condition_bands"):
        lines += [f"- {k}: " + ", ".join(f"{v:.2f}×" for v in bands)
                  for k, bands in sp["per_condition_bands"].items()]
        lines += ["  (generated images per condition, bands 0, 1, …)", ""]
    lines += [f"Generated: {spectrum_reading(sp)}.", ""]
    return lines


def write_report(result: EvaluationResult, out_dir: str | Path, title: str = "") -> Path:
    """Write ``metrics.json``, ``report.md`` and the PNG plots into ``out_dir`` (must exist).

    Returns the path of ``report.md``.
    """
    out = Path(out_dir)
    data = result.to_dict()
    (out / "metrics.json").write_text(json.dumps(data, indent=2) + "\n")
    plots = _plots(result, out)
    fx, clf, proto, mem = (data["feature_extractor"], data.get("classifier"), data["protocol"],
                           data["memorization"])
    lines = [f"# {title or 'napari-medgan evaluation'}", ""]
    if not proto["heldout_given"]:
        lines += [f"> **{data['warnings'][0]}**", ""]
    lines.append(
        f"{data['n_generated']} scored images ({data.get('scored', 'generator')}) of "
        f"{data['size']}×{data['size']} px; conditions: {', '.join(data['class_names'])}."
    )
    if "checkpoint" in data:
        ck = data["checkpoint"]
        kind = ck.get("kind", ck.get("which", "given"))
        lines.append(f"Checkpoint: `{ck['path']}` ({kind}, step {ck['step']}; selected on: "
                     f"{ck.get('selected_on', 'not recorded')}).")
    per = ", ".join(f"{k} {v}" for k, v in proto["compared_per_condition"].items())
    lines += [
        "",
        f"Reference: {proto['reference']} ({proto['n_heldout']} slices); training slices: "
        f"{proto['n_train']}. Baseline: {proto['baseline']}. Every distribution metric compares "
        f"{data['n_compared']} images per set ({per}) with the reference (recall: as many as "
        "the training slices of each condition). Ratio = value / "
        f"baseline. Coverage, precision, density: pixel-space balls around held-out slices "
        f"(radius: k-th nearest training slice, k = "
        f"{data['metrics'].get('coverage', {}).get('k', '–')}); recall: balls around scored "
        "images (radius: k-th nearest scored image). They see mode collapse and (recall) "
        "missing anatomy levels, which SWD/KID/FD at these counts do not. "
        f"Intervals: {data['n_bootstrap']} bootstrap replicates, re-centred on the "
        f"estimate; seed {data['seed']}. Controls: verbatim = random training slices; untrained "
        "= the same generator architecture at its random initialisation.",
        "",
        "## Scores",
        "",
        metrics_table(data),
        "",
    ]
    swd_rows = {"Generated": data["metrics"].get("swd", {})}
    for name, row in data.get("other_checkpoints", {}).items():
        swd_rows[f"{name[0].upper() + name[1:]} checkpoint"] = row["metrics"].get("swd", {})
    for name, row in data.get("controls", {}).items():
        swd_rows[name[0].upper() + name[1:]] = row["metrics"].get("swd", {})
    swd_lines = [(name, per_condition_line(m)) for name, m in swd_rows.items()]
    if any(text for _, text in swd_lines):
        lines += [f"- {name}: {text}" for name, text in swd_lines if text]
        base = data["metrics"]["swd"].get("baseline_per_condition") or {}
        if base:
            lines.append("- Real baseline: SWD per condition: "
                         + ", ".join(f"{k} {fmt(v)}" for k, v in base.items()))
        lines += ["  (each condition's scored images vs its held-out slices; ratio to that "
                  "condition's training real vs held-out real)", ""]
    lines += realism_lines(data)
    lines += [
        "## Memorization",
        "",
        verdict_line(data),
        "",
        f"- Near-copy threshold: copy distance < {fmt(mem['copy_threshold'])} "
        f"({mem['calibration']}); {len(mem['near_copies'])} images below it; estimated copied "
        f"fraction {mem['copied_fraction']:.0%}{_ci(mem['copied_fraction_ci'])}.",
        "- Copy distance: blurred (σ = 1 px), mean-removed RMS, minimised over shifts of up to "
        "2 px (see docs/evaluation.md).",
    ]
    for name, row in data.get("controls", {}).items():
        m = row["memorization"]
        lines.append(f"- Control {name}: {'FLAGGED' if m['flagged'] else 'not flagged'} "
                     f"(estimated copied fraction {m['copied_fraction']:.0%}).")
    for name, row in data.get("other_checkpoints", {}).items():
        m = row["memorization"]
        lines.append(f"- The run's {name} checkpoint (step {row['step']}): "
                     f"{'FLAGGED' if m['flagged'] else 'not flagged'} (estimated copied "
                     f"fraction {m['copied_fraction']:.0%}).")
    lines += [
        "",
        "## Networks",
        "",
        f"- KID/FD features: `{fx['name']}` — SHA-256 `{fx['sha256']}` ({fx.get('kind', '')}); "
        + ("the same bytes on every machine for the same seed" if fx.get("arch") ==
           "medgan-randcnn-v1" else "trained on the training slices: the same bytes for any "
           "thread count on one kind of CPU and torch version")
        + ". Raw KID/FD compare only between reports naming the same hash; ratios to the real "
        "baseline measured in the same run compare across machines.",
    ]
    if clf:
        lines.append(f"- Condition classifier: `{clf['name']}` — {clf['steps']} steps on the "
                     "training slices (it scores held-out and generated slices it never saw).")
    lines.append("")
    if plots:
        lines += ["## Plots", ""] + [f"![{name}]({name})" for name in plots] + [""]
    if data.get("warnings"):
        lines += ["## Warnings", ""] + [f"- {w}" for w in data["warnings"]] + [""]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path


def _figure(w: float, h: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h))
    FigureCanvasAgg(fig)
    return fig


class _AggFigures:
    """pyplot's ``subplots()`` without pyplot's global state (figures on an Agg canvas)."""

    @staticmethod
    def subplots(nrows: int = 1, ncols: int = 1, figsize=(5, 3.2), **kwargs):
        fig = _figure(*figsize)
        return fig, fig.subplots(nrows, ncols, **kwargs)


def _plots(result: EvaluationResult, out: Path) -> list[str]:
    data = result.to_dict()
    names = []
    swd = data["metrics"]["swd"]["per_level"]
    levels = list(swd)
    fig = _figure(5, 3.2)
    ax = fig.subplots()
    x = np.arange(len(levels))
    ax.bar(x - 0.2, [swd[lv]["value"] for lv in levels], 0.4, label="generated")
    ax.bar(x + 0.2, [swd[lv].get("baseline", np.nan) for lv in levels], 0.4,
           label="training real vs held-out")
    ax.set_xticks(x, [f"{lv} px" for lv in levels])
    ax.set_ylabel("SWD")
    ax.set_title("Sliced Wasserstein distance per pyramid level")
    ax.legend()
    names.append(_save(fig, out / "swd_levels.png"))

    gap = data["metrics"]["msssim_gap"]
    per, base = gap.get("per_condition", {}), gap.get("baseline_per_condition", {})
    conds = list(per)
    if conds:
        fig = _figure(5, 3.2)
        ax = fig.subplots()
        x = np.arange(len(conds))
        ax.bar(x - 0.27, [per[c]["heldout"] for c in conds], 0.27, label="held-out real")
        ax.bar(x, [base.get(c, {}).get("images", np.nan) for c in conds], 0.27,
               label="training real")
        ax.bar(x + 0.27, [per[c]["images"] for c in conds], 0.27, label="generated")
        ax.set_xticks(x, conds)
        ax.set_ylabel("mean MS-SSIM of random pairs")
        ax.set_title("Diversity (lower = more varied)")
        ax.legend(fontsize=8)
        names.append(_save(fig, out / "diversity.png"))
    if "spectrum" in data["metrics"]:
        names.append(_spectrum_plot(data, out / "spectrum_bands.png"))
    names.append(_pairs_plot(result, out / "nearest_neighbours.png"))
    return names


def _spectrum_plot(data: dict[str, Any], path: Path) -> str:
    sp = data["metrics"]["spectrum"]
    sets = {name: [b["value"] for b in m["spectrum"]["per_band"]]
            for name, m in _scored_rows(data).items() if "spectrum" in m}
    sets["real vs real"] = sp.get("baseline_per_band", [])
    sets["noise control"] = [b["value"] for b in sp.get("sensitivity", {}).get("per_band", [])]
    fig = _figure(5.5, 3.2)
    ax = fig.subplots()
    x = np.arange(len(sp["per_band"]))
    width = 0.8 / len(sets)
    for i, (name, vals) in enumerate(sets.items()):
        ax.bar(x[: len(vals)] + (i - (len(sets) - 1) / 2) * width, vals, width, label=name)
    lo, hi = sp.get("ok_range", (0.75, 1.33))
    ax.axhspan(lo, hi, color="0.85", zorder=0)
    ax.set_yscale("log")
    ax.set_xticks(x, [f"band {k}" for k in x])
    ax.set_ylabel("power / real power")
    ax.set_title("Power per octave band (band 0 = finest; grey: reads as real)", fontsize=9)
    ax.legend(fontsize=7)
    return _save(fig, path)


def _pairs_plot(result: EvaluationResult, path: Path) -> str:
    order = np.argsort(result.nn_distance)[:N_PAIRS]
    fig = _figure(1.6 * len(order), 3.6)
    axes = fig.subplots(2, len(order), squeeze=False)
    src = result.to_dict()["memorization"]["nearest"]["source"]
    for j, i in enumerate(order):
        axes[0, j].imshow(result.generated[i], cmap="gray", vmin=-1, vmax=1)
        axes[0, j].set_title(f"scored #{i}", fontsize=7)
        axes[1, j].imshow(result.real[result.nn_index[i]], cmap="gray", vmin=-1, vmax=1)
        axes[1, j].set_title(f"{src[i][-10:]} d={result.nn_distance[i]:.3f}", fontsize=6)
        for a in axes[:, j]:
            a.axis("off")
    fig.suptitle("Scored images closest to a training slice (top) and that slice (bottom)",
                 fontsize=8)
    return _save(fig, path)


def _save(fig, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path.name
