"""Markdown report with PNG plots (matplotlib figures drawn by Agg directly, imported lazily).

No pyplot and no ``matplotlib.use``: writing a report never switches the backend of a napari
session or registers figures with pyplot.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from .evaluate import EvaluationResult

LABELS = {
    "swd": ("Sliced Wasserstein distance (mean of pyramid levels)", "lower"),
    "msssim_gap": ("Diversity gap |MS-SSIM(pairs) − real MS-SSIM(pairs)|", "lower"),
    "kid": ("KID (trained-here CNN features)", "lower"),
    "fd": ("Fréchet distance (trained-here CNN features)", "lower"),
    "cond_accuracy": ("Conditional accuracy (independent classifier)", "higher"),
    "swap_accuracy": ("Condition-swap accuracy", "higher"),
    "nn_distance_pixel": ("Mean distance to nearest training slice (pixel RMS)", "near baseline"),
    "nn_distance_feature": ("Mean distance to nearest training slice (features)", "near baseline"),
    "authpct": ("AuthPct (% authentic samples)", "near baseline"),
    "near_copy_fraction": ("Fraction of near-copies of training slices", "lower"),
    "ct": ("C_T data-copying statistic (z)", "≈ 0; ≪ 0 copies"),
}
N_PAIRS = 8


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "–"
    v = float(v)
    if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e4):
        return f"{v:.2e}"
    return f"{v:.4g}"


def _ci(ci: Any) -> str:
    if not ci:
        return ""
    return f" [{_fmt(ci[0])}, {_fmt(ci[1])}]"


def metrics_table(data: dict[str, Any]) -> str:
    """Markdown table: metric, generated (CI), real-vs-real baseline (CI), which is better."""
    rows = ["| Metric | Generated (95% CI) | Real vs real (95% CI) | Better |",
            "|---|---|---|---|"]
    for key, m in data["metrics"].items():
        label, better = LABELS.get(key, (key, m.get("better", "")))
        rows.append(
            f"| {label} | {_fmt(m['value'])}{_ci(m.get('ci'))} | "
            f"{_fmt(m.get('baseline'))}{_ci(m.get('baseline_ci'))} | {better} |"
        )
    return "\n".join(rows)


def write_report(result: EvaluationResult, out_dir: str | Path, title: str = "") -> Path:
    """Write ``metrics.json``, ``report.md`` and the PNG plots into ``out_dir`` (must exist).

    Returns the path of ``report.md``.
    """
    out = Path(out_dir)
    data = result.to_dict()
    (out / "metrics.json").write_text(json.dumps(data, indent=2) + "\n")
    plots = _plots(result, out)
    fx, clf = data["feature_extractor"], data.get("classifier")
    mem = data["memorization"]
    verdict = (
        "**FLAGGED: possible copying of training slices** — " + "; ".join(mem["reasons"])
        if mem["flagged"] else "No copying detected (C_T and near-copy checks passed)."
    )
    lines = [
        f"# {title or 'napari-medgan evaluation'}",
        "",
        f"{data['n_generated']} generated vs {data['n_real']} real slices of "
        f"{data['size']}×{data['size']} px; conditions: {', '.join(data['class_names'])}.",
    ]
    if "checkpoint" in data:
        ck = data["checkpoint"]
        lines.append(f"Checkpoint: `{ck['path']}` (step {ck['step']}).")
    split = data["split"]
    lines += [
        "",
        f"Real slices split {split['method']} into reference half A ({split['n_a']}) and "
        f"baseline half B ({split['n_b']}); distribution metrics compare {data['n_compared']} "
        f"generated slices (matched to B's condition counts) against A, and the baseline "
        f"compares B against A. Intervals: {data['n_bootstrap']} bootstrap replicates "
        f"(images resampled, percentile interval re-centred on the estimate), seed "
        f"{data['seed']}.",
        "",
        "## Scores",
        "",
        metrics_table(data),
        "",
        "## Memorization",
        "",
        verdict,
        "",
        f"- Near-copy threshold: pixel RMS distance < {_fmt(mem['copy_threshold'])} (half the "
        "smallest distance of an unseen real slice to the training set); "
        f"{len(mem['near_copies'])} near-copies.",
        f"- Memorization sets: {data['memorization_sets']['train']} training slices, "
        f"{data['memorization_sets']['unseen_real']} unseen real slices.",
        "",
        "## Networks trained for this evaluation",
        "",
        f"- Feature extractor: `{fx['name']}` — SHA-256 `{fx['sha256']}`; tasks "
        f"{', '.join(fx['tasks'])}; {fx['steps']} steps on {fx['trained_on']}.",
    ]
    if clf:
        lines.append(
            f"- Condition classifier: `{clf['name']}` — SHA-256 `{clf['sha256']}`; "
            f"{clf['steps']} steps on {clf['trained_on']}."
        )
    lines += ["", "KID and FD are only comparable between reports naming the same extractor.", ""]
    if plots:
        lines += ["## Plots", ""] + [f"![{name}]({name})" for name in plots] + [""]
    if data.get("warnings"):
        lines += ["## Warnings", ""] + [f"- {w}" for w in data["warnings"]] + [""]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path


def _plots(result: EvaluationResult, out: Path) -> list[str]:
    plt = _AggFigures  # pyplot's subplots() without pyplot's global state

    data = result.to_dict()
    names = []
    swd = data["metrics"]["swd"]["per_level"]
    levels = list(swd)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    x = np.arange(len(levels))
    for off, key, cikey, lab in ((-0.2, "value", "ci", "generated"),
                                 (0.2, "baseline", "baseline_ci", "real vs real")):
        vals = np.array([swd[lv].get(key, np.nan) for lv in levels], dtype=float)
        err = _errs(vals, [swd[lv].get(cikey) for lv in levels])
        ax.bar(x + off, vals, 0.4, yerr=err, capsize=3, label=lab)
    ax.set_xticks(x, [f"{lv} px" for lv in levels])
    ax.set_ylabel("SWD")
    ax.set_title("Sliced Wasserstein distance per pyramid level")
    ax.legend()
    names.append(_save(fig, out / "swd_levels.png"))

    gap = data["metrics"]["msssim_gap"]
    per, base = gap.get("per_condition", {}), gap.get("baseline_per_condition", {})
    conds = list(per)
    if conds:
        fig, ax = plt.subplots(figsize=(5, 3.2))
        x = np.arange(len(conds))
        ax.bar(x - 0.27, [per[c]["reference"] for c in conds], 0.27, label="real (half A)")
        ax.bar(x, [base.get(c, {}).get("images", np.nan) for c in conds], 0.27,
               label="real (half B)")
        ax.bar(x + 0.27, [per[c]["images"] for c in conds], 0.27, label="generated")
        ax.set_xticks(x, conds)
        ax.set_ylabel("mean MS-SSIM of random pairs")
        ax.set_title("Diversity (lower = more varied)")
        ax.legend(fontsize=8)
        names.append(_save(fig, out / "diversity.png"))

    names.append(_pairs_plot(result, out / "nearest_neighbours.png", plt))
    return names


def _errs(vals: np.ndarray, cis: list) -> np.ndarray | None:
    if any(c is None for c in cis):
        return None
    lo = np.array([c[0] for c in cis], dtype=float)
    hi = np.array([c[1] for c in cis], dtype=float)
    return np.clip(np.stack([vals - lo, hi - vals]), 0, None)


def _pairs_plot(result: EvaluationResult, path: Path, plt) -> str:
    order = np.argsort(result.nn_distance)[:N_PAIRS]
    fig, axes = plt.subplots(2, len(order), figsize=(1.6 * len(order), 3.6), squeeze=False)
    src = result.to_dict()["memorization"]["nearest"]["source"]
    for j, i in enumerate(order):
        axes[0, j].imshow(result.generated[i], cmap="gray", vmin=-1, vmax=1)
        axes[0, j].set_title(f"gen #{i}", fontsize=7)
        axes[1, j].imshow(result.real[result.nn_index[i]], cmap="gray", vmin=-1, vmax=1)
        axes[1, j].set_title(f"{src[i][-10:]} d={result.nn_distance[i]:.3f}", fontsize=6)
        for a in axes[:, j]:
            a.axis("off")
    fig.suptitle("Generated images closest to a training slice (top) and that slice (bottom)",
                 fontsize=8)
    return _save(fig, path)


class _AggFigures:
    """``subplots`` like pyplot's, on a bare Figure with its own Agg canvas."""

    @staticmethod
    def subplots(*args: Any, figsize: tuple[float, float] | None = None, **kwargs: Any):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=figsize)
        FigureCanvasAgg(fig)
        return fig, fig.subplots(*args, **kwargs)


def _save(fig, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path.name
