"""The Train GAN dock widget: layers + settings in, live losses and previews out."""

from __future__ import annotations

import contextlib
from pathlib import Path

from napari.layers import Labels
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtWidgets import (
    QApplication,
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

from ._worker import JobFailed, JobReady, TrainJob, start_job
from .cohort_input import CohortInput
from .layers import check_conditions, to_volumes
from .loss_plot import LossPlot
from .preview import show_preview
from .state import TrainState, runs
from .train_settings import TrainSettings, new_run_dir


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
        self.job: TrainJob | None = None
        self.worker = None
        self.last_report: TrainReport | None = None
        self.pixel_spacing = 1.0
        self._source = None
        self._closed = False
        self._jobs: list[TrainJob] = []  # shared with the shutdown hooks (no reference to self)

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
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self._shutdown)
        jobs = self._jobs
        self.destroyed.connect(lambda *_: _stop_all(jobs))
        self._refresh_masks()
        self._update_resume_note()
        self._set_state(TrainState.IDLE)

    def _build_layout(self) -> None:
        layout = QVBoxLayout(self)
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
        buttons = QHBoxLayout()
        for b in (self.start_btn, self.pause_btn, self.stop_btn):
            buttons.addWidget(b)
        layout.addLayout(buttons)
        layout.addWidget(self.summary)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.plot, 1)

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
        if self._closed or dataset is None:
            self._set_state(TrainState.IDLE)
            return
        self.state = TrainState.IDLE
        self._launch([], dataset, split)

    def _launch(self, volumes, dataset=None, split=None) -> bool:
        out = Path(self.settings.config.out_dir).expanduser()
        resume = out if (out / LATEST).exists() else None
        try:
            _check_resume(out, resume, self.settings.config)
        except CheckpointError as exc:
            show_error(f"Cannot start training: {exc}")
            return False
        if resume is None:
            self.plot.clear()
        self.job = TrainJob(
            self.settings.config, volumes, resume=resume, dataset=dataset, split=split
        )
        self._jobs[:] = [self.job]
        self._set_state(TrainState.STARTING)
        self.status.setText("Preparing slices" + (f" (resuming {out})" if resume else "") + "…")
        self.worker = start_job(
            self.job,
            {"yielded": self._on_yield, "finished": self._on_finished, "errored": self._on_error},
        )
        return True

    def toggle_pause(self) -> None:
        if self.job is None:
            return
        if self.state is TrainState.PAUSED:
            self.job.unpause()
            self._set_state(TrainState.TRAINING)
        elif self.state in (TrainState.TRAINING, TrainState.STARTING):
            self.job.pause()
            self._set_state(TrainState.PAUSED)

    def stop(self) -> None:
        """Finish the current step, save a checkpoint, end the run."""
        if self.cohort.busy():
            self.cohort.cancel()
        if self.job is not None and self.state is not TrainState.IDLE:
            self.job.stop()
            self._set_state(TrainState.STOPPING)
            self.status.setText("Stopping: saving a checkpoint…")

    def mask_layer(self) -> Labels | None:
        name = self.mask.currentData()
        return self.viewer.layers[name] if name in self.viewer.layers else None

    # ------------------------------------------------------------------ worker messages
    def _on_yield(self, msg) -> None:
        if self._closed:
            return
        if isinstance(msg, JobReady):
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
        elif isinstance(msg, JobFailed):
            show_error(f"Training failed ({msg.kind}): {msg.message}")
        elif isinstance(msg, TrainReport):
            self._on_report(msg)

    def _on_report(self, r: TrainReport) -> None:
        self.last_report = r
        self.progress.setMaximum(r.total_steps)
        self.progress.setValue(r.step)
        if r.status == "running":
            self.plot.add(
                r.step, loss_d=r.loss_d, loss_g=r.loss_g, d_real=r.d_real, d_fake=r.d_fake
            )
            eta = _duration(r.eta_s)
            self.status.setText(
                f"step {r.step}/{r.total_steps} · {r.images_per_s:.0f} img/s · ETA {eta} · "
                f"D {r.loss_d:.3f} · G {r.loss_g:.3f} · {r.device}"
            )
        elif r.status == "paused":
            self.status.setText(f"Paused at step {r.step}: Resume or Stop (saves a checkpoint).")
        if r.heldout_score is not None:
            self.plot.add_score(r.step, r.heldout_score, r.best_step, r.heldout_baseline)
        if r.preview is not None:
            show_preview(
                self.viewer,
                r.preview,
                r.preview_names,
                self.pixel_spacing,
                beside=self._source if self._source in self.viewer.layers else None,
                step=r.step,
            )
        if r.checkpoint:
            runs.publish(str(Path(self.settings.config.out_dir).expanduser()))
        if r.status in ("finished", "stopped"):
            word = "Finished" if r.status == "finished" else "Stopped"
            self.status.setText(f"{word} at step {r.step}/{r.total_steps}; saved {r.checkpoint}")
            show_info(f"{word} at step {r.step}; checkpoint saved in {r.checkpoint}")

    def _on_finished(self) -> None:
        if self._closed:
            return
        self.job, self.worker = None, None
        self._set_state(TrainState.IDLE)
        self._update_resume_note()

    def _on_error(self, exc: Exception) -> None:
        # napari shows unexpected errors with their traceback; here only the UI is reset
        self.status.setText(f"Training crashed: {exc}")

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
        current = self.mask.currentData()
        self.mask.blockSignals(True)
        self.mask.clear()
        self.mask.addItem("none (skip near-empty slices)", None)
        for lay in self.viewer.layers:
            if isinstance(lay, Labels):
                self.mask.addItem(lay.name, lay.name)
        index = self.mask.findData(current)
        self.mask.setCurrentIndex(max(index, 0))
        self.mask.blockSignals(False)

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

    def _shutdown(self) -> None:
        _stop_all(self._jobs)

    def closeEvent(self, event) -> None:
        self._closed = True
        self._shutdown()
        self.plot.stop_timer()
        super().closeEvent(event)


def _check_resume(out: Path, resume: Path | None, config) -> None:
    """Refuse a busy run folder, and a resume whose settings differ from its checkpoint's."""
    check_free(out)
    if resume is not None:
        saved = read_run(resume)
        check_config(saved.config, config)
        check_steps(saved.step, config)


def _stop_all(jobs: list[TrainJob], timeout_s: float = 10.0) -> None:
    """Stop running jobs and wait briefly for their checkpoint (used on close and quit)."""
    for job in list(jobs):
        with contextlib.suppress(RuntimeError):
            job.stop_and_wait(timeout_s)


def _duration(seconds: float) -> str:
    if seconds != seconds or seconds == float("inf"):
        return "—"
    seconds = int(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
