"""The Evaluate widget's results: verdict, metrics table, notes, nearest slices, report."""

from __future__ import annotations

from pathlib import Path

from napari.layers import Image
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QPushButton, QSpinBox, QWidget

from napari_medgan.engine.metrics import EvaluationResult
from napari_medgan.napari_glue.session import memorization

from ..common.layout import scrolled
from .nearest import nearest_layer
from .results import MetricsTable, extractor_line, save_result, verdict


class EvalResultsPanel(QWidget):
    """Shows one :class:`EvaluationResult` and acts on it (nearest slices, saving).

    Parameters
    ----------
    viewer : napari.Viewer
        Where the nearest-slices layer goes.
    """

    def __init__(self, viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = viewer
        self.result: EvaluationResult | None = None
        self.spacing: dict[str, float] = {}  # pixel spacing per condition of the evaluated model
        self.beside: Image | None = None  # the nearest-slices layer goes below this one
        self.verdict = QLabel()
        self.verdict.setWordWrap(True)
        self.metrics = MetricsTable()
        self.details = QLabel()
        self.details.setWordWrap(True)
        self.notes = QLabel()  # split warnings: the first one, all of them in the tooltip
        self.notes.setWordWrap(True)
        self.sample = QSpinBox(minimum=0, maximum=0)
        self.k = QSpinBox(minimum=1, maximum=16, value=4)
        self.nearest_btn = QPushButton("Show nearest training slices")
        self.save_btn = QPushButton("Save report…")
        self.nearest_btn.clicked.connect(lambda: self.show_nearest())
        self.save_btn.clicked.connect(self._save_dialog)

        self.scroll, bottom = scrolled()
        bottom.addWidget(self.verdict)
        bottom.addWidget(self.metrics, 1)
        bottom.addWidget(self.details)
        bottom.addWidget(self.notes)
        row = QHBoxLayout()
        row.addWidget(QLabel("sample"))
        row.addWidget(self.sample)
        row.addWidget(QLabel("k"))
        row.addWidget(self.k)
        row.addWidget(self.nearest_btn, 1)
        bottom.addLayout(row)
        bottom.addWidget(self.save_btn)
        outer = QHBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.scroll)
        self.set_enabled()

    def set_enabled(self) -> None:
        """The actions need a result."""
        for w in (self.sample, self.k, self.nearest_btn, self.save_btn):
            w.setEnabled(self.result is not None)

    def show_result(self, result: EvaluationResult) -> dict:
        """Show ``result`` (and publish its memorization verdict); returns its dictionary."""
        self.result = result
        data = result.to_dict()
        text, colour = verdict(data)
        self.verdict.setText(text)
        self.verdict.setStyleSheet(
            f"background: {colour}; color: white; font-weight: bold; padding: 4px;"
        )
        self.metrics.show_metrics(result.metrics, result.flagged, data)
        self.details.setText(extractor_line(data))
        warnings = data["warnings"]
        more = f" (+{len(warnings) - 1} more; hover)" if len(warnings) > 1 else ""
        self.notes.setText(f"⚠ {warnings[0]}{more}" if warnings else "")
        self.notes.setToolTip("\n".join(warnings))
        self.sample.setMaximum(len(result.generated) - 1)
        ck = (data.get("checkpoint") or {}).get("path")
        if ck:
            memorization.publish(ck, data["memorization"]["reasons"] if result.flagged else [])
        if result.flagged:
            show_warning("Memorization test: " + "; ".join(data["memorization"]["reasons"]))
        self.set_enabled()
        return data

    def show_nearest(self, index: int | None = None, k: int | None = None) -> Image | None:
        """Add generated sample ``index`` beside its ``k`` nearest training slices as a layer."""
        if self.result is None:
            show_error("Evaluate a checkpoint first")
            return None
        index = self.sample.value() if index is None else int(index)
        k = self.k.value() if k is None else int(k)
        try:
            beside = self.beside if self.beside in self.viewer.layers else None
            data, kwargs = nearest_layer(self.viewer, self.result, index, k, self.spacing, beside)
        except (IndexError, ValueError) as exc:
            show_error(f"Cannot show nearest slices: {exc}")
            return None
        if kwargs["metadata"]["near_copy"]:
            show_warning(f"Sample {index} is a near-copy of a training slice")
        return self.viewer.add_image(data, **kwargs)

    def save_report(self, folder: str | Path) -> Path | None:
        """Write metrics.json, report.md, plots and the feature network into a new folder."""
        if self.result is None:
            show_error("Evaluate a checkpoint first")
            return None
        try:
            report = save_result(self.result, folder)
        except OSError as exc:
            show_error(f"Cannot save the report: {exc}")
            return None
        show_info(f"Saved {report}")
        return report

    def _save_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Save the report into (an empty folder)")
        if folder:
            self.save_report(folder)
