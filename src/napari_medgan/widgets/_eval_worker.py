"""Worker glue of the Evaluate widget: one ``evaluate_sampler`` call in napari's thread pool.

:class:`EvalJob` runs the engine with a ``progress`` callback (forwarded to the GUI thread
through a Qt signal) and a ``should_stop`` callback (the Cancel button, or napari asking the
task to quit on close). It *returns* an outcome instead of raising for expected problems, so
the widget shows a clear notification; unexpected exceptions reach napari with a traceback.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from napari.qt.threading import FunctionWorker, create_worker
from qtpy.QtCore import QObject, Signal

from napari_medgan.engine import Volume
from napari_medgan.engine.metrics import EvaluationCancelled, EvaluationResult, evaluate_sampler


class ProgressBridge(QObject):
    """Lives in the GUI thread; emitting from the worker thread queues the call."""

    progress = Signal(str, float)


@dataclass
class EvalDone:
    """The evaluation finished."""

    result: EvaluationResult


@dataclass
class EvalFailed:
    """An expected error; ``message`` is meant for the user."""

    message: str
    kind: str


@dataclass
class EvalCancelled:
    """``should_stop`` was honoured between two stages."""

    stage: str


class EvalJob:
    """Everything about one evaluation that crosses threads; ``cancel`` may come any time."""

    def __init__(
        self,
        sampler,
        volumes: list[Volume],
        *,
        n: int | None,
        seed: int,
        n_boot: int,
        net_steps: int,
        bridge: ProgressBridge | None = None,
    ) -> None:
        self.sampler = sampler
        self.volumes = volumes
        self.kwargs = dict(
            n=n,
            seed=seed,
            n_boot=n_boot,
            classifier_steps=net_steps,
        )
        self.bridge = bridge
        self.stage = "starting"
        self._cancel = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def _progress(self, stage: str, fraction: float) -> None:
        self.stage = stage
        if self.bridge is not None:
            try:
                self.bridge.progress.emit(stage, float(fraction))
            except RuntimeError:  # the widget (and its bridge) was deleted meanwhile
                self.bridge = None

    def run(self) -> EvalDone | EvalFailed | EvalCancelled:
        """Sample the checkpoint and score it; never raises the expected errors."""
        if self.cancelled:
            return EvalCancelled(self.stage)
        try:
            result = evaluate_sampler(
                self.sampler,
                self.volumes,
                progress=self._progress,
                should_stop=self._cancel.is_set,
                **self.kwargs,
            )
        except EvaluationCancelled:
            return EvalCancelled(self.stage)
        except (ValueError, MemoryError) as exc:  # DataError, SamplingError and input checks
            return EvalFailed(str(exc), type(exc).__name__)
        return EvalDone(result)


class EvalWorker(FunctionWorker):
    """A napari function worker whose ``quit`` (window closing) also cancels the job."""

    job: EvalJob | None = None

    def quit(self) -> None:
        if self.job is not None:
            self.job.cancel()
        super().quit()


def start_eval(job: EvalJob, connect: dict) -> EvalWorker:
    """Run ``job`` in a napari worker (registered as a task; errors go to notifications)."""
    worker = create_worker(job.run, _connect=connect, _start_thread=False, _worker_class=EvalWorker)
    worker.job = job
    worker.start()
    return worker
