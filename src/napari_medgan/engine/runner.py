"""Run engine work in a child process that owns the model and the device.

The viewer (or any other caller) keeps its interpreter free: no GIL contention with the
training loop, device memory is returned to the system when the child exits, and a crash in
the child (even a hard one) ends only the child. Qt-free, like the rest of the engine.

A *target* is a module-level function ``target(ctl, **kwargs) -> result`` run in the child;
it sends small picklable messages with ``ctl.emit`` and polls ``ctl.stop_requested``. The
parent side is :class:`ProcessRun`: ``start``, ``stop``, ``pause``, ``unpause``, ``drain``
(messages received so far, never blocks) and ``join``. Every run ends with exactly one
terminal message: :class:`Done` (the target's return value), :class:`Failed` (an expected
error, or a crash with its traceback) or a ``Failed`` of kind ``ProcessDied`` when the child
vanished without a word (killed, segfault, out of memory).

Targets shipped here: :func:`train_target`, :func:`evaluate_target`.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import logging
import multiprocessing as mp
import os
import pickle
import queue
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .checkpoint import CheckpointError
from .config import ConfigError, TrainConfig
from .data import DataError, SliceDataset, Volume, build_dataset
from .families import FamilyError
from .families.mask2image.pairs import build_mask_pairs
from .families.translate.pairs import build_pairs
from .holdout import HoldoutSplit
from .resume import resume_label_values, resume_transforms
from .sampling import SamplingError
from .trainer import Trainer, TrainingError

EXPECTED_ERRORS = (
    CheckpointError,
    ConfigError,
    DataError,
    FamilyError,
    SamplingError,
    TrainingError,
    MemoryError,
)
SHUTDOWN_TIMEOUT_S = 60.0  # at interpreter exit: wait this long for children to save


# ---------------------------------------------------------------------- messages
@dataclass
class Ready:
    """The training set is built and the trainer is about to run."""

    counts: dict[str, int]
    conditional: bool
    pixel_spacing: float
    device: str
    resumed_from: int  # step the run continues from (0: fresh)
    split: str = ""  # one line on the held-out split (HoldoutSplit.summary)
    heldout: bool = True  # False: quality and memorization cannot be separated
    score_name: str = "held-out SWD"  # what the family's held-out score measures
    roles: dict | None = None  # a paired family's channel roles (source and target names)


@dataclass
class Progress:
    """A stage of a long computation and how far it is (0..1)."""

    stage: str
    fraction: float


@dataclass
class Done:
    """The target returned ``result``."""

    result: Any = None


@dataclass
class Cancelled:
    """The target honoured a stop request before producing a result."""

    stage: str = ""


@dataclass
class Failed:
    """The run ended with an error; ``message`` is meant for the user.

    ``crashed`` is True for unexpected errors (``details`` then holds the traceback).
    """

    message: str
    kind: str
    crashed: bool = False
    details: str = ""


TERMINAL = (Done, Cancelled, Failed)


# ---------------------------------------------------------------------- child side
class ChildControl:
    """What a target sees of its parent: a message channel and the stop/pause requests."""

    def __init__(self, out, stop, pause) -> None:
        self._out, self._stop, self._pause = out, stop, pause

    def emit(self, message: Any) -> None:
        """Send one small picklable message to the parent."""
        self._out.put(_pack(message))

    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def pause_requested(self) -> bool:
        return self._pause.is_set()

    def follow(self, trainer: Trainer, interval_s: float = 0.05) -> threading.Event:
        """Forward stop/pause requests (and the parent's death) to ``trainer``.

        Returns an event that ends the forwarding thread when set.
        """
        done = threading.Event()
        parent = mp.parent_process()

        def forward() -> None:
            paused = False
            while not done.wait(interval_s):
                if self._stop.is_set() or (parent is not None and not parent.is_alive()):
                    trainer.stop()
                    return
                want = self._pause.is_set()
                if want != paused:
                    (trainer.pause if want else trainer.unpause)()
                    paused = want

        threading.Thread(target=forward, name="medgan-control", daemon=True).start()
        return done


def _child_main(target: Callable, kwargs: dict, out, stop, pause) -> None:
    ctl = ChildControl(out, stop, pause)
    try:
        result = target(ctl, **kwargs)
        ctl.emit(result if isinstance(result, TERMINAL) else Done(result))
    except EXPECTED_ERRORS as exc:
        ctl.emit(Failed(str(exc), type(exc).__name__))
    except BaseException as exc:  # everything else is reported as a crash
        ctl.emit(
            Failed(str(exc) or type(exc).__name__, type(exc).__name__, True, traceback.format_exc())
        )
    finally:
        out.close()
        out.join_thread()  # every message is in the pipe; the parent drains until we are gone
        _quick_exit()


def _quick_exit() -> None:
    """End the child without the interpreter's teardown.

    Everything is delivered and every checkpoint is written (atomically) by now; tearing down
    torch and the modules only delays the moment the parent sees the run end (measured: ~2 s
    of a stop on a busy 2-core machine). The OS returns the memory, device memory included.
    """
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    logging.shutdown()
    os._exit(0)


def _pack(message: Any) -> bytes:
    """Plain pickle bytes: importing torch makes the queue's pickler share tensors through
    file descriptors served by the sender, which fails once the child has exited."""
    return pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)


# ---------------------------------------------------------------------- parent side
_LIVE: set[ProcessRun] = set()


class ProcessRun:
    """One target running in a ``spawn``-ed child process, seen from the parent.

    Parameters
    ----------
    target : callable
        A module-level function ``target(ctl, **kwargs)`` (picklable by reference).
    kwargs : dict
        Its arguments; pickled into the child (numpy arrays are fine).
    name : str
        Process name, shown by ``ps`` and in messages.
    """

    def __init__(self, target: Callable, kwargs: dict, name: str = "medgan-worker") -> None:
        self._ctx = mp.get_context("spawn")
        self.target, self.kwargs, self.name = target, kwargs, name
        self._out = self._ctx.Queue()
        self._stop = self._ctx.Event()
        self._pause = self._ctx.Event()
        self._inbox: collections.deque = collections.deque()
        self._proc = None
        self._started = threading.Event()
        self.finished = threading.Event()  # the child is gone and every message is in the inbox
        self.exitcode: int | None = None

    # -------------------------------------------------------------- control (any thread)
    def start(self) -> ProcessRun:
        """Start the child from a helper thread (pickling large inputs never blocks the caller)."""
        _LIVE.add(self)
        threading.Thread(target=self._run, name=f"{self.name}-reader", daemon=True).start()
        return self

    def stop(self) -> None:
        """Ask the target to stop (a trainer finishes its step and saves a checkpoint)."""
        self._stop.set()
        self._pause.clear()

    def pause(self) -> None:
        self._pause.set()

    def unpause(self) -> None:
        self._pause.clear()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def drain(self) -> list:
        """Messages received since the last call, oldest first (never blocks)."""
        out = []
        while True:
            try:
                out.append(self._inbox.popleft())
            except IndexError:
                return out

    def join(self, timeout: float | None = None) -> bool:
        """Wait until the child has ended and its messages are in; True if it has."""
        return self.finished.wait(timeout)

    def terminate(self) -> None:
        """Kill the child without a checkpoint (last resort)."""
        if self._proc is not None and self._proc.is_alive():
            self._proc.terminate()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    # -------------------------------------------------------------- the reader thread
    def _run(self) -> None:
        terminal = False
        try:
            proc = self._ctx.Process(
                target=_child_main,
                args=(self.target, self.kwargs, self._out, self._stop, self._pause),
                name=self.name,
            )
            with _main_hidden():
                proc.start()
            self._proc = proc
            self._started.set()
            while True:
                try:
                    msg = pickle.loads(self._out.get(timeout=0.1))
                except queue.Empty:
                    if not proc.is_alive():
                        with contextlib.suppress(queue.Empty):
                            while True:  # whatever the child managed to send before it went
                                msg = pickle.loads(self._out.get(timeout=0.2))
                                terminal = terminal or isinstance(msg, TERMINAL)
                                self._inbox.append(msg)
                        break
                    continue
                terminal = terminal or isinstance(msg, TERMINAL)
                self._inbox.append(msg)
            proc.join()
            self.exitcode = proc.exitcode
            if not terminal:
                self._inbox.append(
                    Failed(
                        f"the background process ended unexpectedly (exit code {proc.exitcode})",
                        "ProcessDied",
                        crashed=True,
                    )
                )
        except Exception as exc:  # could not even start the child
            self._inbox.append(
                Failed(
                    f"cannot start the background process: {exc}",
                    type(exc).__name__,
                    True,
                    traceback.format_exc(),
                )
            )
        finally:
            self.kwargs = {}  # drop the inputs (volumes) as soon as the child has them
            self.finished.set()
            _LIVE.discard(self)


_MAIN_LOCK = threading.Lock()


@contextlib.contextmanager
def _main_hidden():
    """Start a child without making it re-run the caller's main script.

    ``spawn`` re-imports ``__main__`` in the child unless it looks module-less; our targets live
    in this package, and a napari script without an ``if __name__ == "__main__"`` guard would
    otherwise open a second viewer (and start training again) inside the child.
    """
    main = sys.modules.get("__main__")
    if main is None:
        yield
        return
    with _MAIN_LOCK:
        saved = {k: main.__dict__[k] for k in ("__file__", "__spec__") if k in main.__dict__}
        main.__dict__.pop("__file__", None)
        main.__dict__["__spec__"] = None
        try:
            yield
        finally:
            main.__dict__.pop("__spec__", None)
            main.__dict__.update(saved)


def live_runs() -> list[ProcessRun]:
    """Runs whose child has not ended yet (for shutdown hooks and tests)."""
    return list(_LIVE)


@atexit.register
def _stop_children_at_exit() -> None:
    """At interpreter exit: ask every child to stop and wait for its checkpoint."""
    runs = live_runs()
    for run in runs:
        run.stop()
    for run in runs:
        if not run.join(SHUTDOWN_TIMEOUT_S):
            run.terminate()


# ---------------------------------------------------------------------- targets
def cpu_threads_beside_gui() -> int:
    """Torch CPU threads for a child next to a GUI: every core.

    The child runs at a lower OS priority (:data:`CHILD_NICENESS`, set by
    :func:`_share_cpu_with_gui`), so the GUI, which sleeps most of the time, still gets a core the
    moment it wakes. Measured on an idle 2-core machine (``benchmarks/results_gui.md``): every
    core but one (1 thread) trained at 65 % of the headless rate with event-loop p99 8 ms.
    """
    return max(1, os.cpu_count() or 1)


CHILD_NICENESS = 10
"""How much lower than the GUI a child's CPU priority is (POSIX ``nice``; ignored elsewhere)."""


def _share_cpu_with_gui(threads: int | None) -> None:
    """For a child beside a GUI (``threads`` given): use that many torch CPU threads, at a
    priority below the GUI's. Without ``threads`` (no GUI to make room for) change nothing."""
    if not threads:
        return
    import torch

    torch.set_num_threads(int(threads))
    if hasattr(os, "nice"):
        with contextlib.suppress(OSError):  # not permitted: keep the default priority
            os.nice(CHILD_NICENESS)


def train_target(
    ctl: ChildControl,
    config: TrainConfig,
    volumes: list[Volume],
    resume: str | Path | None = None,
    threads: int | None = None,
    dataset: SliceDataset | None = None,
    split: HoldoutSplit | None = None,
    owner: str | None = None,
    pairs: list[tuple[Volume, Volume]] | None = None,
) -> Cancelled | Done:
    """Build the dataset (unless ``dataset`` is prepared already, e.g. a cohort), train and
    emit every report; the trainer (which takes the run-folder lock here, in the child that
    writes the checkpoints) saves on stop. ``pairs`` (source, target) make the paired set of
    a ``translate`` run instead of ``volumes``; for a ``mask2image`` run they are (labels,
    image).

    ``threads`` sets torch's CPU threads in the child and lowers its priority below the
    GUI's (default: torch's own choice, normal priority);
    ``split`` is a held-out split to use instead of the trainer's own.
    """
    _share_cpu_with_gui(threads)
    cfg = config.validate()
    if dataset is None and pairs and cfg.family == "mask2image":
        dataset = build_mask_pairs(
            pairs, cfg.size, cfg.slice_axis, cfg.min_foreground,
            transforms=resume_transforms(resume), ct_window=cfg.ct_window,
            label_values=resume_label_values(resume),
        )  # fmt: skip
    elif dataset is None and pairs:
        dataset = build_pairs(
            pairs, cfg.size, cfg.slice_axis, cfg.min_foreground,
            transforms=resume_transforms(resume), ct_window=cfg.ct_window,
        )  # fmt: skip
    elif dataset is None:
        dataset = build_dataset(
            volumes, cfg.size, cfg.slice_axis, cfg.min_foreground,
            transforms=resume_transforms(resume),  # a resumed run keeps its windows
            ct_window=cfg.ct_window,
        )  # fmt: skip
    del volumes, pairs
    if ctl.stop_requested():
        return Cancelled("preparing slices")
    trainer = Trainer(cfg, dataset, resume=resume, split=split, owner=owner)
    follow = ctl.follow(trainer)
    try:
        geom = next(iter(dataset.geometry.values()))
        ctl.emit(
            Ready(
                counts=dataset.counts(),
                conditional=dataset.conditional,
                pixel_spacing=geom.pixel_spacing,
                device=str(trainer.device),
                resumed_from=trainer.step,
                split=trainer.split.summary(),
                heldout=trainer.split.has_heldout(),
                score_name=trainer.family.score_name,
                roles=dataset.roles,
            )
        )
        last = None
        for report in trainer.run():
            ctl.emit(report)
            last = report
        return Done(last.checkpoint if last is not None else None)
    finally:
        follow.set()
        trainer.close()


def evaluate_target(
    ctl: ChildControl, sampler, volumes: list[Volume], threads: int | None = None, **kwargs
) -> Cancelled | Done | Failed:
    """Run :func:`~napari_medgan.engine.metrics.evaluate_sampler` on ``sampler`` (a
    :class:`~napari_medgan.engine.Sampler`, pickled over as the caller holds it, or a
    checkpoint path to load); ``threads`` as in :func:`train_target`."""
    _share_cpu_with_gui(threads)
    from .metrics import EvaluationCancelled, evaluate_sampler
    from .sampling import Sampler

    stage = ["loading the checkpoint"]

    def progress(name: str, fraction: float) -> None:
        stage[0] = name
        ctl.emit(Progress(name, float(fraction)))

    try:
        if isinstance(sampler, (str, Path)):
            sampler = Sampler.from_checkpoint(sampler, device="cpu")
        result = evaluate_sampler(
            sampler, volumes, progress=progress, should_stop=ctl.stop_requested, **kwargs
        )
    except EvaluationCancelled:
        return Cancelled(stage[0])
    except (ValueError, MemoryError) as exc:  # DataError, SamplingError and input checks
        return Failed(str(exc), type(exc).__name__)
    return Done(result)
