"""One scan's part of the streamed preparation: load, sample or prepare, release (per process).

These functions run in the preparing process or in worker processes of
:mod:`napari_medgan.engine.prepare`; what they return (:class:`ScanResult`) is small.
"""

from __future__ import annotations

import ctypes
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .data import IntensityTransform, SliceGeometry, Volume, normalise_and_select, resize_pad

CHUNK_SLICES = 8  # slices normalised and resized together (8 CT slices: 8 MB of float32)
SAMPLE_PER_SCAN = 2_000_000  # as build_dataset's IntensityTransform.fit
SAMPLE_PER_CONDITION = 8_000_000


class PreparationCancelled(Exception):
    """The user cancelled the preparation; nothing was cached."""


@dataclass
class ScanResult:
    """One prepared scan (what crosses the process boundary: small)."""

    name: str
    images: np.ndarray | None = None
    slice_index: np.ndarray | None = None
    geometry: SliceGeometry | None = None
    ndim: int = 0
    error: str | None = None
    sample: np.ndarray | None = None
    modality: str = ""
    window: tuple[float, float] | None = None
    transform: IntensityTransform | None = None


@dataclass
class _Sampled:
    """Stands in for a Volume in ``IntensityTransform.fit``: only the subsample is kept."""

    data: np.ndarray
    modality: str
    name: str
    window: tuple[float, float] | None = None


def _init_worker() -> None:
    torch.set_num_threads(1)


def _load(scan: Any) -> Volume:
    return scan.load()


def _fixed_window(
    modality: str, window, name: str, ct_window: tuple[float, float] | None = None
) -> IntensityTransform | None:
    """The scan's own / CT window (``ct_window`` or the default), else None (percentiles)."""
    if window is None and modality.upper() != "CT":
        return None
    sampled = _Sampled(np.zeros(1, np.float32), modality, name, window)
    return IntensityTransform.fit([sampled], ct_window)


def _first_scan(
    scan: Any,
    size: int,
    slice_axis: int,
    min_foreground: float,
    ct_window: tuple[float, float] | None = None,
    cancel=None,
) -> ScanResult:
    """Load a condition's first scan: prepare it under a fixed window, else subsample it."""
    try:
        v = _load(scan)
    except (ValueError, OSError, MemoryError) as exc:
        return ScanResult(scan.name, error=_reason(exc))
    transform = _fixed_window(v.modality, v.window, v.name, ct_window)
    if transform is None:
        result = _sample_volume(v, SAMPLE_PER_SCAN)
    else:
        result = _prepare_volume(v, transform, size, slice_axis, min_foreground, cancel)
        result.transform = transform
    del v
    _release_memory()
    return result


def _sample_scan(scan: Any, budget: int = SAMPLE_PER_SCAN, cancel=None) -> ScanResult:
    """Modality, window and a strided intensity subsample of one scan (first pass)."""
    try:
        v = _load(scan)
    except (ValueError, OSError, MemoryError) as exc:
        return ScanResult(scan.name, error=_reason(exc))
    result = _sample_volume(v, budget)
    del v
    _release_memory()
    return result


def _sample_volume(v: Volume, budget: int) -> ScanResult:
    # the stride of IntensityTransform.fit (2 M values per scan), coarser for large conditions
    step = max(1, v.data.size // min(budget, SAMPLE_PER_SCAN))
    return ScanResult(
        v.name,
        ndim=v.data.ndim,
        sample=np.array(v.data.reshape(-1)[::step]),
        modality=v.modality,
        window=v.window,
    )


def _prepare_scan(
    scan: Any,
    transform: IntensityTransform,
    size: int,
    slice_axis: int,
    min_foreground: float,
    cancel: threading.Event | None = None,
) -> ScanResult:
    """Load one scan and prepare its slices."""
    try:
        v = _load(scan)
    except (ValueError, OSError, MemoryError) as exc:
        return ScanResult(scan.name, error=_reason(exc))
    result = _prepare_volume(v, transform, size, slice_axis, min_foreground, cancel)
    del v
    _release_memory()
    return result


def _prepare_volume(
    v: Volume,
    transform: IntensityTransform,
    size: int,
    slice_axis: int,
    min_foreground: float,
    cancel: threading.Event | None = None,
) -> ScanResult:
    """Normalise, select and resize slices in chunks (never the whole volume as float)."""
    images, index, geom = [], [], None
    for start, chunk, mask, in_plane, slice_spacing in _chunks(v, slice_axis):
        if cancel is not None and cancel.is_set():
            raise PreparationCancelled("preparation cancelled")
        norm, keep = normalise_and_select(chunk, mask, transform, min_foreground)
        if not keep.any():
            continue
        resized, g = resize_pad(norm[keep], in_plane, size, slice_spacing)
        geom = geom or g
        images.append(resized.numpy())
        index.append(start + np.flatnonzero(keep))
    if geom is not None:
        geom.slice_axis = slice_axis if v.data.ndim == 3 else None
        geom.origin = tuple(v.origin)
    return ScanResult(
        v.name,
        images=np.concatenate(images) if images else None,
        slice_index=np.concatenate(index).astype(np.int64) if index else None,
        geometry=geom,
        ndim=v.data.ndim,
        modality=v.modality,
    )


def _chunks(v: Volume, axis: int) -> Iterable[tuple]:
    """``(first index, float32 slices, mask slices, in-plane spacing, slice spacing)`` chunks."""
    if v.data.ndim == 2:
        mask = None if v.mask is None else np.asarray(v.mask)[None]
        yield 0, np.asarray(v.data, dtype=np.float32)[None], mask, tuple(v.spacing), 1.0
        return
    in_plane = tuple(s for i, s in enumerate(v.spacing) if i != axis)
    n = v.data.shape[axis]
    for start in range(0, n, CHUNK_SLICES):
        sel = slice(start, min(n, start + CHUNK_SLICES))
        chunk = np.moveaxis(np.take(v.data, np.arange(sel.start, sel.stop), axis=axis), axis, 0)
        mask = None
        if v.mask is not None:
            mask = np.moveaxis(np.take(v.mask, np.arange(sel.start, sel.stop), axis=axis), axis, 0)
        yield start, chunk.astype(np.float32), mask, in_plane, float(v.spacing[axis])


def _release_memory() -> None:
    """Give freed heap memory back to the system between scans (glibc only; else nothing).

    After the first large volume is freed, glibc serves the next chunk-sized arrays from its
    heap and keeps the freed pages: about +70 MiB of RSS per preparation on a CT cohort.
    """
    global _TRIM
    if _TRIM is None:
        try:
            _TRIM = ctypes.CDLL("libc.so.6").malloc_trim if sys.platform == "linux" else False
        except (OSError, AttributeError):
            _TRIM = False
    if _TRIM:
        _TRIM(0)


_TRIM = None


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if text else type(exc).__name__
