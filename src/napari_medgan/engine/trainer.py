"""The alternating discriminator/generator loop, as an iterator of small reports.

Every step yields a :class:`TrainReport`; preview images are attached only every
``preview_every`` steps so a GUI thread is never flooded. :meth:`Trainer.stop` and
:meth:`Trainer.pause` are safe to call from any thread. A checkpoint is written every
``checkpoint_every`` steps, at the end, and when the run is stopped.

Before training, ``config.holdout`` of the slices are held out (``engine.holdout``); only the
rest ever reach the device. Every ``score_every`` steps, and at the end, the EMA generator is
scored on the held-out slices (``engine.heldout_score``); a new best score writes a checkpoint
and points the run's ``best`` file at it.
"""

from __future__ import annotations

import atexit
import contextlib
import copy
import logging
import math
import threading
import time
import weakref
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from . import resume as resume_check
from .ada import AdaptiveAugment
from .checkpoint import (
    Checkpoint,
    CheckpointError,
    load_checkpoint,
    mark_best,
    save_checkpoint,
)
from .compiling import compile_networks
from .config import TrainConfig
from .data import SliceDataset
from .devices import grad_scaler, precision_for, resolve_device
from .ema import ema_decay, update_ema
from .families import get_family
from .families.base import HeldoutScore
from .holdout import HoldoutError, HoldoutSplit, split_dataset
from .runlock import RunLock
from .train_report import TrainReport

#: Training loops not yet finished or closed (weakly held).
_OPEN_RUNS: weakref.WeakSet = weakref.WeakSet()


@atexit.register
def _close_open_runs() -> None:
    """Close training loops still open at interpreter exit, while every module still works.

    Left to the interpreter's final garbage collection, a suspended loop is torn down with the
    tensors it holds and torch aborts the process (``THPVariable_clear`` internal assert, exit
    status 134); closed here, it saves its unsaved steps and releases its run folder.
    """
    for loop in list(_OPEN_RUNS):
        with contextlib.suppress(Exception):
            loop.close()


# torch.OutOfMemoryError is recent; torch.cuda.OutOfMemoryError is the same class on older ones
OUT_OF_MEMORY = getattr(torch, "OutOfMemoryError", None) or torch.cuda.OutOfMemoryError
log = logging.getLogger(__name__)


class TrainingError(RuntimeError):
    """Training cannot go on (NaN losses, out of memory...); the last good checkpoint is kept."""


class Trainer:
    """Trains a model of ``config.family`` (``engine.families``) on a :class:`SliceDataset`.

    Parameters
    ----------
    config : TrainConfig
        Validated settings; ``out_dir`` receives the checkpoints.
    dataset : SliceDataset
        All slices. The trainer holds out ``config.holdout`` of them (see ``engine.holdout``);
        only ``train_set`` ever reaches the device, ``heldout_set`` is for scoring.
    resume : path, optional
        Checkpoint (or run folder) to continue from; settings (but the steps and the knobs of
        :data:`~napari_medgan.engine.resume.ALLOWED_CHANGES`), inputs and intensity transforms
        must be the checkpoint's, and the checkpoint's held-out split is re-applied to
        ``dataset``.
    split : HoldoutSplit, optional
        A split chosen by the caller (e.g. a cohort table's ``split`` column) instead of
        ``config.holdout``; ignored on resume.

    Attributes
    ----------
    family : Family
        The model family (``engine.families``) that supplies networks, update and preview.
    rng : torch.Generator
        The run's one random-number stream on the device (batches, latents, augmentation);
        saved with every checkpoint, so resume is exact.
    split : HoldoutSplit
        The held-out split (stored in every checkpoint).
    train_set, heldout_set : SliceDataset, SliceDataset or None
        The slices trained on, and the held-out ones (None when nothing is held out).
    best_step, best_score : int or None, float or None
        The best held-out score so far and its step; its checkpoint is the run's ``best``.
    owner : str, optional
        Who trains, shown to a second trainer refused on the same run folder (default: this
        process's command line).

    Raises
    ------
    RunBusyError
        When another trainer (any process, or this one) holds ``config.out_dir``.
    """

    def __init__(
        self,
        config: TrainConfig,
        dataset: SliceDataset,
        resume: str | Path | None = None,
        split: HoldoutSplit | None = None,
        owner: str | None = None,
    ) -> None:
        # one trainer per run folder, taken before any checkpoint is read or written
        self._lock = RunLock(config.validate().out_dir, owner).acquire()
        try:
            self._setup(config, dataset, resume, split)
        except BaseException:
            self._lock.release()
            raise

    def _setup(
        self,
        config: TrainConfig,
        dataset: SliceDataset,
        resume: str | Path | None,
        split: HoldoutSplit | None,
    ) -> None:
        self.config = config.validate()
        self.family = get_family(config.family)
        self.family.check_dataset(dataset)
        self._inputs = resume_check.inputs_fingerprint(dataset)
        self.dataset = dataset
        if len(dataset) == 0:
            raise TrainingError("the training set is empty")
        self.device = resolve_device(config.device)
        self.out_dir = Path(config.out_dir)
        self._stop = threading.Event()
        self._running = threading.Event()
        self._paused_s = 0.0
        self._running.set()
        # one random-number stream on the training device: batches, latents and augmentation
        self.rng = torch.Generator(device=self.device).manual_seed(config.seed)
        with torch.random.fork_rng(devices=[]):  # weights from the run's seed; global RNG kept
            torch.manual_seed(config.seed)
            self._build_networks(dataset)
        self.step = 0
        self.best_step: int | None = None
        self.best_score: float | None = None
        if resume is not None:
            ckpt = load_checkpoint(resume)
            self._load(ckpt)  # optimiser state follows its parameters' device
            self.train_set, self.heldout_set, self.split = _split_from_checkpoint(ckpt, dataset)
            held = ckpt.extra.get("heldout") or {}
            self.best_step, self.best_score = held.get("best_step"), held.get("best_score")
        elif split is not None:  # given by the caller (a cohort table's split column)
            self.train_set, self.heldout_set = split.apply(dataset)
            self.split = split
        else:
            self.train_set, self.heldout_set, self.split = split_dataset(
                dataset, config.holdout, config.seed, slabs=config.holdout_slabs
            )
        # only training slices ever reach the tensors batches are drawn from
        self.images = self.train_set.images.to(self.device)
        self.labels = self.train_set.labels.to(self.device)
        self.family.prepare(self)
        self.last_checkpoint: Path | None = None
        self._saved_step = -1
        self.scorer: HeldoutScore | None = None
        if config.score_every and self.heldout_set is not None:
            self.scorer = self.family.scorer(self)
        self._scored_step = -1
        self._last_score: float | None = None

    # ------------------------------------------------------------------ control (any thread)
    def stop(self) -> None:
        """Finish the current step, save a checkpoint and end the run."""
        self._stop.set()
        self._running.set()

    def pause(self) -> None:
        """Hold after the current step until :meth:`unpause` or :meth:`stop`."""
        self._running.clear()

    def unpause(self) -> None:
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    # ------------------------------------------------------------------ the loop
    def run(self) -> Iterator[TrainReport]:
        """Train until ``config.steps`` or :meth:`stop`; yield a report per step.

        A loop left open at interpreter exit is closed first (see :func:`_close_open_runs`):
        its unsaved steps are saved and the run folder is given up.
        """
        loop = self._loop()
        _OPEN_RUNS.add(loop)
        return loop

    def _loop(self) -> Iterator[TrainReport]:
        cfg = self.config
        total = cfg.steps
        start_step, t0 = self.step, time.perf_counter()
        self._paused_s = 0.0
        budget = cfg.minutes * 60.0
        stopped = False
        self._lock.acquire()  # no-op unless a previous run() gave the folder up
        self.out_dir.mkdir(parents=True, exist_ok=True)
        log.info(
            "training %s from step %d to %d on %s in %s",
            self.family.title,
            self.step, total, self.device, self.out_dir,
        )
        try:
            while self.step < total:
                if self._stop.is_set():
                    stopped = True
                    break
                if not self._running.is_set():
                    paused = dict.fromkeys(self.family.loss_names, 0.0)
                    held = time.perf_counter()
                    yield self._report(paused, t0, start_step, status="paused")
                    while not self._running.wait(0.1):
                        pass
                    self._paused_s += time.perf_counter() - held
                    continue
                if budget and self._train_s(t0) >= budget:
                    log.info("time budget of %g minutes reached at step %d", cfg.minutes, self.step)
                    break
                losses = self._train_step()
                self.step += 1
                if not all(math.isfinite(v) for v in losses.values()):
                    raise TrainingError(
                        f"losses became NaN/inf at step {self.step}; lower the learning rates "
                        "or enable R1; the last good checkpoint is kept"
                    )
                report = self._report(losses, t0, start_step)
                if cfg.preview_every and self.step % cfg.preview_every == 0:
                    report.preview, report.preview_names = self.preview()
                best = bool(cfg.score_every) and self.step % cfg.score_every == 0
                best = best and self._score(report)
                if best or (cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0):
                    report.checkpoint = str(self.save(best=best))
                yield report
            stopped = stopped or self._stop.is_set()
            report = self._report(
                self._last_losses, t0, start_step, status="stopped" if stopped else "finished"
            )
            report.preview, report.preview_names = self.preview()
            # a finished run's final weights get their chance to be the best; a stopped run
            # skips the score: someone is waiting for the stop, and the checkpoint is complete
            best = not stopped and self._score(report)
            report.checkpoint = str(self.save(best=best))
            yield report
        except GeneratorExit:
            # the consumer dropped the loop (e.g. a worker was quit): keep the work done
            if self.step != self._saved_step:
                self.save()
            raise
        except OUT_OF_MEMORY:
            raise TrainingError(
                f"out of memory on {self.device} at step {self.step}; lower the batch size or "
                "the resolution; the last checkpoint is kept"
            ) from None
        finally:
            self._lock.release()  # the run is over: another trainer may take the folder

    def _build_networks(self, dataset: SliceDataset) -> None:
        """Networks, EMA copy, optimisers, loss scaler and augmentation state."""
        cfg, dev = self.config, self.device
        self.n_classes = len(dataset.class_names) if dataset.conditional else 1
        self._last_losses = dict.fromkeys(self.family.loss_names, float("nan"))
        self.G, self.D = self.family.networks(cfg, dataset)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        layout = torch.channels_last if cfg.channels_last else torch.contiguous_format
        for net in (self.G, self.D, self.G_ema):
            net.to(dev, memory_format=layout)
        if cfg.compile:  # after the EMA copy: sampling and previews stay eager
            compile_networks(self.G, self.D)
        betas = (float(cfg.beta1), float(cfg.beta2))  # torch refuses an int beside a float
        fused = {"fused": True} if dev.type == "cuda" else {}  # one kernel per step on GPU
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=cfg.lr_g, betas=betas, **fused)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=cfg.lr_d, betas=betas, **fused)
        self.precision = precision_for(dev) if cfg.precision == "auto" else cfg.precision
        self.scaler = grad_scaler(dev, self.precision)
        self.ada = AdaptiveAugment(
            cfg.ada_target, cfg.augment_p, batch_size=cfg.batch_size, device=dev
        )
        self._ema_calibrated = -1

    #: Steps between host reads of the losses on a GPU (each read waits for the device).
    sync_every_gpu = 10

    def _train_step(self) -> dict[str, float]:
        losses = self.family.step(self)
        self._update_ema()
        if self.device.type == "cpu" or (self.step + 1) % self.sync_every_gpu == 0:
            self._last_losses = dict(zip(self.family.loss_names, losses.tolist()))
        return self._last_losses

    def _update_ema(self) -> None:
        update_ema(self.G_ema, self.G, ema_decay(self.config.ema_decay, self.step))

    def sampling_generator(self) -> torch.nn.Module:
        """``G_ema`` made ready to sample by its family (eval mode), once per step."""
        if self._ema_calibrated != self.step:
            self.family.calibrate(self)
            self.G_ema.eval()
            self._ema_calibrated = self.step
        return self.G_ema

    def preview(self) -> tuple[np.ndarray, list[str]]:
        """The family's preview: ``(rows, columns, size, size)`` in the model range, row names."""
        return self.family.preview(self)

    def _score(self, report: TrainReport) -> bool:
        """Score the EMA generator on the held-out slices; True when it is the best so far."""
        if self.scorer is None:
            return False
        if self._scored_step != self.step:
            self._last_score = self.scorer.score(self.sampling_generator(), self.device)
            self._scored_step = self.step
        report.heldout_score, report.heldout_baseline = self._last_score, self.scorer.baseline
        best = math.isfinite(self._last_score) and (
            self.best_score is None or self._last_score < self.best_score
        )
        if best:
            self.best_score, self.best_step = self._last_score, self.step
        report.best_step = self.best_step
        return best

    def _train_s(self, t0: float) -> float:
        """Seconds of this run's training so far, pauses excluded."""
        return time.perf_counter() - t0 - self._paused_s

    def _report(self, losses, t0, start_step, status="running"):
        elapsed = time.perf_counter() - t0
        train_s = self._train_s(t0)
        done = self.step - start_step
        rate = done / train_s if train_s > 0 else 0.0
        eta = (self.config.steps - self.step) / rate if rate > 0 else float("inf")
        budget = self.config.minutes * 60.0 or None
        if budget:
            eta = min(eta, max(0.0, budget - train_s))
        return TrainReport(
            step=self.step,
            total_steps=self.config.steps,
            losses=dict(losses),
            images_per_s=rate * self.config.batch_size,
            elapsed_s=elapsed,
            eta_s=eta,
            device=str(self.device),
            status=status,
            best_step=self.best_step,
            train_s=train_s,
            time_budget_s=budget,
        )

    # ------------------------------------------------------------------ checkpoints
    def save(self, best: bool = False) -> Path:
        """Write a checkpoint of the current state; returns its folder.

        With ``best=True`` the run's ``best`` pointer names it (it is then never pruned).
        """
        if self.last_checkpoint is not None and self._saved_step == self.step:
            if best:
                mark_best(self.out_dir, self.last_checkpoint)
            return self.last_checkpoint
        self._lock.acquire()  # never write into a folder another trainer holds
        self.sampling_generator()  # G_ema's BatchNorm statistics fit its own weights
        meta = self.dataset.meta()
        meta["split"] = self.split.to_dict()
        ckpt = Checkpoint(
            step=self.step,
            config=self.config.to_dict(),
            meta=meta,
            models={
                "G": self.G.state_dict(),
                "G_ema": self.G_ema.state_dict(),
                "D": self.D.state_dict(),
            },
            optimizers={"G": self.opt_g.state_dict(), "D": self.opt_d.state_dict()},
            rng_state=self.rng.get_state(),
            extra={
                "heldout": self._heldout_record(),
                "inputs": self._inputs,
                "ada": self.ada.state_dict(),
            },
        )
        self.last_checkpoint = save_checkpoint(
            self.out_dir, ckpt, keep=self.config.keep_checkpoints, best=best
        )
        self._saved_step = self.step
        log.info("checkpoint at step %d: %s", self.step, self.last_checkpoint)
        return self.last_checkpoint

    def _heldout_record(self) -> dict:
        """Held-out scoring state stored with a checkpoint (score at this step, best so far)."""
        return {
            "score": self._last_score if self._scored_step == self.step else None,
            "baseline": None if self.scorer is None else self.scorer.baseline,
            "best_step": self.best_step,
            "best_score": self.best_score,
        }

    def _load(self, ckpt: Checkpoint) -> None:
        resume_check.check_config(ckpt.config, self.config)
        resume_check.check_inputs(ckpt.meta, ckpt.extra, self.dataset, self._inputs)
        try:
            self.G.load_state_dict(ckpt.models["G"])
            self.G_ema.load_state_dict(ckpt.models["G_ema"])
            self.D.load_state_dict(ckpt.models["D"])
            if ckpt.optimizers:
                self.opt_g.load_state_dict(ckpt.optimizers["G"])
                self.opt_d.load_state_dict(ckpt.optimizers["D"])
        except (KeyError, RuntimeError) as exc:
            raise CheckpointError(f"cannot resume from {ckpt.path}: {exc}") from None
        if ckpt.rng_state is not None:
            self.rng.set_state(ckpt.rng_state)
        if "ada" in ckpt.extra:
            self.ada.load_state_dict(ckpt.extra["ada"])
        self.step = ckpt.step
        resume_check.check_steps(self.step, self.config)
        log.info("resuming %s at step %d", ckpt.path, self.step)

    def close(self) -> None:
        """Give the run folder up, drop tensors and free cached accelerator memory."""
        self._lock.release()
        for name in ("G", "D", "G_ema", "opt_g", "opt_d", "images", "labels", "heldout_set"):
            if hasattr(self, name):
                delattr(self, name)
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        elif self.device.type == "mps":
            with contextlib.suppress(Exception):
                torch.mps.empty_cache()


def _split_from_checkpoint(
    ckpt: Checkpoint, dataset: SliceDataset
) -> tuple[SliceDataset, SliceDataset | None, HoldoutSplit]:
    """Re-apply the held-out split a checkpoint was trained with to the rebuilt ``dataset``."""
    try:
        split = HoldoutSplit.from_meta(ckpt.meta)  # mode "none" for checkpoints made before
        train, heldout = split.apply(dataset)
    except HoldoutError as exc:
        raise CheckpointError(
            f"cannot resume from {ckpt.path}: {exc}; give the same scans, conditions and "
            "slice settings as the run was started with"
        ) from None
    return train, heldout, split
