"""Event-loop latency of napari while the Train GAN widget trains in its worker thread.

A QTimer asks to fire every 10 ms; the delay of each firing beyond 10 ms is how long the GUI
could not react. Prints a markdown table row (and appends it to ``--out`` if given)::

    xvfb-run -a python benchmarks/gui_latency.py --seconds 20
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time

import numpy as np


def measure(app, seconds: float, interval_ms: int = 10) -> np.ndarray:
    """Delays (ms) of a ``interval_ms`` timer over ``seconds`` of the running event loop."""
    from qtpy.QtCore import QEventLoop, QTimer

    delays: list[float] = []
    last = [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        delays.append((now - last[0]) * 1000 - interval_ms)
        last[0] = now

    timer = QTimer()
    timer.setInterval(interval_ms)
    timer.timeout.connect(tick)
    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    timer.start()
    loop.exec()
    timer.stop()
    return np.maximum(np.asarray(delays[1:]), 0.0)


def row(label: str, d: np.ndarray) -> str:
    return (
        f"| {label} | {len(d)} | {np.median(d):.1f} | {np.percentile(d, 95):.1f} | "
        f"{np.percentile(d, 99):.1f} | {d.max():.1f} |"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--device", default="auto")
    p.add_argument("--out", help="append the markdown rows to this file")
    args = p.parse_args()

    import napari

    from napari_medgan._sample_data import mni152
    from napari_medgan.widgets.state import TrainState
    from napari_medgan.widgets.train import TrainWidget

    viewer = napari.Viewer(show=True)
    for data, kwargs, _ in mni152():
        viewer.add_image(data, **kwargs)
    widget = TrainWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Train GAN")
    out = tempfile.mkdtemp(prefix="medgan-latency-")
    widget.settings.apply(
        device=args.device, size=args.size, batch_size=args.batch_size, steps=100_000,
        preview_every=20, checkpoint_every=0, out_dir=out,
    )
    app = napari.qt.get_qapp()
    idle = measure(app, 3.0)
    widget.start()
    while widget.last_report is None or widget.last_report.step < 2:
        app.processEvents()
        time.sleep(0.01)
    step0, t0 = widget.last_report.step, time.perf_counter()
    busy = measure(app, args.seconds)
    steps = widget.last_report.step - step0
    rate = steps / (time.perf_counter() - t0)
    widget.stop()
    while widget.state is not TrainState.IDLE:
        app.processEvents()
        time.sleep(0.01)
    device = widget.last_report.device
    header = (
        "| event loop (10 ms timer) | firings | median delay ms | p95 ms | p99 ms | max ms |\n"
        "|---|---|---|---|---|---|"
    )
    label = (
        f"training {args.size}px b{args.batch_size} on {device} ({rate:.1f} steps/s, "
        f"plot redraws {widget.plot.draw_count}), {platform.processor() or platform.machine()}"
    )
    text = "\n".join([header, row("idle", idle), row(label, busy)])
    print(text)
    if args.out:
        with open(args.out, "a") as fh:
            fh.write(text + "\n")
    viewer.close()


if __name__ == "__main__":
    main()
