"""Speed, peak memory and host synchronisations of the ``gpu`` preset and the textbook loop.

Each runner is built alone, warmed up, then timed for ``Profile.speed_s`` of wall time with a
device synchronisation every ``Profile.chunk`` steps (the clock stops on finished work, and the
queue is never drained every step); its peak device memory is read after, the counter reset
before it was built. The project's trainer is driven through the quality benchmark's
``ProjectRunner`` (no previews, checkpoints or held-out scores while timed, as there); the
textbook loop is :class:`~gpu.textbook.DeviceTextbook`. Both run in the same precision.
"""

from __future__ import annotations

import gc
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from quality.runners import ProjectRunner

from napari_medgan.engine import build_dataset
from napari_medgan.engine.trainer import Trainer

from .env import Environment
from .profile import Profile
from .textbook import DeviceTextbook

#: Profiler event names (runtime calls and copies) that make the host wait for the device.
SYNC_EVENT_KEYS = ("Synchronize", "DtoH")


# ---------------------------------------------------------------------- device helpers
def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (nothing to wait for on a CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def release(device: torch.device) -> None:
    """Collect garbage and hand cached device memory back to the driver."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_bytes(device: torch.device) -> int | None:
    """Peak device memory allocated by tensors since :func:`reset_peak` (None on a CPU)."""
    return int(torch.cuda.max_memory_allocated(device)) if device.type == "cuda" else None


def free_bytes(device: torch.device) -> int | None:
    """Free device memory as the driver sees it, all processes counted (None on a CPU)."""
    return int(torch.cuda.mem_get_info(device)[0]) if device.type == "cuda" else None


# ---------------------------------------------------------------------- timing
def time_steps(runner: Any, profile: Profile, device: torch.device) -> dict[str, float]:
    """Warm up, then images per second of wall time over at least ``profile.speed_s``."""
    for _ in range(profile.warmup_steps):
        runner.step()
    synchronize(device)
    steps, t0 = 0, time.perf_counter()
    while True:
        for _ in range(profile.chunk):
            runner.step()
        steps += profile.chunk
        synchronize(device)
        elapsed = time.perf_counter() - t0
        if elapsed >= profile.speed_s:
            break
    return {
        "steps": steps,
        "seconds": elapsed,
        "batch": runner.batch_size,
        "img_per_s": steps * runner.batch_size / elapsed,
    }


def _params_m(runner: Any) -> float:
    nets = (runner.G, runner.D) if hasattr(runner, "G") else (runner.trainer.G, runner.trainer.D)
    return sum(p.numel() for net in nets for p in net.parameters()) / 1e6


def measure_runner(
    make: Callable[[], Any],
    profile: Profile,
    device: torch.device,
    then: Callable[[Any], dict] | None = None,
) -> dict[str, Any]:
    """Build a runner with ``make``, time it and read its peak memory; ``then(runner)`` adds
    more measurements of the same runner before it is closed and its memory released."""
    release(device)
    reset_peak(device)
    runner = make()
    try:
        result = time_steps(runner, profile, device)
        result.update(peak_bytes=peak_bytes(device), params_m=_params_m(runner))
        if then is not None:
            result.update(then(runner))
    finally:
        runner.close()
        del runner
        release(device)
    return result


# ---------------------------------------------------------------------- host synchronisations
def count_host_syncs(runner: Any, steps: int, device: torch.device) -> dict[str, Any]:
    """Host synchronisations over ``steps`` training steps, counted two ways.

    ``torch.cuda.set_sync_debug_mode("warn")`` warns at every synchronising call (``.item()``,
    ``.tolist()``, a copy to the host...): the warnings are counted and located. The profiler
    then counts the synchronising runtime calls and device-to-host copies of as many steps (its
    own closing ``cudaDeviceSynchronize`` included). On a CPU only the profiled steps run (there
    is no device to wait for, and no debug mode).
    """
    result: dict[str, Any] = {"sync_steps": steps, "syncs": None, "sync_sites": {}}
    if device.type == "cuda":
        synchronize(device)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                for _ in range(steps):
                    runner.step()
            finally:
                torch.cuda.set_sync_debug_mode("default")
        syncs = [w for w in caught if "synchroniz" in str(w.message).lower()]
        sites = Counter(f"{Path(w.filename).name}:{w.lineno}" for w in syncs)
        result.update(syncs=len(syncs), sync_sites=dict(sites.most_common(8)))
    result["profiled"] = _profiled_syncs(runner, steps, device)
    return result


def _profiled_syncs(runner: Any, steps: int, device: torch.device) -> dict[str, int] | str:
    """Profiler events that make the host wait, by name (or why the profiler could not run)."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(ProfilerActivity.CUDA)
    try:
        with profile(activities=activities) as prof:
            for _ in range(steps):
                runner.step()
        names = Counter(e.name for e in prof.events())
    except Exception as exc:  # the profiler is a cross-check: its failure is reported, not fatal
        return f"profiler failed: {exc!r}"
    return {n: c for n, c in names.items() if any(k in n for k in SYNC_EVENT_KEYS)}


# ---------------------------------------------------------------------- the section
def speed_section(env: Environment, profile: Profile, work: Path) -> dict[str, Any]:
    """Speed and peak memory of the preset at both sizes and of the textbook loop at the
    first, in ``env.precision``; host synchronisations of the preset at the first size."""
    device = torch.device(profile.device)
    small, large = profile.sizes
    data = {s: build_dataset(env.volumes, s, slice_axis=0) for s in profile.sizes}
    precision = env.precision

    def project(size: int) -> Callable[[], ProjectRunner]:
        cfg = profile.config(size, precision)
        out = tempfile.mkdtemp(prefix=f"preset{size}-", dir=work)
        return lambda: ProjectRunner(data[size], cfg, out)

    def textbook() -> DeviceTextbook:
        return DeviceTextbook(data[small], small, device, precision, profile.textbook_batch)

    def syncs(runner: ProjectRunner) -> dict:
        return count_host_syncs(runner, profile.sync_steps, device)

    return {
        "sizes": [small, large],
        "precision": precision,
        "sync_every": Trainer.sync_every_gpu,
        "textbook": measure_runner(textbook, profile, device),
        "preset": measure_runner(project(small), profile, device, then=syncs),
        "preset_large": measure_runner(project(large), profile, device),
    }
