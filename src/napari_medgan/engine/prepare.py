"""Streamed preparation: a cohort of scans -> one :class:`SliceDataset`, one volume at a time.

:func:`build_dataset` takes every volume in memory at once. Here each scan is loaded, sliced,
normalised and resized *by itself*, in chunks of slices, and dropped before the next one is read,
so peak memory is about the reader's footprint of the largest scan plus the prepared slices,
whatever the number of scans. The readers fill one array of the stored type and reorient it in
place (a DICOM CT is float32: twice its int16 size), so a scan costs ~1.4-2.4x its int16 size
in all (``benchmarks/results_memory.md``). The normalisation (:class:`IntensityTransform`) and
resizing (``resize_pad``) are those of :mod:`.data`, so the result equals ``build_dataset`` on
the same volumes.

MR-like conditions (robust percentile window) need the intensities of all their scans before
the first slice can be normalised. The choice here is an exact **first pass**: every scan of the
condition is read once to take the same strided subsample ``build_dataset`` takes (at most 2 M
values per scan; with more than 4 scans the per-scan budget shrinks so that a condition keeps at
most 8 M values, 32 MB), then the second pass prepares the slices. CT (fixed HU window) needs no
first pass. The prepared set is cached (:mod:`.slicecache`), so later runs read nothing.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

from .data import UNCONDITIONAL, DataError, IntensityTransform, SliceDataset, Volume
from .prepare_scan import (
    SAMPLE_PER_CONDITION,
    SAMPLE_PER_SCAN,
    PreparationCancelled,
    ScanResult,
    _first_scan,
    _init_worker,
    _prepare_scan,
    _sample_scan,
    _Sampled,
)

__all__ = ["PreparationCancelled", "Prepared", "ScanSource", "VolumeSource", "prepare_streamed"]

Progress = Callable[[int, int, str], None]  # (done, total, message)


class ScanSource(Protocol):
    """What the preparation needs of a scan (see :class:`napari_medgan.io.cohort.CohortScan`)."""

    name: str
    condition: str | None
    split: str | None

    @property
    def group(self) -> str: ...

    def load(self) -> Volume: ...

    def cache_token(self) -> dict[str, Any]: ...


@dataclass
class VolumeSource:
    """A volume already in memory, as a :class:`ScanSource` (for layers and tests)."""

    volume: Volume
    split: str | None = None
    patient: str | None = None

    @property
    def name(self) -> str:
        return self.volume.name

    @property
    def condition(self) -> str | None:
        return self.volume.condition

    @property
    def group(self) -> str:
        return self.patient or self.volume.group or self.volume.name

    def load(self) -> Volume:
        return self.volume

    def cache_token(self) -> dict[str, Any]:
        raise DataError(f"{self.name}: an in-memory volume cannot be cached (no file behind it)")


@dataclass
class Prepared:
    """A prepared slice set, its provenance and what was skipped.

    ``scan_of_slice[i]`` indexes ``scans`` (names); ``slice_index[i]`` is the slice's index
    along the slice axis of its scan; ``groups``/``splits`` are per scan.
    """

    dataset: SliceDataset
    scans: list[str]
    scan_of_slice: np.ndarray
    slice_index: np.ndarray
    groups: list[str]
    splits: list[str | None]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    from_cache: bool = False
    cache_path: str | None = None

    def summary(self) -> str:
        """One line: slices, scans, skipped scans (named)."""
        counts = ", ".join(f"{k}: {v}" for k, v in self.dataset.counts().items())
        text = f"{len(self.dataset)} slices ({counts}) from {len(self.scans)} scans"
        if self.from_cache:
            text += f" (cached in {self.cache_path})"
        if self.skipped:
            text += f"; skipped {len(self.skipped)}: " + "; ".join(
                f"{n} ({why})" for n, why in self.skipped
            )
        return text


def prepare_streamed(
    scans: Sequence[ScanSource],
    size: int,
    slice_axis: int = 0,
    min_foreground: float = 0.05,
    workers: int = 1,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    ct_window: tuple[float, float] | None = None,
) -> Prepared:
    """Prepare scans one at a time; unreadable scans are skipped and reported by name.

    Parameters
    ----------
    scans : sequence of ScanSource
        All with a condition or all without.
    size, slice_axis, min_foreground
        As for :func:`~napari_medgan.engine.data.build_dataset`.
    workers : int
        Processes reading and resizing in parallel (1: in this process). Each worker holds one
        scan at a time, so peak memory grows with ``workers``.
    progress : callable, optional
        Called with ``(done, total, message)`` after each scan and pass.
    cancel : threading.Event, optional
        When set, preparation stops at the next slice chunk with :class:`PreparationCancelled`.
    ct_window : tuple of float, optional
        HU window of CT scans that carry no window of their own (default
        :data:`~napari_medgan.engine.data.CT_WINDOW`), as ``TrainConfig.ct_window``.

    Raises
    ------
    DataError
        No scans, mixed conditional/unconditional or 2D/3D scans, or a condition without usable
        slices.
    PreparationCancelled
        When ``cancel`` was set.
    """
    if not scans:
        raise DataError("no scans given")
    named = [s.condition is not None for s in scans]
    if any(named) and not all(named):
        missing = ", ".join(s.name for s in scans if s.condition is None)
        raise DataError("give every scan a condition name or none at all; missing for: " + missing)
    conditional = all(named)
    by_class: dict[str, list[int]] = {}
    for i, s in enumerate(scans):
        name = str(s.condition).strip() if conditional else UNCONDITIONAL
        if not name:
            raise DataError(f"{s.name}: empty condition name")
        by_class.setdefault(name, []).append(i)

    work = _Work(scans, size, slice_axis, min_foreground, workers, progress, cancel, ct_window)
    try:
        results, transforms = work.run(by_class)
    finally:
        work.close()
    return _assemble(scans, by_class, results, transforms, conditional, min_foreground)


class _Work:
    """Runs the passes over the scans, in this process or in a pool of processes."""

    def __init__(
        self, scans, size, slice_axis, min_foreground, workers, progress, cancel, ct_window=None
    ):
        self.scans = scans
        self.args = (size, slice_axis, min_foreground)
        self.ct_window = ct_window
        self.progress = progress
        self.cancel = cancel
        self.pool = None
        if workers > 1 and len(scans) > 1:
            ctx = multiprocessing.get_context("spawn")  # torch is not fork-safe once threaded
            self.pool = ProcessPoolExecutor(
                max_workers=min(workers, len(scans)), mp_context=ctx, initializer=_init_worker
            )
            self.workers = min(workers, len(scans))
        else:
            self.workers = 1
        self.done = 0
        self.total = 0

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def _check_cancel(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise PreparationCancelled("preparation cancelled")

    def _map(self, fn, indices: list[int], extra: tuple) -> Iterator[ScanResult]:
        """Results in order; at most ``workers + 1`` scans in flight (bounded memory)."""
        if self.pool is None:
            for i in indices:
                self._check_cancel()
                yield fn(self.scans[i], *extra, self.cancel)
            return
        pending: list[Future] = []
        it = iter(indices)
        for i in it:
            pending.append(self.pool.submit(fn, self.scans[i], *extra, None))
            if len(pending) > self.workers:
                break
        while pending:
            self._check_cancel()
            try:
                result = pending.pop(0).result()
            except BrokenProcessPool:
                raise DataError(
                    "a preparation worker process died (out of memory?); use fewer workers"
                ) from None
            nxt = next(it, None)
            if nxt is not None:
                pending.append(self.pool.submit(fn, self.scans[nxt], *extra, None))
            yield result

    def _tick(self, message: str) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, self.total, message)

    def run(self, by_class: dict[str, list[int]]):
        results: dict[int, ScanResult] = {}
        transforms: dict[str, IntensityTransform] = {}
        # the window of a condition comes from its first readable scan's modality / window
        self.total = len(self.scans)
        for name, indices in by_class.items():
            transform = None
            remaining = list(indices)
            while transform is None and remaining:
                i = remaining.pop(0)
                probe = next(self._map(_first_scan, [i], (*self.args, self.ct_window)))
                if probe.error is not None:
                    results[i] = probe
                    self._tick(f"skipped {probe.name}")
                    continue
                if probe.transform is not None:  # fixed window: already prepared
                    transform = probe.transform
                    results[i] = probe
                    self._tick(f"prepared {probe.name}")
                else:  # percentile window: a first pass over the condition, then all again
                    self.total += len(remaining) + 1
                    transform = self._percentile_pass(name, remaining, probe)
                    remaining.insert(0, i)
            if transform is None:
                continue
            transforms[name] = transform
            for i, r in zip(
                remaining, self._map(_prepare_scan, remaining, (transform, *self.args))
            ):
                results[i] = r
                self._tick(f"skipped {r.name}" if r.error else f"prepared {r.name}")
        return results, transforms

    def _percentile_pass(self, name: str, others: list[int], first: ScanResult):
        budget = max(1, SAMPLE_PER_CONDITION // (len(others) + 1))
        samples = []
        it = self._map(_sample_scan, others, (budget,))
        for r in [first, *it]:
            self._tick(f"sampled {r.name}")
            if r.error is None and r.sample is not None:
                s = r.sample
                if budget < SAMPLE_PER_SCAN and s.size > budget:  # more than 4 scans
                    s = s[:: int(np.ceil(s.size / budget))]
                samples.append(_Sampled(s, first.modality, r.name))
        if not samples:
            return None
        return IntensityTransform.fit(samples, self.ct_window)


def _assemble(scans, by_class, results, transforms, conditional, min_foreground) -> Prepared:
    dims = {r.ndim for r in results.values() if r.error is None and r.ndim}
    if len(dims) > 1:
        two = next(r.name for r in results.values() if r.ndim == 2)
        three = next(r.name for r in results.values() if r.ndim == 3)
        raise DataError(
            f"mixed 2D and 3D scans (e.g. {two} is 2D, {three} is 3D); train on one kind at a time"
        )
    skipped = [(r.name, r.error) for r in results.values() if r.error is not None]
    order, labels, class_names, geometry = [], [], [], {}
    for name, indices in by_class.items():
        ok = [i for i in indices if i in results and not results[i].error]
        kept = [i for i in ok if results[i].images is not None]
        if kept:
            geometry[name] = results[kept[0]].geometry
            labels += [len(class_names)] * len(kept)
            class_names.append(name)
            order += kept
        elif ok:
            raise DataError(
                f"condition {name!r}: every slice is near-empty "
                f"(less than {min_foreground:.0%} foreground); check the image or the mask"
            )
        else:
            raise DataError(f"condition {name!r}: none of its scans could be read")
    # one preallocated tensor, each scan's slices moved in and dropped: 1x the prepared set
    counts = [len(results[i].images) for i in order]
    size = results[order[0]].images.shape[-1]
    images = torch.empty((sum(counts), 1, size, size), dtype=torch.float32)
    pos = 0
    for i, n in zip(order, counts):
        images[pos : pos + n] = torch.from_numpy(results[i].images)
        results[i].images = None
        pos += n
    scan_of = np.repeat(np.arange(len(order)), counts)
    index = np.concatenate([results[i].slice_index for i in order])
    names = [scans[i].name for i in order]
    groups = [scans[i].group for i in order]
    dataset = SliceDataset(
        images=images,
        labels=torch.as_tensor(np.repeat(labels, counts), dtype=torch.int64),
        class_names=class_names,
        transforms={k: transforms[k] for k in class_names},
        geometry=geometry,
        conditional=conditional,
        sources=[names[k] for k in scan_of],
        slice_index=torch.as_tensor(index, dtype=torch.int64),
        groups=[groups[k] for k in scan_of],
    )
    return Prepared(
        dataset=dataset,
        scans=names,
        scan_of_slice=scan_of,
        slice_index=index,
        groups=groups,
        splits=[scans[i].split for i in order],
        skipped=skipped,
    )
