"""The Train widget on a CT-sized cohort: napari prepares the cohort and trains a few steps.

Run under a display (``xvfb-run -a``) after ``benchmarks/bench_cohort.py`` has built the
synthetic cohort (10 volumes of 512x512x400 int16 in two condition folders)::

    xvfb-run -a .venv/bin/python benchmarks/bench_cohort_widget.py /tmp/medgan_bench_cohort

Prints one markdown table row: wall and CPU time, peak RSS of the napari process and of the
training child process (which owns the model; its ``VmHWM`` is read from ``/proc`` while it runs,
since ``RUSAGE_CHILDREN`` would report the parent's size at fork time), and whether a checkpoint
was written. Needs Linux and psutil.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import psutil


def _hwm_mib(pid: int) -> float:
    """Peak resident memory (VmHWM) of a live process, MiB; 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cohort", help="folder tree whose sub-folders are conditions")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=1200.0)
    args = parser.parse_args()

    import napari
    from qtpy.QtWidgets import QApplication

    from napari_medgan.widgets.train.state import TrainState
    from napari_medgan.widgets.train.widget import TrainWidget

    tmp = Path(tempfile.mkdtemp(prefix="medgan-cohort-widget-"))
    os.environ["NAPARI_MEDGAN_CACHE"] = str(tmp / "cache")  # cold cache: prepare in the run
    viewer = napari.Viewer(show=False)
    widget = TrainWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.settings.apply(
        size=64, steps=args.steps, preview_every=0, checkpoint_every=0, device="cpu",
        out_dir=str(tmp / "run"),
    )  # fmt: skip
    widget.cohort.path.setText(args.cohort)
    base = psutil.Process().memory_info().rss / 2**20  # napari + widget, before the cohort
    t0, c0 = time.perf_counter(), time.process_time()
    if not widget.start():
        print("widget refused to start", file=sys.stderr)
        return 1
    app = QApplication.instance()
    latest = tmp / "run" / "latest"
    me, child = psutil.Process(), 0.0
    while time.perf_counter() - t0 < args.timeout:
        app.processEvents()
        for proc in me.children(recursive=True):
            child = max(child, _hwm_mib(proc.pid))
        if latest.exists() and widget.state is TrainState.IDLE:
            break
        time.sleep(0.05)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ok = latest.exists()
    viewer.close()
    print(
        "| wall s | napari CPU s | napari RSS before MiB | napari peak RSS MiB "
        "| training child peak RSS MiB | checkpoint |"
    )
    print("|---|---|---|---|---|---|")
    print(
        f"| {wall:.1f} | {cpu:.1f} | {base:.0f} | {own:.0f} | {child:.0f} "
        f"| {'yes' if ok else 'no'} |"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
