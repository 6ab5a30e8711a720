"""A folder field that reports a path only when the user means it (Enter or the chooser),
and the checkpoint loading shared by the Generate and Evaluate widgets."""

from __future__ import annotations

import contextlib
from pathlib import Path

from qtpy.QtCore import Signal
from qtpy.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QLineEdit, QPushButton, QWidget

from napari_medgan.engine import CheckpointError
from napari_medgan.engine.families import FamilyError
from napari_medgan.engine.inference import load_model
from napari_medgan.napari_glue.session import runs

from .jobs import thread_job


class PathField(QWidget):
    """A line edit plus a "Choose…" button.

    ``submitted(str)`` is emitted when Enter is pressed in the field, when a folder is picked
    in the chooser, or when :meth:`set_path` is called with ``submit=True``; never per
    keystroke (loading a checkpoint on every key showed an error notification per key).

    Parameters
    ----------
    tooltip : str
        Shown on the line edit.
    caption : str
        Title of the folder chooser.
    """

    submitted = Signal(str)

    def __init__(self, tooltip: str = "", caption: str = "Choose a folder", parent=None) -> None:
        super().__init__(parent)
        self.caption = caption
        self.edit = QLineEdit()
        self.edit.setToolTip(tooltip + " (press Enter to load)")
        self.edit.setPlaceholderText("run folder, then Enter")
        self.choose = QPushButton("Choose…")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.edit, 1)
        layout.addWidget(self.choose)
        self.edit.returnPressed.connect(self._submit)
        self.choose.clicked.connect(self._choose)

    @property
    def value(self) -> str:
        return self.edit.text().strip()

    def set_path(self, path: str | Path, submit: bool = True) -> None:
        """Show ``path``; emit ``submitted`` too unless ``submit`` is False."""
        self.edit.setText(str(path))
        if submit:
            self._submit()

    def _submit(self) -> None:
        if self.value:
            self.submitted.emit(self.value)

    def _choose(self) -> None:
        start = self.value if self.value and Path(self.value).expanduser().exists() else ""
        folder = QFileDialog.getExistingDirectory(self, self.caption, start)
        if folder:
            self.set_path(folder)


class CheckpointInput:
    """Mixin for widgets with a ``checkpoint`` :class:`PathField` and an ``info`` label.

    :meth:`load` loads now (scripts, tests); the field's Enter/chooser and a newly published
    run load in a thread job (:meth:`load_in_background`). The widget calls
    :meth:`_checkpoint_input` before its layout and :meth:`_follow_runs` at the end of its
    ``__init__``, and implements ``_loaded(sampler)`` and ``_load_failed(error)``;
    ``families`` names the model families it serves (a run of another family is refused with a
    message saying where it belongs).
    """

    families: tuple[str, ...] = ("gan",)
    sampler = None
    _loads = 0  # a newer load makes older answers stale

    def _checkpoint_input(self) -> None:
        """Create the ``checkpoint`` field and the ``info`` label; Enter or Choose… loads."""
        self.checkpoint = PathField("a run folder or one of its checkpoints", "Choose a run folder")
        self.info = QLabel("Choose a run folder (the last trained run is picked up).")
        self.info.setWordWrap(True)
        self.checkpoint.submitted.connect(self.load_in_background)

    def _follow_runs(self) -> None:
        """Load the newest run the Train widget published, now and each time it publishes."""
        connect_while_alive(self, runs.run_saved, self._on_new_run)
        if runs.last_run:
            self.checkpoint.set_path(runs.last_run, submit=False)
            self.load(runs.last_run)

    def load(self, path: str | Path) -> bool:
        """Load the generator of a run or checkpoint folder; False (and a notification) if not."""
        if not str(path) or str(path) == ".":
            return False
        self._loads += 1
        return self._use(load_sampler(str(path), self.families))

    def load_in_background(self, path: str | Path) -> None:
        """Load in a worker thread; the form updates when the model is in."""
        if not str(path) or str(path) == ".":
            return
        self._loads += 1
        token = self._loads
        self.info.setText(f"Loading {path}…")
        thread_job(
            load_sampler, str(path), self.families,
            connect={"returned": lambda out: self._use(out, token)},
        )  # fmt: skip

    def _on_new_run(self, run_dir: str) -> None:
        self.checkpoint.set_path(run_dir)  # submits: loads in the background

    def _use(self, loaded, token: int | None = None) -> bool:
        if token is not None and token != self._loads:
            return False  # the user asked for another checkpoint meanwhile
        if isinstance(loaded, (CheckpointError, FamilyError)):
            self.sampler = None
            self.info.setText(f"No model loaded: {loaded}")
            self._load_failed(loaded)
            return False
        self.sampler = s = loaded
        run = Path(s.path).parent.parent.name
        if s.config.family == "translate":
            self.info.setText(
                f"{run} · step {s.step} · translation {s.source_name} → {s.target_name} · "
                f"{s.config.size} px"
            )
        elif s.config.family == "mask2image":
            self.info.setText(
                f"{run} · step {s.step} · masks → {s.image_name} · labels "
                f"{', '.join(map(str, s.label_values))} · {s.config.size} px"
            )
        else:
            kind = "conditional" if s.conditional else "unconditional"
            self.info.setText(
                f"{run} · step {s.step} · {kind} · {s.size} px · {', '.join(s.class_names)}"
            )
        self._loaded(s)
        return True


def load_sampler(path: str, families: tuple[str, ...] = ("gan",)):
    """The run's model on the CPU (a ``Sampler``, ``Translator`` or ``Synthesizer``), or the
    error that says why not (a value, so that a thread job shows one clear notification instead
    of napari's traceback): also a run of a family outside ``families``."""
    try:
        model = load_model(path, device="cpu")
    except (CheckpointError, FamilyError) as exc:
        return exc
    if model.config.family not in families:
        where = {
            "translate": "the Generate dock translates image layers with it",
            "mask2image": "the Generate dock makes images from Labels layers with it",
        }
        hint = where.get(model.config.family, "")
        return FamilyError(
            f"{path} is a {model.config.family!r} run; this dock works with "
            f"{' and '.join(repr(f) for f in families)} runs" + (f" ({hint})" if hint else "")
        )
    return model


def connect_while_alive(widget, signal, slot) -> None:
    """Connect a session signal (psygnal) to ``slot`` until ``widget`` is destroyed."""
    signal.connect(slot)

    def disconnect(*_args) -> None:
        with contextlib.suppress(RuntimeError, ValueError):
            signal.disconnect(slot)

    widget.destroyed.connect(disconnect)
