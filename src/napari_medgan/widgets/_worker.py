"""The one place where engine training meets napari's ``thread_worker`` machinery.

:class:`TrainJob` builds the dataset and the :class:`~napari_medgan.engine.Trainer` *inside*
the worker thread (large volumes take seconds to slice) and yields small messages: a
:class:`JobReady` once, then the trainer's reports, or a :class:`JobFailed` for expected
errors (bad data, settings, checkpoint, NaN, out of memory) so the widget can show a clear
notification. Unexpected exceptions propagate to napari, which shows them with a traceback.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from napari.qt.threading import GeneratorWorker, create_worker

from napari_medgan.engine import (
    CheckpointError,
    ConfigError,
    DataError,
    SliceDataset,
    TrainConfig,
    Trainer,
    TrainingError,
    TrainReport,
    Volume,
    build_dataset,
)
from napari_medgan.engine.resume import resume_transforms

EXPECTED_ERRORS = (CheckpointError, ConfigError, DataError, TrainingError, MemoryError)


@dataclass
class JobReady:
    """The dataset is built and the trainer is about to run."""

    counts: dict[str, int]
    conditional: bool
    pixel_spacing: float
    device: str
    resumed_from: int  # step the run continues from (0: fresh)
    split: str = ""  # one line on the held-out split (HoldoutSplit.summary)
    heldout: bool = True  # False: quality and memorization cannot be separated


@dataclass
class JobFailed:
    """An expected error; ``message`` is meant for the user."""

    message: str
    kind: str


class TrainJob:
    """Everything about one training run that must cross threads.

    ``stop``, ``pause`` and ``unpause`` may be called from the GUI thread at any time, even
    before the trainer exists.
    """

    def __init__(
        self,
        config: TrainConfig,
        volumes: list[Volume],
        resume: str | Path | None = None,
        dataset: SliceDataset | None = None,
        split=None,
    ) -> None:
        self.config = config.replace()  # a snapshot: editing the form cannot race the loop
        self.volumes = volumes
        self.resume = resume
        self.trainer: Trainer | None = None
        self.dataset: SliceDataset | None = dataset  # prepared already (a cohort), or built here
        self.split = split  # a cohort table's held-out split, else the trainer's own
        self.done = threading.Event()
        self._lock = threading.Lock()
        self._stop = False
        self._paused = False

    def run(self) -> Iterator[TrainReport | JobReady | JobFailed]:
        """Build, train, clean up; never raises the expected errors."""
        try:
            cfg = self.config.validate()
            if self.dataset is None:
                self.dataset = build_dataset(
                    self.volumes, cfg.size, cfg.slice_axis, cfg.min_foreground,
                    transforms=resume_transforms(self.resume),  # a resumed run keeps its windows
                    ct_window=cfg.ct_window,
                )
            trainer = Trainer(
                cfg, self.dataset, resume=self.resume, split=self.split,
                owner="napari Train widget",
            )
            with self._lock:
                self.trainer = trainer
                if self._stop:
                    trainer.stop()
                elif self._paused:
                    trainer.pause()
            geom = next(iter(self.dataset.geometry.values()))
            yield JobReady(
                counts=self.dataset.counts(),
                conditional=self.dataset.conditional,
                pixel_spacing=geom.pixel_spacing,
                device=str(trainer.device),
                resumed_from=trainer.step,
                split=trainer.split.summary(),
                heldout=trainer.split.has_heldout(),
            )
            yield from trainer.run()
        except EXPECTED_ERRORS as exc:
            yield JobFailed(str(exc), type(exc).__name__)
        finally:
            with self._lock:
                if self.trainer is not None:
                    self.trainer.close()
            self.done.set()

    # ------------------------------------------------------------------ control (any thread)
    def stop(self) -> None:
        """Ask the loop to finish its step, save a checkpoint and end."""
        with self._lock:
            self._stop = True
            if self.trainer is not None:
                self.trainer.stop()

    def pause(self) -> None:
        with self._lock:
            self._paused = True
            if self.trainer is not None:
                self.trainer.pause()

    def unpause(self) -> None:
        with self._lock:
            self._paused = False
            if self.trainer is not None:
                self.trainer.unpause()

    def stop_and_wait(self, timeout_s: float = 10.0) -> bool:
        """Stop and block until the loop has ended (True) or ``timeout_s`` passed (False)."""
        self.stop()
        return self.done.wait(timeout_s)


class TrainWorker(GeneratorWorker):
    """A napari generator worker whose ``quit`` also stops the trainer.

    napari cancels registered tasks with ``quit`` when its window closes; a plain quit acts only
    at the next yield, which never comes while the trainer is paused.
    """

    job: TrainJob | None = None

    def quit(self) -> None:
        if self.job is not None:
            self.job.stop()
        super().quit()


def start_job(job: TrainJob, connect: dict) -> TrainWorker:
    """Run ``job`` in a napari worker (registered as a task; errors go to notifications)."""
    worker = create_worker(
        job.run, _connect=connect, _start_thread=False, _worker_class=TrainWorker
    )
    worker.job = job
    worker.start()
    return worker
