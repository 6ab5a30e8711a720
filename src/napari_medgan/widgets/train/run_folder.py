"""The Train widget's output-folder line: a new run, or a run that Start resumes."""

from __future__ import annotations

from pathlib import Path

from qtpy.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

from napari_medgan.engine import CheckpointError
from napari_medgan.engine.checkpoint import LATEST
from napari_medgan.engine.resume import check_config, check_steps, read_run
from napari_medgan.engine.runlock import check_free

from .settings import TrainSettings, new_run_dir


class RunFolder(QWidget):
    """Says whether the output folder holds a run (then shows its settings in the form) and
    offers a fresh folder.

    Parameters
    ----------
    settings : TrainSettings
        The form whose ``out_dir`` is watched and whose fields a resumed run fills in.
    """

    def __init__(self, settings: TrainSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.new_run = QPushButton("New run folder")
        self.new_run.setToolTip("pick a fresh output folder instead of resuming this one")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.note, 1)
        row.addWidget(self.new_run)
        self.new_run.clicked.connect(self.new_folder)
        settings.fields["out_dir"].changed.connect(self.update_note)
        self.update_note()

    @property
    def out_dir(self) -> Path:
        return Path(self.settings.config.out_dir).expanduser()

    def update_note(self, *_args) -> None:
        out = self.out_dir
        if (out / LATEST).exists():
            try:  # a run is continued with its own settings: show them in the form
                saved = read_run(out)
            except CheckpointError as exc:
                self.note.setText(f"⚠ {out.name}: {exc}")
                return
            keep = ("device", "out_dir")  # where it runs is the user's choice
            adopt = {k: v for k, v in vars(saved.config).items() if k not in keep}
            if any(getattr(self.settings.config, k) != v for k, v in adopt.items()):
                self.settings.apply(**adopt)
            more = "" if saved.step < saved.config.steps else " (raise steps to continue)"
            self.note.setText(
                f"↻ {out.name} holds a run at step {saved.step}: Start resumes it with its "
                f"settings{more}."
            )
        else:
            self.note.setText(f"New run in {out}")

    def new_folder(self) -> None:
        self.settings.apply(out_dir=str(new_run_dir(self.out_dir.parent)))
        self.update_note()


def check_resume(out: Path, resume: Path | None, config) -> None:
    """Refuse a busy run folder, and a resume whose settings differ from its checkpoint's."""
    check_free(out)
    if resume is not None:
        saved = read_run(resume)
        check_config(saved.config, config)
        check_steps(saved.step, config)
