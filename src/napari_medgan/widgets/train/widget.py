"""The Train GAN dock widget: layers + settings in, live losses and previews out.

Training runs in a child process (``engine.runner``); ``feedback`` turns its reports
into a plot, a preview layer and a progress bar, at most twice a second.
"""

from __future__ import annotations

from pathlib import Path

from napari.layers import Labels
from napari.utils.notifications import show_error, show_warning
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from napari_medgan.engine import CheckpointError, ConfigError, DataError, TrainReport
from napari_medgan.engine.checkpoint import LATEST
from napari_medgan.engine.runner import (
    Cancelled,
    Failed,
    ProcessRun,
    Ready,
    cpu_threads_beside_gui,
    train_target,
)
from napari_medgan.napari_glue.session import runs

from ..common.jobs import ProcessJob, hook_shutdown
from ..common.layers import check_conditions, fill_mask_combo, to_volumes
from ..common.layout import scrolled
from .cohort_input import CohortInput
from .feedback import TrainFeedback
from .pair_input import FAMILY_CHOICES, PairInput, show_family, start_pairs
from .run_folder import RunFolder, check_resume
from .settings import TrainSettings
from .state import TrainState


class TrainWidget(QWidget):
    """Train a GAN (or a class-conditional GAN) on image layers of the viewer.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        Injected by napari when the widget is docked.
    """

    def __init__(self, napari_viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from ..common.layer_table import LayerTable

        self.viewer = napari_viewer
        self.state = TrainState.IDLE
        self.job: ProcessJob | None = None  # the running training
        self._jobs: list[ProcessJob] = []  # shared with the shutdown hooks (not self)

        self.family = QComboBox()
        for text, name in FAMILY_CHOICES:
            self.family.addItem(text, name)
        self.family.setToolTip("what the model learns; each family has its own inputs below")
        self.pairs = PairInput(napari_viewer)
        self.mask_pairs = PairInput(napari_viewer, labels=True)
        self.table = LayerTable(napari_viewer)
        self.cohort = CohortInput()
        self.unconditional = QCheckBox("no conditions (plain GAN over all ticked layers)")
        self.mask = QComboBox()
        self.mask.setToolTip("only slices where this Labels layer is non-empty are used")
        self.settings = TrainSettings()
        self.run_folder = RunFolder(self.settings)
        self.resume_note, self.new_run = self.run_folder.note, self.run_folder.new_run
        self.start_btn = QPushButton("Start")
        self.pause_btn = QPushButton("Pause")
        self.stop_btn = QPushButton("Stop")
        self.feedback = TrainFeedback(napari_viewer)
        fb = self.feedback  # its parts, under the names tests and scripts use
        self.summary, self.progress, self.status, self.plot = (
            fb.summary, fb.progress, fb.status, fb.plot
        )  # fmt: skip
        self._build_layout()

        self.family.currentIndexChanged.connect(self._on_family)
        self.settings.family_changed.connect(self._show_family)
        self.start_btn.clicked.connect(self.start)
        self.pause_btn.clicked.connect(self.toggle_pause)
        self.stop_btn.clicked.connect(self.stop)
        for ev in (napari_viewer.layers.events.inserted, napari_viewer.layers.events.removed):
            ev.connect(self._refresh_masks)
        hook_shutdown(self, napari_viewer, self._jobs, extra=self.plot.stop_timer)
        self._refresh_masks()
        self._show_family(self.settings.config.family)
        self._set_state(TrainState.IDLE)

    @property
    def last_report(self) -> TrainReport | None:
        """The newest report of the current (or last) run."""
        return self.feedback.last_report

    @property
    def pixel_spacing(self) -> float:
        """mm per training pixel of the current run (the preview's scale)."""
        return self.feedback.pixel_spacing

    def _build_layout(self) -> None:
        """Inputs and settings scroll; the run controls, progress and plot stay in view."""
        self.scroll, layout = scrolled(120)
        family = QFormLayout()
        family.addRow("model", self.family)
        layout.addLayout(family)
        self.gan_inputs = QWidget()
        gan = QVBoxLayout(self.gan_inputs)
        gan.setContentsMargins(0, 0, 0, 0)
        gan.addWidget(QLabel("<b>Training images</b> (one condition per name)"))
        gan.addWidget(self.table)
        gan.addWidget(self.unconditional)
        gan.addWidget(QLabel("<b>…or a cohort on disk</b> (folder tree or table)"))
        gan.addWidget(self.cohort)
        form = QFormLayout()  # a slice mask of the GAN's images (paired runs have their own)
        form.addRow("mask", self.mask)
        gan.addLayout(form)
        layout.addWidget(self.gan_inputs)
        layout.addWidget(self.pairs)
        layout.addWidget(self.mask_pairs)
        layout.addWidget(QLabel("<b>Settings</b>"))
        layout.addWidget(self.settings)
        layout.addWidget(self.run_folder)
        layout.addStretch(1)

        outer = QVBoxLayout(self)
        outer.addWidget(self.scroll, 3)
        buttons = QHBoxLayout()
        for b in (self.start_btn, self.pause_btn, self.stop_btn):
            buttons.addWidget(b)
        outer.addLayout(buttons)
        outer.addWidget(self.feedback, 2)

    # ------------------------------------------------------------------ actions
    def start(self) -> bool:
        """Check the inputs and start (or resume) training; False if nothing started."""
        if self.state is not TrainState.IDLE:
            return False
        if self.settings.config.family in ("translate", "mask2image"):
            return start_pairs(self)
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
        self.feedback.source = choices[0].layer
        return self._launch(volumes)

    def _on_family(self, _index: int) -> None:
        """A family was picked: its recipe fills the settings and its inputs show."""
        self.settings.set_family(self.family.currentData())

    def _show_family(self, name: str) -> None:
        show_family(self, name)

    def _start_cohort(self) -> bool:
        """Prepare the cohort's slices in the background, then train on them."""
        try:
            self.settings.config.validate()
        except ConfigError as exc:
            show_error(f"Cannot start training: {exc}")
            return False
        if not self.cohort.start(self.settings.config, self._on_cohort_ready):
            return False
        self.feedback.source = None
        self._set_state(TrainState.STARTING)
        self.feedback.set_status("Preparing the cohort's slices (Cancel preparation stops it)…")
        return True

    def _on_cohort_ready(self, dataset, split=None) -> None:
        if dataset is None:
            self._set_state(TrainState.IDLE)
            return
        self.state = TrainState.IDLE
        self._launch([], dataset, split)

    def _launch(self, volumes, dataset=None, split=None, pairs=None) -> bool:
        """Start the child process that trains (a snapshot of the settings goes with it)."""
        config = self.settings.config.replace()  # editing the form cannot race the run
        out = Path(config.out_dir).expanduser()
        resume = out if (out / LATEST).exists() else None
        try:
            check_resume(out, resume, config)
        except CheckpointError as exc:
            show_error(f"Cannot start training: {exc}")
            self._set_state(TrainState.IDLE)
            return False
        self.feedback.reset(keep_plot=resume is not None)
        kwargs = dict(
            config=config, volumes=volumes, resume=resume, dataset=dataset, split=split, pairs=pairs
        )
        run = ProcessRun(
            train_target,
            dict(kwargs, threads=cpu_threads_beside_gui(), owner="napari Train widget"),
            name="medgan-train",
        )
        self.job = ProcessJob(
            run, f"Training in {out.name}", self.viewer, total=config.steps, parent=self
        )
        self.job.messages.connect(self._on_messages)
        self.job.ended.connect(self._on_ended)
        self._jobs[:] = [self.job]
        self.feedback.job = self.job
        self._set_state(TrainState.STARTING)
        self.feedback.set_status(
            "Preparing slices" + (f" (resuming {out})" if resume else "") + "…"
        )
        self.job.start()
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
        """Finish the current step, save a checkpoint, end the run (returns at once)."""
        if self.cohort.busy():
            self.cohort.cancel()
        if self.job is not None and self.state is not TrainState.IDLE:
            self.job.stop()
            self._set_state(TrainState.STOPPING)
            self.feedback.set_status("Stopping: saving a checkpoint…")

    def mask_layer(self) -> Labels | None:
        name = self.mask.currentData()
        return self.viewer.layers[name] if name in self.viewer.layers else None

    # ------------------------------------------------------------------ worker messages
    def _on_messages(self, batch: list) -> None:
        """One poll's messages: every loss goes into the plot; the screen follows at most
        twice a second (``common.layout.UI_S``), at once for a run's start and end."""
        fb, now = self.feedback, False
        for msg in batch:
            if isinstance(msg, TrainReport):
                fb.report(msg)
                now = now or msg.status != "running"  # paused, stopped, finished
                if msg.checkpoint:
                    runs.publish(str(Path(self.settings.config.out_dir).expanduser()))
                if msg.status in ("finished", "stopped"):
                    fb.final(msg)
            elif isinstance(msg, Ready):
                fb.ready(msg)
                if self.state is TrainState.STARTING:
                    self._set_state(TrainState.TRAINING)
            elif isinstance(msg, Failed):
                fb.failed(msg)
            elif isinstance(msg, Cancelled):
                fb.announce("Stopped before training began.")
        fb.refresh(force=now)

    def _on_ended(self) -> None:
        self.feedback.refresh(force=True)
        self.job = self.feedback.job = None
        self._set_state(TrainState.IDLE)
        self.run_folder.update_note()

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
        for w in (
            self.family, self.table, self.unconditional, self.mask, self.pairs, self.mask_pairs,
            self.settings, self.new_run,
        ):  # fmt: skip
            w.setEnabled(idle)

    def _refresh_masks(self, *_args) -> None:
        fill_mask_combo(self.mask, self.viewer.layers)

    def closeEvent(self, event) -> None:
        """Floating or stand-alone use: stop like the shutdown hooks do (returns at once)."""
        for job in list(self._jobs):
            job.abandon()
        self.plot.stop_timer()
        super().closeEvent(event)
