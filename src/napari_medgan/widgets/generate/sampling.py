"""The Generate widget's thread jobs (see :func:`~napari_medgan.widgets.common.jobs.thread_job`).

Sampling is a few large torch calls that release the GIL: a napari thread worker keeps the event
loop free for them without a process start (measured in ``benchmarks/gui_latency.py``). Expected
errors come back as values, not exceptions, so the widget shows one clear notification instead
of napari's traceback.
"""

from __future__ import annotations

import numpy as np

from napari_medgan.engine import Sampler, SamplingError
from napari_medgan.io.placement import along_slice_axis
from napari_medgan.io.synthetic import data_digest


def sample_job(sampler: Sampler, n: int, condition: str | None, seed: int):
    """Yield the number of images done after each chunk; return ``(images, digest)`` (or the
    error), where ``digest`` fingerprints the layer data the images become. Hashing is done here,
    in the worker: for 1024 images at 64 px it took 50 ms, a stall in napari's event loop."""
    parts: list[np.ndarray] = []
    try:
        for part in sampler.sample_chunks(n, condition, seed=seed, units="native", chunk=32):
            parts.append(part)
            yield sum(len(p) for p in parts)
    except SamplingError as exc:
        return exc
    images = np.concatenate(parts)
    geometry = sampler.geometry[condition or sampler.class_names[0]]
    return images, data_digest(along_slice_axis(geometry, images))


def swap_job(sampler: Sampler, seed: int):
    """One seed under every condition (a generator so that napari can cancel it)."""
    yield 0
    try:
        return sampler.condition_swap(1, seed=seed, units="native")
    except SamplingError as exc:
        return exc
