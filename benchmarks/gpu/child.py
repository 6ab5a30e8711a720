"""Device memory around a training run in a child process, started as the Train widget starts it.

The widget hands ``engine.runner.train_target`` its settings and volumes through
``engine.runner.ProcessRun`` (``threads=cpu_threads_beside_gui()``), polls the messages, and
asks it to stop with ``ProcessRun.stop``. Here the same is done twice, without Qt: a run that
ends on its own (its step count) and one stopped mid-run. The driver's free memory
(``torch.cuda.mem_get_info``, every process counted) is read before the child starts, while it
trains (the lowest value seen) and after it has gone: what is not returned is before − after.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from napari_medgan.engine import TrainReport
from napari_medgan.engine.runner import (
    TERMINAL,
    ProcessRun,
    cpu_threads_beside_gui,
    train_target,
)

from .env import Environment
from .measure import free_bytes, release
from .profile import Profile

POLL_S = 0.1
#: After the child has gone, how long free memory may take to come back before it is read.
SETTLE_S = 5.0
#: Free memory may differ by this much from before and still count as returned (the target).
RETURNED_BYTES = 100 * 10**6


def child_section(env: Environment, profile: Profile, work: Path) -> dict[str, Any]:
    """Device memory before, during and after a finished and a stopped child-process run."""
    size, stop_at = profile.sizes[0], profile.child_stop_after
    finished = profile.config(size, env.precision, steps=profile.child_steps)
    stopped = profile.config(size, env.precision, steps=10**7)
    return {
        "size": size,
        "finished": child_run(env.volumes, finished, profile, work, stop_after=None),
        "stopped": child_run(env.volumes, stopped, profile, work, stop_after=stop_at),
    }


def child_run(
    volumes: list, config: Any, profile: Profile, work: Path, stop_after: int | None
) -> dict[str, Any]:
    """One widget-style run; ``stop_after``: ask it to stop once it reports that step."""
    device = torch.device(profile.device)
    config = config.replace(out_dir=tempfile.mkdtemp(prefix="child-", dir=work))
    release(device)
    before = free_bytes(device)
    kwargs = dict(config=config, volumes=volumes, resume=None, dataset=None, split=None, pairs=None)
    run = ProcessRun(
        train_target,
        dict(kwargs, threads=cpu_threads_beside_gui(), owner="gpu_check (as the Train widget)"),
        name="medgan-train",
    ).start()
    t0 = time.perf_counter()
    seen = _follow(run, device, before, stop_after, profile.child_timeout_s)
    after = _settled_free(device, before)
    used = None if before is None else before - seen["lowest_free"]
    kept = None if before is None else before - after
    return {
        **{k: v for k, v in seen.items() if k != "lowest_free"},
        "exitcode": run.exitcode,
        "seconds": time.perf_counter() - t0,
        "free_before": before,
        "free_during_min": seen["lowest_free"],
        "free_after": after,
        "used_during": used,
        "not_returned": kept,
    }


def _follow(
    run: ProcessRun, device: torch.device, before: int | None, stop_after: int | None,
    timeout_s: float,
) -> dict[str, Any]:  # fmt: skip
    """Poll the child as the widget does until it has gone; stop it at ``stop_after``."""
    t0, lowest, step, status, ended = time.perf_counter(), before, 0, None, None
    while True:
        done = run.join(POLL_S)
        for msg in run.drain():
            if isinstance(msg, TrainReport):
                step, status = msg.step, msg.status
            elif isinstance(msg, TERMINAL):
                ended = msg
        free = free_bytes(device)
        if free is not None:
            lowest = min(lowest, free)
        if done:
            break
        late = time.perf_counter() - t0 > timeout_s
        if (late or (stop_after is not None and step >= stop_after)) and not run.stopping:
            run.stop()
        if time.perf_counter() - t0 > timeout_s + 30:
            run.terminate()
    return {
        "stop_requested": run.stopping,
        "step": step,
        "status": status,
        "ended": type(ended).__name__ if ended is not None else None,
        "message": getattr(ended, "message", None),
        "lowest_free": lowest,
    }


def _settled_free(device: torch.device, before: int | None) -> int | None:
    """Free memory once the child has gone, waiting up to ``SETTLE_S`` for the driver."""
    free = free_bytes(device)
    deadline = time.perf_counter() + SETTLE_S
    while free is not None and before - free > RETURNED_BYTES and time.perf_counter() < deadline:
        time.sleep(0.2)
        free = free_bytes(device)
    return free
