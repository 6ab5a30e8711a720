"""The Train GAN dock widget: layers + settings in, live losses and previews out.

Training runs in a child process (``engine.runner``); this widget turns its reports into a
plot, a preview layer and a progress bar, in batches a few times a second.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from napari.layers import Labels
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from napari_medgan.engine import CheckpointError, ConfigError, DataError, TrainReport
from napari_medgan.engine.checkpoint import LATEST
from napari_medgan.engine.resume import check_config, check_steps, read_run
from napari_medgan.engine.runlock import check_free
from napari_medgan.engine.runner import (
    Cancelled,
    Failed,
    ProcessRun,
    Ready,
    cpu_threads_beside_gui,
    train_target,
)

from ._layout import scrolled
from ._worker import BackgroundTask, duration, hook_shutdown
from .cohort_input import CohortInput
from .layers import check_conditions, fill_mask_combo, to_volumes
from .loss_plot import LossPlot
from .preview import show_preview
from .state import TrainState, runs
from .train_settings import TrainSettings, new_run_dir

log = logging.getLogger(__name__)
PREVIEW_S = 0.5  # the preview layer changes at most twice a second


class TrainWidget(QWidget):
    """Train a GAN (or a class-conditional GAN) on image layers of the viewer.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        Injected by napari when the widget is docked.
    """

    def __init__(self, napari_viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from .layer_table import LayerTable

        self.viewer = napari_viewer
        self.state = TrainState.IDLE
        self.task: BackgroundTask | None = None
        self.last_report: TrainReport | None = None
        self.pixel_spacing = 1.0
        self._source = None
        self._pending_preview: TrainReport | None = None
        self._last_preview_t = 0.0
        self._tasks: list[BackgroundTask] = []  # shared with the shutdown hooks (not self)

        self.table = LayerTable(napari_viewer)
        self.cohort = CohortInput()
        self.unconditional = QCheckBox("no conditions (plain GAN over all ticked layers)")
        self.mask = QComboBox()
        self.mask.setToolTip("only slices where this Labels layer is non-empty are used")
        self.settings = TrainSettings()
        self.resume_note = QLabel()
        self.resume_note.setWordWrap(True)
        self.new_run = QPushButton("New run folder")
        self.new_run.setToolTip("pick a fresh output folder instead of resuming this one")
        self.start_btn = QPushButton("Start")
        self.pause_btn = QPushButton("Pause")
        self.stop_btn = QPushButton("Stop")
        self.progress = QProgressBar()
        self.progress.setFormat("step %v / %m")
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.status = QLabel("Tick image layers, check the settings, press Start.")
        self.status.setWordWrap(True)
        self.plot = LossPlot()
        self._build_layout()

        self.start_btn.clicked.connect(self.start)
        self.pause_btn.clicked.connect(self.toggle_pause)
        self.stop_btn.clicked.connect(self.stop)
        self.new_run.clicked.connect(self._new_run_folder)
        self.settings.fields["out_dir"].changed.connect(self._update_resume_note)
        for ev in (napari_viewer.layers.events.inserted, napari_viewer.layers.events.removed):
            ev.connect(self._refresh_masks)
        hook_shutdown(self, napari_viewer, self._tasks, extra=self.plot.stop_timer)
        self._refresh_masks()
        self._update_resume_note()
        self._set_state(TrainState.IDLE)

    def _build_layout(self) -> None:
        """Inputs and settings scroll; the run controls, progress and plot stay in view."""
        self.scroll, layout = scrolled(120)
        layout.addWidget(QLabel("<b>Training images</b> (one condition per name)"))
        layout.addWidget(self.table)
        layout.addWidget(self.unconditional)
        layout.addWidget(QLabel("<b>…or a cohort on disk</b> (folder tree or table)"))
        layout.addWidget(self.cohort)
        form = QFormLayout()
        form.addRow("mask", self.mask)
        layout.addLayout(form)
        layout.addWidget(QLabel("<b>Settings</b>"))
        layout.addWidget(self.settings)
        row = QHBoxLayout()
        row.addWidget(self.resume_note, 1)
        row.addWidget(self.new_run)
        layout.addLayout(row)
        layout.addStretch(1)

        outer = QVBoxLayout(self)
        outer.addWidget(self.scroll, 3)
        buttons = QHBoxLayout()
        for b in (self.start_btn, self.pause_btn, self.stop_btn):
            buttons.addWidget(b)
        outer.addLayout(buttons)
        outer.addWidget(self.summary)
        outer.addWidget(self.progress)
        outer.addWidget(self.status)
        outer.addWidget(self.plot, 2)

    # ------------------------------------------------------------------ actions
    def start(self) -> bool:
        """Check the inputs and start (or resume) training; False if nothing started."""
        if self.state is not TrainState.IDLE:
            return False
        if self.cohort.active():
            return self._start_cohort()
        conditional = not self.unconditional.isChecked()
        choices = self.table.choices()
        try:
            for text in check_conditions(choices, conditional):
                show_warning(text)
            volumes = to_volumes(choices, conditional, self.mask_layer())
            self.settings.config.validate()
        except (DataError, ConfigError) as exc:
            show_error(f"Cannot start training: {exc}")
            return False
        self._source = choices[0].layer
        return self._launch(volumes)

    def _start_cohort(self) -> bool:
        """Prepare the cohort's slices in the background, then train on them."""
        try:
            self.settings.config.validate()
        except ConfigError as exc:
            show_error(f"Cannot start training: {exc}")
            return False
        if not self.cohort.start(self.settings.config, self._on_cohort_ready):
            return False
        self._source = None
        self._set_state(TrainState.STARTING)
        self.status.setText("Preparing the cohort's slices (Cancel preparation stops it)…")
        return True

    def _on_cohort_ready(self, dataset, split=None) -> None:
        if dataset is None:
            self._set_state(TrainState.IDLE)
            return
        self.state = TrainState.IDLE
        self._launch([], dataset, split)

    def _launch(self, volumes, dataset=None, split=None) -> bool:
        """Start the child process that trains (a snapshot of the settings goes with it)."""
        config = self.settings.config.replace()  # editing the form cannot race the run
        out = Path(config.out_dir).expanduser()
        resume = out if (out / LATEST).exists() else None
        try:
            _check_resume(out, resume, config)
        except CheckpointError as exc:
            show_error(f"Cannot start training: {exc}")
            self._set_state(TrainState.IDLE)
            return False
        if resume is None:
            self.plot.clear()
        self.last_report = None
        kwargs = dict(config=config, volumes=volumes, resume=resume, dataset=dataset, split=split)
        run = ProcessRun(
            train_target,
            dict(kwargs, threads=cpu_threads_beside_gui(), owner="napari Train widget"),
            name="medgan-train",
        )
        self.task = BackgroundTask(
            run, f"Training GAN in {out.name}", self.viewer, total=config.steps, parent=self
        )
        self.task.messages.connect(self._on_messages)
        self.task.ended.connect(self._on_ended)
        self._tasks[:] = [self.task]
        self._set_state(TrainState.STARTING)
        self.status.setText("Preparing slices" + (f" (resuming {out})" if resume else "") + "…")
        self.task.start()
        return True

    def toggle_pause(self) -> None:
        if self.task is None:
            return
        if self.state is TrainState.PAUSED:
            self.task.unpause()
            self._set_state(TrainState.TRAINING)
        elif self.state in (TrainState.TRAINING, TrainState.STARTING):
            self.task.pause()
            self._set_state(TrainState.PAUSED)

    def stop(self) -> None:
        """Finish the current step, save a checkpoint, end the run (returns at once)."""
        if self.cohort.busy():
            self.cohort.cancel()
        if self.task is not None and self.state is not TrainState.IDLE:
            self.task.stop()
            self._set_state(TrainState.STOPPING)
            self.status.setText("Stopping: saving a checkpoint…")

    def mask_layer(self) -> Labels | None:
        name = self.mask.currentData()
        return self.viewer.layers[name] if name in self.viewer.layers else None

    # ------------------------------------------------------------------ worker messages
    def _on_messages(self, batch: list) -> None:
        """One poll's messages: every loss goes into the plot, the rest shows the newest."""
        report = None
        for msg in batch:
            if isinstance(msg, TrainReport):
                report = msg
                if msg.status == "running":
                    self.plot.add(
                        msg.step,
                        loss_d=msg.loss_d, loss_g=msg.loss_g, d_real=msg.d_real, d_fake=msg.d_fake,
                    )  # fmt: skip
                if msg.heldout_score is not None:
                    self.plot.add_score(
                        msg.step, msg.heldout_score, msg.best_step, msg.heldout_baseline
                    )
                if msg.preview is not None:
                    self._pending_preview = msg
                if msg.checkpoint:
                    runs.publish(str(Path(self.settings.config.out_dir).expanduser()))
                if msg.status in ("finished", "stopped"):
                    self._on_final(msg)
            elif isinstance(msg, Ready):
                self._on_ready(msg)
            elif isinstance(msg, Failed):
                self._on_failed(msg)
            elif isinstance(msg, Cancelled):
                self.status.setText("Stopped before training began.")
        if report is not None:
            self.last_report = report
            self._show_progress(report)
        self._maybe_preview()

    def _on_ready(self, msg: Ready) -> None:
        self.pixel_spacing = msg.pixel_spacing
        counts = ", ".join(f"{k}: {v}" for k, v in msg.counts.items())
        kind = "conditional GAN" if msg.conditional else "GAN"
        again = f"; resumed at step {msg.resumed_from}" if msg.resumed_from else ""
        self.summary.setText(f"{kind} on {msg.device} · slices {counts}{again}")
        self.summary.setToolTip(msg.split)
        if not msg.heldout:
            show_warning(msg.split)
        if self.state is TrainState.STARTING:
            self._set_state(TrainState.TRAINING)

    def _on_failed(self, msg: Failed) -> None:
        if msg.crashed:
            log.error("training process crashed: %s\n%s", msg.message, msg.details)
            show_error(f"Training crashed ({msg.kind}): {msg.message}")
            self.status.setText(f"Training crashed: {msg.message}")
        else:
            show_error(f"Training failed ({msg.kind}): {msg.message}")
            self.status.setText(f"Training failed: {msg.message}")

    def _show_progress(self, r: TrainReport) -> None:
        self.progress.setMaximum(r.total_steps)
        self.progress.setValue(r.step)
        if self.task is not None:
            self.task.set_progress(r.step, r.total_steps)
        if r.status == "running":
            eta = duration(r.eta_s)
            self.status.setText(
                f"step {r.step}/{r.total_steps} · {r.images_per_s:.0f} img/s · ETA {eta} · "
                f"D {r.loss_d:.3f} · G {r.loss_g:.3f} · {r.device}"
            )
        elif r.status == "paused":
            self.status.setText(f"Paused at step {r.step}: Resume or Stop (saves a checkpoint).")

    def _maybe_preview(self, force: bool = False) -> None:
        """Show the newest preview, at most every PREVIEW_S seconds (unless ``force``)."""
        r = self._pending_preview
        now = time.perf_counter()
        if r is None or (not force and now - self._last_preview_t < PREVIEW_S):
            return
        self._pending_preview, self._last_preview_t = None, now
        beside = self._source if self._source in self.viewer.layers else None
        show_preview(self.viewer, r.preview, r.preview_names, self.pixel_spacing, beside, r.step)

    def _on_final(self, r: TrainReport) -> None:
        word = "Finished" if r.status == "finished" else "Stopped"
        self.status.setText(f"{word} at step {r.step}/{r.total_steps}; saved {r.checkpoint}")
        show_info(f"{word} at step {r.step}; checkpoint saved in {r.checkpoint}")

    def _on_ended(self) -> None:
        final = self.last_report
        self._maybe_preview(force=True)
        self.task = None
        self._set_state(TrainState.IDLE)
        self._update_resume_note()
        if final is not None and final.status in ("finished", "stopped"):
            self.progress.setValue(final.step)

    # ------------------------------------------------------------------ UI state
    def _set_state(self, state: TrainState) -> None:
        self.state = state
        idle = state is TrainState.IDLE
        self.start_btn.setEnabled(idle)
        self.pause_btn.setEnabled(
            state in (TrainState.TRAINING, TrainState.PAUSED, TrainState.STARTING)
        )
        self.pause_btn.setText("Resume" if state is TrainState.PAUSED else "Pause")
        self.stop_btn.setEnabled(not idle and state is not TrainState.STOPPING)
        for w in (self.table, self.unconditional, self.mask, self.settings, self.new_run):
            w.setEnabled(idle)

    def _refresh_masks(self, *_args) -> None:
        fill_mask_combo(self.mask, self.viewer.layers)

    def _update_resume_note(self, *_args) -> None:
        out = Path(self.settings.config.out_dir).expanduser()
        if (out / LATEST).exists():
            try:  # a run is continued with its own settings: show them in the form
                saved = read_run(out)
            except CheckpointError as exc:
                self.resume_note.setText(f"⚠ {out.name}: {exc}")
                return
            keep = ("device", "out_dir")  # where it runs is the user's choice
            adopt = {k: v for k, v in vars(saved.config).items() if k not in keep}
            if any(getattr(self.settings.config, k) != v for k, v in adopt.items()):
                self.settings.apply(**adopt)
            more = "" if saved.step < saved.config.steps else " (raise steps to continue)"
            self.resume_note.setText(
                f"↻ {out.name} holds a run at step {saved.step}: Start resumes it with its "
                f"settings{more}."
            )
        else:
            self.resume_note.setText(f"New run in {out}")

    def _new_run_folder(self) -> None:
        out = Path(self.settings.config.out_dir).expanduser()
        self.settings.apply(out_dir=str(new_run_dir(out.parent)))
        self._update_resume_note()

    def closeEvent(self, event) -> None:
        """Floating or stand-alone use: stop like the shutdown hooks do (returns at once)."""
        for task in list(self._tasks):
            task.abandon()
        self.plot.stop_timer()
        super().closeEvent(event)


def _check_resume(out: Path, resume: Path | None, config) -> None:
    """Refuse a busy run folder, and a resume whose settings differ from its checkpoint's."""
    check_free(out)
    if resume is not None:
        saved = read_run(resume)
        check_config(saved.config, config)
        check_steps(saved.step, config)
