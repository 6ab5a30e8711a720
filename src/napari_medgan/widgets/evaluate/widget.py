"""The Evaluate GAN dock widget: score a checkpoint against real layers, in the background.

The evaluation (sampling, training small feature networks, bootstraps) runs in a child
process (``engine.runner.evaluate_target``): in a thread it competed with napari for the GIL.
"""

from __future__ import annotations

import time
from pathlib import Path

from napari.layers import Image
from napari.utils.notifications import show_error, show_info
from qtpy.QtWidgets import (
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from napari_medgan.engine import CheckpointError, DataError, Sampler
from napari_medgan.engine.metrics import EvaluationResult
from napari_medgan.engine.runner import (
    Cancelled,
    Done,
    Failed,
    ProcessRun,
    Progress,
    cpu_threads_beside_gui,
    evaluate_target,
)

from ..common.jobs import ProcessJob, hook_shutdown
from ..common.layers import to_volumes
from ..common.layout import UI_S, scrolled, set_progress_quietly
from ..common.path_field import CheckpointInput
from .panel import EvalResultsPanel


class EvaluateWidget(CheckpointInput, QWidget):
    """Quality, diversity and memorization metrics of a checkpoint, against real image layers.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        Injected by napari when the widget is docked.
    """

    def __init__(self, napari_viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from ..common.layer_table import LayerTable

        self.viewer = napari_viewer
        self.sampler: Sampler | None = None
        self.job: ProcessJob | None = None  # the running evaluation
        self._jobs: list[ProcessJob] = []  # shared with the shutdown hooks (not self)
        self._stage = "starting"
        self._shown_at = -float("inf")  # when the progress bar last changed
        self.clock = time.monotonic
        self._checkpoint_input()
        self.table = LayerTable(napari_viewer)
        self.table.setToolTip("real scans, normally those the model was trained on")
        self.n = QSpinBox(minimum=0, maximum=5000, value=0)
        self.n.setSpecialValueText("as many as real")
        self.n.setToolTip("generated images in total (0: as many as real slices, at most 1000)")
        self.seed = QSpinBox(minimum=0, maximum=2**31 - 1, value=0)
        self.n_boot = QSpinBox(minimum=10, maximum=2000, value=200)
        self.n_boot.setToolTip("bootstrap replicates of every confidence interval")
        self.net_steps = QSpinBox(minimum=10, maximum=5000, value=300)
        self.net_steps.setToolTip(
            "training steps of the condition classifier (KID/FD use a fixed random network)"
        )
        self.evaluate_btn = QPushButton("Evaluate")
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.setToolTip("stops between two stages of the evaluation")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.status = QLabel("Choose a checkpoint and the real layers, press Evaluate.")
        self.status.setWordWrap(True)
        self.results = EvalResultsPanel(napari_viewer)
        r = self.results  # its parts, under the names tests and scripts use
        self.verdict, self.metrics, self.details, self.notes = (
            r.verdict, r.metrics, r.details, r.notes
        )  # fmt: skip
        self.sample, self.k, self.nearest_btn, self.save_btn = (
            r.sample,
            r.k,
            r.nearest_btn,
            r.save_btn,
        )
        self._build_layout()

        self.evaluate_btn.clicked.connect(self.evaluate)
        self.cancel_btn.clicked.connect(self.cancel)
        hook_shutdown(self, napari_viewer, self._jobs)
        self._set_running(False)
        self._follow_runs()

    def _build_layout(self) -> None:
        """Inputs and results scroll; Evaluate/Cancel, progress and status stay in view."""
        inputs, top = scrolled()
        form = QFormLayout()
        form.addRow("checkpoint", self.checkpoint)
        form.addRow(self.info)
        top.addLayout(form)
        top.addWidget(QLabel("<b>Real images</b> (condition names as in the checkpoint)"))
        top.addWidget(self.table)
        grid = QGridLayout()
        for i, (label, box) in enumerate(
            (("samples", self.n), ("seed", self.seed), ("bootstrap", self.n_boot),
             ("net steps", self.net_steps))
        ):  # fmt: skip
            grid.addWidget(QLabel(label), i // 2, 2 * (i % 2))
            grid.addWidget(box, i // 2, 2 * (i % 2) + 1)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(3, 1)
        top.addLayout(grid)
        top.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(inputs, 2)
        row = QHBoxLayout()
        row.addWidget(self.evaluate_btn)
        row.addWidget(self.cancel_btn)
        layout.addLayout(row)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.results, 3)

    # ------------------------------------------------------------------ model
    def _loaded(self, sampler: Sampler) -> None:
        if sampler.conditional:  # tick the layers named like the model's conditions
            named = {c: c for c in sampler.class_names if c in self.viewer.layers}
            if named:
                self.table.set_choices(named)
        self._set_running(self.job is not None)

    def _load_failed(self, error: CheckpointError) -> None:
        show_error(f"Cannot load checkpoint: {error}")
        self._set_running(self.job is not None)

    # ------------------------------------------------------------------ actions
    def evaluate(self) -> bool:
        """Check the inputs and start the evaluation in the background; False if not started."""
        if self.job is not None:
            return False
        if self.sampler is None:
            show_error("Cannot evaluate: choose a checkpoint (a run folder) first")
            return False
        sampler = self.sampler
        choices = self.table.choices()
        try:
            if not choices:
                raise DataError("no image layer chosen; tick the real scans to compare with")
            volumes = to_volumes(choices, sampler.conditional)
            if sampler.conditional:
                for c in choices:
                    if c.condition.strip() not in sampler.class_names:
                        raise DataError(
                            f"{c.layer.name!r}: condition {c.condition.strip()!r} is unknown to "
                            f"the model (it knows {', '.join(sampler.class_names)})"
                        )
        except DataError as exc:
            show_error(f"Cannot evaluate: {exc}")
            return False
        self.results.spacing = {c: g.pixel_spacing for c, g in sampler.geometry.items()}
        self.results.beside = choices[0].layer
        steps = self.net_steps.value()
        kwargs = dict(
            n=self.n.value() or None,
            seed=self.seed.value(),
            n_boot=self.n_boot.value(),
            classifier_steps=steps,
        )
        run = ProcessRun(
            evaluate_target,
            dict(sampler=sampler, volumes=volumes, threads=cpu_threads_beside_gui(), **kwargs),
            "medgan-eval",
        )
        self.job = ProcessJob(run, "Evaluating GAN", self.viewer, total=1000, parent=self)
        self.job.messages.connect(self._on_messages)
        self.job.ended.connect(self._on_finished)
        self._jobs[:] = [self.job]
        self._stage, self._shown_at = "starting", -float("inf")
        self._set_running(True)
        self.progress.setValue(0)
        self.status.setText(f"Evaluating step {sampler.step} on {len(volumes)} layer(s)…")
        self.job.start()
        return True

    def cancel(self) -> None:
        """Ask the running evaluation to stop at its next stage."""
        if self.job is not None:
            self.job.stop()
            self.cancel_btn.setEnabled(False)
            self.status.setText(f"Cancelling (after: {self._stage})…")

    @property
    def result(self) -> EvaluationResult | None:
        """The last evaluation's result (None before one)."""
        return self.results.result

    def show_nearest(self, index: int | None = None, k: int | None = None) -> Image | None:
        """Add generated sample ``index`` beside its ``k`` nearest training slices as a layer."""
        return self.results.show_nearest(index, k)

    def save_report(self, folder: str | Path) -> Path | None:
        """Write metrics.json, report.md, plots and the feature network into a new folder."""
        return self.results.save_report(folder)

    # ------------------------------------------------------------------ worker messages
    def _on_messages(self, batch: list) -> None:
        progress = [m for m in batch if isinstance(m, Progress)]
        now = self.clock()
        if progress and (progress[-1].stage != self._stage or now - self._shown_at >= UI_S):
            # at most twice a second within a stage, in one repaint (see train.feedback)
            self._shown_at = now
            self._stage = progress[-1].stage
            value = round(1000 * progress[-1].fraction)
            self.progress.setFormat(f"{self._stage} · %p%")
            set_progress_quietly(self.progress, value)
            self.job.set_progress(value, desc=f"Evaluating: {self._stage}")
        for outcome in batch:
            if isinstance(outcome, Done):
                self._show_result(outcome.result)
            elif isinstance(outcome, Cancelled):
                self.status.setText(f"Cancelled during: {outcome.stage}. Nothing was scored.")
                show_info("Evaluation cancelled")
            elif isinstance(outcome, Failed):
                word = "crashed" if outcome.crashed else "failed"
                self.status.setText(f"Evaluation {word}: {outcome.message}")
                show_error(f"Evaluation {word} ({outcome.kind}): {outcome.message}")

    def _on_finished(self) -> None:
        self.job = None
        self._set_running(False)

    def _show_result(self, result: EvaluationResult) -> None:
        data = self.results.show_result(result)
        self.status.setText(f"Done in {data['seconds']} s.")

    # ------------------------------------------------------------------ UI state
    def _set_running(self, running: bool) -> None:
        self.evaluate_btn.setEnabled(not running and self.sampler is not None)
        self.cancel_btn.setEnabled(running)
        inputs = (self.checkpoint, self.table, self.n, self.seed, self.n_boot)
        for w in (*inputs, self.net_steps):
            w.setEnabled(not running)
        self.results.set_enabled()
        if not running:
            self.progress.setFormat("%p%")

    def closeEvent(self, event) -> None:
        """Floating or stand-alone use: cancel like the shutdown hooks do (returns at once)."""
        self.cancel()
        super().closeEvent(event)
