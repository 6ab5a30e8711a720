"""Voxel buffers without whole-volume temporaries: chunked reads, in-place flips, block scans.

A CT of 512x512x1500 int16 is 750 MiB; every full copy a reader makes (a decompressed byte
string, a reoriented copy, a float64 rescale) costs that again. These helpers let the readers
fill one preallocated array and reorient it in place, so that reading a scan needs about one
array of its stored type (see ``benchmarks/bench_memory.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

CHUNK_BYTES = 1 << 22  # 4 MiB per read or per block


def read_into(fileobj: Any, out: np.ndarray, where: str = "") -> np.ndarray:
    """Fill the C-contiguous ``out`` from ``fileobj``'s current position, 4 MiB at a time.

    Raises
    ------
    OSError
        When the file ends before ``out`` is full (a truncated file).
    """
    view = memoryview(out.reshape(-1).view(np.uint8))
    pos, total = 0, view.nbytes
    while pos < total:
        n = fileobj.readinto(view[pos : min(total, pos + CHUNK_BYTES)])
        if not n:
            raise OSError(f"{where or 'file'}: expected {total} bytes of voxels, got {pos}")
        pos += n
    return out


def native(a: np.ndarray) -> np.ndarray:
    """``a`` in native byte order, swapped in place when it is not (``a`` must be writable)."""
    if a.dtype.isnative:
        return a
    a.byteswap(inplace=True)
    return a.view(a.dtype.newbyteorder("="))


def blocks(a: np.ndarray, nbytes: int = CHUNK_BYTES) -> Iterator[np.ndarray]:
    """Consecutive 1D pieces of ``a`` in C order (views where ``a`` is C-contiguous)."""
    if a.size == 0:
        return
    if a.ndim == 0:
        yield a.reshape(1)
        return
    n = max(1, nbytes // max(1, a.itemsize))
    if a.flags.c_contiguous:
        flat = a.reshape(-1)
        for i in range(0, flat.size, n):
            yield flat[i : i + n]
        return
    rows = max(1, n // max(1, a[0].size))
    for i in range(0, a.shape[0], rows):
        yield a[i : i + rows].reshape(-1)


def c_contiguous(view: np.ndarray, owned: np.ndarray | None = None) -> np.ndarray:
    """``view`` as a C-contiguous array, without a copy where it is ``owned`` flipped.

    Parameters
    ----------
    view : numpy.ndarray
        An array to make C-contiguous (e.g. a reoriented view of ``owned``).
    owned : numpy.ndarray, optional
        A C-contiguous buffer that nothing else refers to. When ``view`` is ``owned`` with
        some axes reversed (the usual RAS -> LPS reorientation), ``owned`` is flipped in
        place and returned; otherwise ``view`` is copied as before.
    """
    if view.flags.c_contiguous:
        return view
    if owned is not None and owned.shape != view.shape and _squeezed(owned) == _squeezed(view):
        owned = owned.reshape(view.shape)  # only length-1 axes differ: still a view
    axes = _flipped_axes(view, owned)
    if axes is None:
        return np.ascontiguousarray(view)
    return flip_in_place(owned, axes)


def _squeezed(a: np.ndarray) -> tuple[int, ...]:
    return tuple(n for n in a.shape if n != 1)


def _flipped_axes(view: np.ndarray, owned: np.ndarray | None) -> tuple[int, ...] | None:
    """The axes along which ``view`` reverses ``owned`` (None: not such a view)."""
    if owned is None or not owned.flags.c_contiguous or not owned.flags.writeable:
        return None
    if view.shape != owned.shape or view.dtype != owned.dtype:
        return None
    axes, offset = [], 0
    for ax, (n, sv, so) in enumerate(zip(view.shape, view.strides, owned.strides)):
        if n == 1:
            continue
        if sv == -so:
            axes.append(ax)
            offset += (n - 1) * so
        elif sv != so:
            return None
    start = view.__array_interface__["data"][0]
    if start != owned.__array_interface__["data"][0] + offset:
        return None
    return tuple(axes)


def flip_in_place(a: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """Reverse the C-contiguous ``a`` along ``axes`` in place; one sub-array of scratch."""
    if not axes:
        return a
    inner = tuple(ax - 1 for ax in axes if ax > 0)

    def flipped(x: np.ndarray) -> np.ndarray:
        return np.flip(x, inner).copy() if inner else x.copy()

    n = a.shape[0]
    if 0 in axes:
        for i in range(n // 2):
            j = n - 1 - i
            tmp = flipped(a[i])
            a[i] = np.flip(a[j], inner) if inner else a[j]  # i != j: no overlap
            a[j] = tmp
        if n % 2 and inner:
            a[n // 2] = flipped(a[n // 2])
    else:
        for i in range(n):
            a[i] = flipped(a[i])
    return a


def value_range(a: np.ndarray) -> tuple[float, float]:
    """(min, max) of ``a`` block by block (no whole-array temporaries)."""
    lo, hi = np.inf, -np.inf
    for b in blocks(a):
        lo, hi = min(lo, float(b.min())), max(hi, float(b.max()))
    return lo, hi


def empty_in_order(
    shape: tuple[int, ...], dtype: np.dtype, reorient: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """An empty array of ``shape`` laid out so that ``reorient(array)`` is C-contiguous.

    ``reorient`` may only reverse and permute axes (as ``canonicalise`` does), decided by
    geometry, not by the lengths of the axes. Filling the returned view then writes the
    reoriented array directly: no copy afterwards, whatever the orientation. Arrays with an
    axis of length 1 get a plain C-ordered buffer.
    """
    if min(shape) < 2:
        return np.empty(shape, dtype)
    probe = np.empty((2,) * len(shape), np.uint8)  # distinct strides name the axes
    moved = reorient(probe)
    source = [probe.strides.index(abs(s)) for s in moved.strides]
    flips = tuple(j for j, s in enumerate(moved.strides) if s < 0)
    final = np.empty(tuple(shape[i] for i in source), dtype)
    view = np.flip(final, flips) if flips else final
    return view.transpose(np.argsort(source))
