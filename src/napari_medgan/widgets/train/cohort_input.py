"""The Train widget's cohort input: a folder tree or table of scans, prepared in the background.

The scans are never opened as layers: they are read one at a time in a thread job (shown in
the activity dock with a progress bar) into the cached prepared slice set, which is then handed
to the Train widget's usual job. The preparation can be cancelled; nothing half-written remains.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator

from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QWidget,
)

from napari_medgan.engine import DataError, TrainConfig

from ..common.jobs import relay, thread_job

MODALITIES = {"from the headers": None, "CT (HU window)": "CT", "MR (percentiles)": "MR"}


class CohortInput(QWidget):
    """Cohort folder / table, series rule, workers and cache; prepares off the GUI thread."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.path = QLineEdit()
        self.path.setPlaceholderText("empty: train on the ticked layers")
        self.path.setToolTip("ROOT/<condition>/<scans> folder, or a .csv/.tsv with a path column")
        self.folder_btn = QPushButton("Folder…")
        self.table_btn = QPushButton("Table…")
        self.modality = QComboBox()
        self.modality.addItems(list(MODALITIES))
        self.series_modality = QLineEdit()
        self.series_modality.setPlaceholderText("any (e.g. CT)")
        self.series_description = QLineEdit()
        self.series_description.setPlaceholderText("any (regular expression)")
        self.series_pick = QComboBox()
        self.series_pick.addItems(["largest", "first"])
        self.split_by_scan = QCheckBox("every condition needs 2+ scans (split by scan)")
        self.workers = QSpinBox(minimum=1, maximum=max(1, os.cpu_count() or 1), value=1)
        self.workers.setToolTip("processes reading scans in parallel (each holds one scan)")
        self.use_cache = QCheckBox("reuse / store the prepared slices")
        self.use_cache.setChecked(True)
        self.progress = QProgressBar()
        self.progress.setFormat("scan %v / %m")
        self.progress.hide()
        self.cancel_btn = QPushButton("Cancel preparation")
        self.cancel_btn.hide()
        self.job = None
        self._cancel = threading.Event()

        form = QFormLayout(self)
        row = QHBoxLayout()
        row.addWidget(self.path, 1)
        row.addWidget(self.folder_btn)
        row.addWidget(self.table_btn)
        form.addRow("cohort", row)
        form.addRow("modality", self.modality)
        form.addRow("DICOM series modality", self.series_modality)
        form.addRow("DICOM series description", self.series_description)
        form.addRow("DICOM series pick", self.series_pick)
        form.addRow(self.split_by_scan)
        form.addRow("workers", self.workers)
        form.addRow(self.use_cache)
        form.addRow(self.progress)
        form.addRow(self.cancel_btn)
        self.folder_btn.clicked.connect(self._pick_folder)
        self.table_btn.clicked.connect(self._pick_table)
        self.cancel_btn.clicked.connect(self.cancel)

    def active(self) -> bool:
        """True when a cohort is given (the layers are then ignored)."""
        return bool(self.path.text().strip())

    def discover(self):
        """The cohort, checked; raises CohortError with a message for the user."""
        from napari_medgan.io.cohort import SeriesRule, discover

        rule = SeriesRule(
            self.series_modality.text().strip() or None,
            self.series_description.text().strip() or None,
            self.series_pick.currentText(),
        )
        modality = MODALITIES[self.modality.currentText()]
        cohort = discover(self.path.text().strip(), rule, modality=modality)
        cohort.check(split_by_scan=self.split_by_scan.isChecked())
        return cohort

    def start(self, config: TrainConfig, on_ready: Callable[..., None]) -> bool:
        """Discover and prepare in a thread job; ``on_ready(dataset, split)`` on the GUI thread when
        done (``on_ready(None)`` when it failed or was cancelled); ``split`` is the table's."""
        from napari_medgan.io.cohort import CohortError

        try:
            cohort = self.discover()
        except CohortError as exc:
            show_error(f"Cannot use the cohort: {exc}")
            return False
        for name, why in cohort.skipped:
            show_warning(f"Skipping {name}: {why}")
        self._cancel = threading.Event()
        n = len(cohort.scans)
        self.progress.setRange(0, n)
        self.progress.setValue(0)
        self.progress.show()
        self.cancel_btn.show()
        self.cancel_btn.setEnabled(True)
        self.setEnabled(True)
        result: dict = {}
        args = (cohort.scans, config, self.workers.value(), self.use_cache.isChecked())
        self.job = thread_job(
            _prepare, *args, self._cancel, result,
            progress=(n, "preparing cohort slices"),
            connect={
                "yielded": self.progress.setValue,
                "finished": lambda: self._on_finished(result, cohort.skipped, on_ready),
            },
        )  # fmt: skip
        return True

    def cancel(self) -> None:
        """Stop the preparation at the next slice chunk; nothing is cached."""
        self._cancel.set()
        self.cancel_btn.setEnabled(False)

    def busy(self) -> bool:
        return self.job is not None

    def _on_finished(self, result: dict, skipped, on_ready) -> None:
        self.job = None
        self.progress.hide()
        self.cancel_btn.hide()
        prepared = result.get("prepared")
        if "error" in result:
            show_error(f"Cannot prepare the cohort: {result['error']}")
        elif "cancelled" in result:
            show_info("Cohort preparation cancelled; nothing was cached.")
        if prepared is None:
            on_ready(None)
            return
        all_skipped = list(skipped) + list(prepared.skipped)
        if all_skipped:
            show_warning(
                f"{len(all_skipped)} scan(s) skipped: " + ", ".join(n for n, _ in all_skipped)
            )
        from napari_medgan.engine.cohort_split import split_from_table
        from napari_medgan.engine.holdout import HoldoutError

        try:
            split = split_from_table(
                prepared.dataset, prepared.scans, prepared.groups, prepared.splits
            )
        except HoldoutError as exc:
            show_error(f"Cannot use the table's split: {exc}")
            on_ready(None)
            return
        show_info(f"Prepared {prepared.summary()}")
        on_ready(prepared.dataset, split)

    def _pick_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(
            self, "Cohort folder (one sub-folder per condition)"
        )
        if path:
            self.path.setText(path)

    def _pick_table(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Cohort table", "", "Tables (*.csv *.tsv)")
        if path:
            self.path.setText(path)


def _prepare(scans, config, workers, use_cache, cancel, result) -> Iterator[int]:
    """Job body: yields the number of scans done; the outcome goes into ``result``."""
    from napari_medgan.engine.prepare import PreparationCancelled, prepare_streamed
    from napari_medgan.engine.slicecache import prepare_cached

    outcome: dict = {}

    def run(put) -> None:
        kwargs = {"workers": workers, "progress": lambda done, *_: put(done), "cancel": cancel}
        kwargs["ct_window"] = config.ct_window  # the run's CT window reaches cohort scans
        args = (scans, config.size, config.slice_axis, config.min_foreground)
        try:
            fn = prepare_cached if use_cache else prepare_streamed
            outcome["prepared"] = fn(*args, **kwargs)
        except PreparationCancelled:
            outcome["cancelled"] = True
        except (DataError, OSError, MemoryError) as exc:
            outcome["error"] = str(exc)

    yield from relay(run, "medgan-prepare")
    result.update(outcome)
