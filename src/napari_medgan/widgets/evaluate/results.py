"""Evaluation results -> Qt table rows, the memorization verdict, the report on disk."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from qtpy.QtCore import Qt
from qtpy.QtGui import QColor
from qtpy.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

from napari_medgan.engine.metrics import EvaluationResult, write_report
from napari_medgan.engine.metrics.realism import SPECTRUM_OK, c2st_reading, spectrum_reading
from napari_medgan.engine.metrics.report import per_condition_line

LABELS = {
    "swd": ("SWD", "sliced Wasserstein distance on Laplacian-pyramid patches (mean of levels)"),
    "msssim_gap": ("MS-SSIM gap", "|MS-SSIM of generated pairs − of real pairs|: diversity"),
    "kid": ("KID", "kernel inception distance on the report's feature network (see below)"),
    "fd": ("FD", "Fréchet distance on the same feature network"),
    "c2st": ("C2ST", "held-out accuracy of a small CNN telling these images from real slices "
             "(5-fold): 0.5 = indistinguishable, 1 = always told apart"),
    "spectrum": ("HF power", "power in the finest spatial-frequency octave / real's: > 1 "
                 "speckle or excess fine texture, < 1 blur"),
    "coverage": ("coverage", "share of held-out slices with a scored image within their k-NN "
                 "radius: low = anatomy levels or modes the model never makes"),
    "recall": ("recall", "share of held-out slices inside the scored images' k-NN manifold: "
               "≈ 0 for a collapsed model"),
    "precision": ("precision", "share of scored images near a held-out slice"),
    "density": ("density", "held-out neighbourhoods per scored image, divided by k"),
    "cond_accuracy": ("cond. accuracy", "classifier finds the requested condition"),
    "swap_accuracy": ("swap accuracy", "same, on condition-swapped samples"),
    "nn_distance": ("NN copy dist.", "mean shift-tolerant distance to the nearest training slice"),
    "nn_distance_feature": ("NN dist. (feat)", "same, in the feature space"),
    "authpct": ("AuthPct %", "% of samples farther from training data than it is from itself"),
    "near_copy_fraction": ("near-copies", "fraction below the threshold calibrated on held-out"),
    "ct": ("C_T", "data-copying effect size (Cliff's delta): < 0 copies, > 0 under-fits"),
}
BETTER = {"lower": "lower", "higher": "higher", "closer": "≈ real", "chance": "≈ 0.5",
          "unity": f"{SPECTRUM_OK[0]}–{SPECTRUM_OK[1]}"}
OK_COLOUR, FLAG_COLOUR = "#2e7d32", "#c62828"
COLUMNS = ["metric", "value", "95 % CI", "real baseline", "ratio", "better"]


def fmt(x: Any) -> str:
    """Three significant digits; '—' for missing or NaN."""
    if x is None:
        return "—"
    x = float(x)
    if math.isnan(x):
        return "—"
    if x == 0:
        return "0"
    if abs(x) >= 1000 or abs(x) < 1e-3:
        return f"{x:.2e}"
    return f"{x:.3g}"


def interval(ci: Any) -> str:
    if not ci or len(ci) != 2:
        return "—"
    return f"[{fmt(ci[0])}, {fmt(ci[1])}]"


class MetricsTable(QTableWidget):
    """Read-only table: one row per metric with its value, interval, real baseline and ratio,
    then the control rows (verbatim copies, untrained generator) and other checkpoints of the
    run as ``value (ratio)`` columns. Columns keep their content width and the table scrolls
    sideways in a narrow dock; every cell's tooltip says what it is."""

    def __init__(self, parent=None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.setHorizontalHeaderLabels(COLUMNS)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(False)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setMinimumHeight(120)
        self.extra_columns: list[str] = []

    def show_metrics(
        self,
        metrics: dict[str, dict[str, Any]],
        flagged: bool = False,
        data: dict[str, Any] | None = None,
    ) -> None:
        """Fill the rows from ``result.metrics`` (known metrics first, in a fixed order); with
        the full record ``data`` (``result.to_dict()``), add the control and checkpoint columns.
        """
        keys = [k for k in LABELS if k in metrics] + [k for k in metrics if k not in LABELS]
        extra = comparison_columns(data or {})
        self.extra_columns = [name for name, _, _ in extra]
        heads = COLUMNS[:-1] + self.extra_columns + COLUMNS[-1:]
        self.setColumnCount(len(heads))
        self.setHorizontalHeaderLabels(heads)
        for col, (_, tip, _) in enumerate(extra, start=len(COLUMNS) - 1):
            self.horizontalHeaderItem(col).setToolTip(tip)
        self.setRowCount(len(keys))
        for row, key in enumerate(keys):
            m = metrics[key]
            label, tip = LABELS.get(key, (key, key))
            cells = [
                label,
                fmt(m.get("value")),
                interval(m.get("ci")),
                baseline_text(m),
                ratio_text(m.get("ratio")),
            ]
            cells += [other_cell(rows.get(key)) for _, _, rows in extra]
            cells.append(BETTER.get(m.get("better", ""), m.get("better", "")))
            per = "\n".join(x for x in (realism_tip(key, m),
                                         per_condition_line(m, f"{label} per condition")) if x)
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(f"{key}: {tip}")
                if col in (1, 4) and per:  # each condition's value and ratio
                    item.setToolTip(f"{key}: {tip}\n{per}")
                elif col == 3:
                    ci = interval(m.get("baseline_ci"))
                    item.setToolTip(baseline_tip(m, ci))
                elif len(COLUMNS) - 1 <= col < len(cells) - 1:
                    name, head_tip, _ = extra[col - len(COLUMNS) + 1]
                    item.setToolTip(f"{key} of {name}: {head_tip}; (ratio to the real baseline)")
                if col:
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                if flagged and col in (1, 4) and key in ("ct", "near_copy_fraction", "authpct"):
                    item.setForeground(QColor(FLAG_COLOUR))
                if col == 1 and unrealistic(key, m):
                    item.setForeground(QColor(FLAG_COLOUR))
                self.setItem(row, col, item)
        rows = sum(self.rowHeight(r) for r in range(len(keys)))
        bar = self.horizontalScrollBar().sizeHint().height()
        self.setMinimumHeight(min(rows + self.horizontalHeader().height() + bar + 4, 340))

    def row_of(self, key: str) -> int:
        """Row index of a metric key (``-1`` when absent)."""
        label = LABELS.get(key, (key,))[0]
        for row in range(self.rowCount()):
            if self.item(row, 0).text() == label:
                return row
        return -1

    def column_of(self, name: str) -> int:
        """Column index of a header (``-1`` when absent)."""
        for col in range(self.columnCount()):
            if self.horizontalHeaderItem(col).text() == name:
                return col
        return -1


def baseline_text(m: dict[str, Any]) -> str:
    """The real baseline; with the sensitivity (noise) control beside it when there is one."""
    sens = m.get("sensitivity")
    text = fmt(m.get("baseline"))
    return text if not sens else f"{text} · noise {fmt(sens.get('value'))}"


def baseline_tip(m: dict[str, Any], ci: str) -> str:
    if "sensitivity" not in m:
        return f"training real vs held-out real, 95 % CI {ci}"
    s = m["sensitivity"]
    return (f"real vs real (two random halves of the real slices), 95 % CI {ci}; noise = the "
            f"same real half plus Gaussian noise σ = {s.get('noise_sigma')} (sensitivity "
            f"control), 95 % CI {interval(s.get('ci'))}")


def realism_tip(key: str, m: dict[str, Any]) -> str:
    """How to read the c2st and spectrum rows ('' for other metrics)."""
    if key == "c2st":
        return c2st_reading(m)
    if key == "spectrum":
        return spectrum_reading(m)
    return ""


def unrealistic(key: str, m: dict[str, Any]) -> bool:
    """True for a c2st told apart from real or a top-octave power ratio outside 0.75–1.33."""
    if key == "c2st":
        return bool(m.get("distinguishable")) and bool((m.get("sensitivity") or {}).get(
            "detected", True))
    if key == "spectrum" and m.get("value") is not None:
        return not SPECTRUM_OK[0] <= float(m["value"]) <= SPECTRUM_OK[1]
    return False


def ratio_text(r: Any) -> str:
    return "—" if r is None else f"{float(r):.2f}×"


def other_cell(m: dict[str, Any] | None) -> str:
    """``value (ratio)`` of a control or other checkpoint; '—' when it has no such metric."""
    if m is None:
        return "—"
    r = m.get("ratio")
    return fmt(m.get("value")) + ("" if r is None else f" ({float(r):.2f}×)")


def comparison_columns(data: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """``(header, tooltip, metrics)`` of each control row and other checkpoint in ``data``."""
    tips = {
        "verbatim": "random training slices scored like generated images: a perfect copier",
        "untrained": "the same generator at its random initialisation: no learning",
    }
    out = []
    for name, row in (data.get("controls") or {}).items():
        out.append((name, tips.get(name, "control"), row.get("metrics", {})))
    for name, row in (data.get("other_checkpoints") or {}).items():
        out.append((f"{name} (step {row.get('step', '?')})",
                    f"the run's {name} checkpoint, same reference; {row.get('selected_on', '')}",
                    row.get("metrics", {})))
    return out


def verdict(data: dict[str, Any]) -> tuple[str, str]:
    """One line for the memorization verdict and its colour."""
    m, mem = data["metrics"], data["memorization"]
    auth = m["authpct"]
    near, n = len(mem["near_copies"]), data["n_generated"]
    numbers = (
        f"copied ≈ {mem['copied_fraction']:.0%} ({near} / {n} below the held-out threshold), "
        f"C_T = {fmt(m['ct']['value'])}, AuthPct = {fmt(auth['value'])} % "
        f"(held-out real {fmt(auth.get('baseline'))} %)"
    )
    if not data.get("protocol", {}).get("heldout_given", True):
        numbers += " — no held-out split: quality and memorization cannot be separated"
    checks = [
        f"{name} {'flagged' if row['memorization']['flagged'] else 'not flagged'}"
        for name, row in (data.get("controls") or {}).items()
    ]
    if checks:
        numbers += "; controls: " + ", ".join(checks)
    if mem["flagged"]:
        return f"⚠ Possible copying of training slices: {numbers}", FLAG_COLOUR
    return f"✓ No sign of copying: {numbers}", OK_COLOUR


def checkpoint_line(data: dict[str, Any]) -> str:
    """Which checkpoint was scored (best / latest / given, step) and what selected it."""
    ck = data.get("checkpoint")
    if not ck:
        return ""
    kind = ck.get("kind", ck.get("which", "given"))
    line = f"Scored checkpoint: {kind}, step {ck['step']}"
    if ck.get("selected_on"):
        line += f" (selected on: {ck['selected_on']})"
    for name, row in (data.get("other_checkpoints") or {}).items():
        mem = row["memorization"]
        line += (f"; {name} checkpoint step {row['step']} beside it: copied ≈ "
                 f"{mem['copied_fraction']:.0%}{', FLAGGED' if mem['flagged'] else ''}")
    return line


def extractor_line(data: dict[str, Any]) -> str:
    """Which feature network (name, hash) scored KID/FD, and what it was trained on."""
    fx = data["feature_extractor"]
    name = fx["name"] if fx["sha256"][:8] in fx["name"] else f"{fx['name']} {fx['sha256'][:12]}"
    line = f"KID/FD features: {name} ({fx.get('kind', '')}); reference: held-out real slices"
    if not data.get("protocol", {}).get("heldout_given", True):
        line = f"KID/FD features: {name}; NO held-out split (reference = training data)"
    ck = data.get("checkpoint")
    proto = data.get("protocol", {})
    head = (f"{data['n_generated']} scored vs {proto.get('n_heldout', '?')} held-out real "
            f"slices ({proto.get('n_train', '?')} training)")
    text = f"{head} · {data['seconds']} s\n{line}"
    if ck:
        text += "\n" + checkpoint_line(data)
    return text


def save_result(result: EvaluationResult, folder: str | Path) -> Path:
    """Write metrics.json, report.md, the plots and the feature network into ``folder``.

    ``folder`` must be new or empty (nothing is overwritten, :class:`OSError` otherwise).
    Returns the path of ``report.md``.
    """
    out = Path(folder).expanduser()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise OSError(f"{out} is not an empty folder; nothing is overwritten")
    out.mkdir(parents=True, exist_ok=True)
    ck = (result.to_dict().get("checkpoint") or {}).get("path")
    report = write_report(result, out, title=f"Evaluation of {ck}")
    if result.reference is not None:
        result.reference.extractor.save(out / "feature_extractor.safetensors")
    return report
