"""The Generate widget's "Export dataset…": one file per sample plus a manifest.

The same export as ``napari-medgan generate RUN --out DIR/ --format ...`` (see
:mod:`napari_medgan.io.export`); it runs as a thread job (progress in the dialog and the
activity dock) and can be cancelled. The memorization verdict of the Evaluate widget, when it
flagged this checkpoint, goes into the manifest.
"""

from __future__ import annotations

import threading

from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
)

from napari_medgan.io import WriteError
from napari_medgan.io.export import FORMATS, GRIDS, check_target, export_dataset
from napari_medgan.napari_glue.session import memorization

from ..common.jobs import relay, thread_job


class ExportDatasetDialog(QDialog):
    """Choose folder, count, format and conditions; export in the background."""

    def __init__(self, sampler, seed: int = 0, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export synthetic dataset")
        self.sampler = sampler
        self.folder = QLineEdit()
        self.browse = QPushButton("Browse…")
        self.n = QSpinBox(minimum=1, maximum=100_000, value=100)
        self.fmt = QComboBox()
        self.fmt.addItems(list(FORMATS))
        self.conditions = QComboBox()
        self.conditions.addItem("all conditions", None)
        if sampler.conditional:
            for name in sampler.class_names:
                self.conditions.addItem(name, name)
        self.grid = QComboBox()
        self.grid.addItems(list(GRIDS))
        self.seed = QSpinBox(minimum=0, maximum=2**31 - 1, value=seed)
        self.append = QCheckBox("add to an earlier export in this folder")
        self.progress = QProgressBar()
        self.progress.hide()
        self.export_btn = QPushButton("Export")
        self.cancel_btn = QPushButton("Cancel")
        self.job = None
        self._cancel = threading.Event()
        self.result = None

        form = QFormLayout(self)
        row = QHBoxLayout()
        row.addWidget(self.folder, 1)
        row.addWidget(self.browse)
        form.addRow("folder", row)
        form.addRow("samples per condition", self.n)
        form.addRow("format", self.fmt)
        form.addRow("conditions", self.conditions)
        form.addRow("grid", self.grid)
        form.addRow("first seed", self.seed)
        form.addRow(self.append)
        form.addRow(self.progress)
        buttons = QHBoxLayout()
        buttons.addWidget(self.export_btn)
        buttons.addWidget(self.cancel_btn)
        form.addRow(buttons)
        self.browse.clicked.connect(self._pick)
        self.export_btn.clicked.connect(lambda: self.export())
        self.cancel_btn.clicked.connect(self._cancel_or_close)

    def export(self, folder: str | None = None) -> bool:
        """Start the export into ``folder`` (default: the field); False when refused."""
        folder = folder or self.folder.text().strip()
        if not folder:
            show_error("Choose an export folder")
            return False
        try:
            check_target(folder, self.append.isChecked())
        except WriteError as exc:
            show_error(f"Cannot export: {exc}")
            return False
        reasons = memorization.reasons(self.sampler.path)
        verdict = ("flagged: " + "; ".join(reasons)) if reasons else "not evaluated or ok"
        if reasons:
            show_warning("This checkpoint may copy training slices: " + "; ".join(reasons))
        condition = self.conditions.currentData()
        n_files = self.n.value() * (1 if condition else len(self.sampler.class_names))
        self._cancel = threading.Event()
        self.progress.setRange(0, n_files)
        self.progress.setValue(0)
        self.progress.show()
        self.export_btn.setEnabled(False)
        self.cancel_btn.setText("Cancel")
        kwargs = {
            "n": self.n.value(),
            "conditions": [condition] if condition else None,
            "fmt": self.fmt.currentText(),
            "seed": self.seed.value(),
            "append": self.append.isChecked(),
            "memorization": verdict,
            "grid": self.grid.currentText(),
        }
        self.job = thread_job(
            _run, self.sampler, folder, kwargs, self._cancel,
            progress=(n_files, "exporting synthetic dataset"),
            connect={
                "yielded": self.progress.setValue,
                "returned": self._on_done,
                "errored": lambda exc: show_error(f"Export failed: {exc}"),
                "finished": self._on_finished,
            },
        )  # fmt: skip
        return True

    def _on_done(self, outcome) -> None:
        self.result = outcome
        if isinstance(outcome, str):
            show_info(outcome)
        else:
            show_info(f"Exported {len(outcome.files)} files; manifest {outcome.manifest}")

    def _on_finished(self) -> None:
        self.job = None
        self.export_btn.setEnabled(True)
        self.cancel_btn.setText("Close")

    def _cancel_or_close(self) -> None:
        if self.job is not None:
            self._cancel.set()
        else:
            self.reject()

    def _pick(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Export folder (new or empty)")
        if path:
            self.folder.setText(path)


def _run(sampler, folder, kwargs, cancel):
    """Job body: yields the number of files written; returns the result or a message."""
    from napari_medgan.io.export import ExportCancelled

    out: dict = {}

    def work(put) -> None:
        try:
            out["result"] = export_dataset(
                sampler, folder, progress=lambda d, _t: put(d), cancel=cancel, **kwargs
            )
        except ExportCancelled as exc:
            out["result"] = f"{exc}; the manifest lists what was written"
        except BaseException as exc:  # re-raised in the job: napari shows it
            out["error"] = exc

    yield from relay(work, "medgan-export")
    if "error" in out:
        raise out["error"]
    return out["result"]


def open_export_dialog(widget) -> ExportDatasetDialog | None:
    """Open the dialog for the Generate widget's loaded model (its seed as the first seed)."""
    if widget.sampler is None:
        show_error("Load a checkpoint first")
        return None
    dialog = ExportDatasetDialog(widget.sampler, seed=widget.seed.value(), parent=widget)
    dialog.show()
    return dialog
