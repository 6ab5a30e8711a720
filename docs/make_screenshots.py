"""Screenshots of the dock widgets in action, from a real (short) training run on MNI152.

Run from the repository root (needs a display; under Xvfb it re-runs itself on a large 24-bit
virtual screen)::

    xvfb-run -a python docs/make_screenshots.py

Writes ``docs/screenshots/train_widget.png``, ``docs/screenshots/train_widget_laptop.png``
(the same run in a 1366x768 window, the size of a small laptop screen) and
``docs/screenshots/generate_widget.png``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "screenshots"
SCREEN = (1920, 1200)
LAPTOP = (1366, 768)
CHILD = "MEDGAN_SCREENSHOT_CHILD"


def ensure_big_screen() -> None:
    """Re-run this script on a 1920x1200x24 Xvfb screen if the current one is small."""
    from qtpy.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv)
    geom = app.primaryScreen().geometry()
    depth = app.primaryScreen().depth()
    if geom.width() >= 1600 and geom.height() >= 1000 and depth >= 24:
        return
    if os.environ.get(CHILD) or not shutil.which("xvfb-run"):
        print(f"warning: screen is {geom.width()}x{geom.height()}x{depth}; shots may be cramped")
        return
    env = {**os.environ, CHILD: "1"}
    server = f"-screen 0 {SCREEN[0]}x{SCREEN[1]}x24"
    cmd = ["xvfb-run", "-a", "-s", server, sys.executable, *sys.argv]
    sys.exit(subprocess.call(cmd, env=env))


def spin(app, seconds: float = 0.0, until=None, timeout: float = 600.0) -> None:
    """Process events for ``seconds`` or until ``until()`` is true."""
    t0 = time.perf_counter()
    while True:
        app.processEvents()
        elapsed = time.perf_counter() - t0
        if until is None and elapsed >= seconds:
            return
        if until is not None and (until() or elapsed > timeout):
            return
        time.sleep(0.02)


def mni_viewer():
    """A shown 1800x1100 napari window holding the MNI152 sample (T1, GM, WM)."""
    import napari

    viewer = napari.Viewer(title="napari-medgan", show=True)
    viewer.window._qt_window.resize(1800, 1100)
    viewer.open_sample("napari-medgan", "mni152")
    return viewer


def main() -> None:
    p = argparse.ArgumentParser(description="screenshots of the napari-medgan widgets")
    p.add_argument("--steps", type=int, default=300, help="training steps before the shot")
    p.add_argument("--size", type=int, default=32)
    p.add_argument(
        "--run",
        help="run folder for the Generate shot (e.g. a `napari-medgan demo` run); default: the "
        "run the Train shot trained",
    )
    args = p.parse_args()
    ensure_big_screen()

    from napari.qt import get_qapp

    from napari_medgan.widgets.train.state import TrainState

    app = get_qapp()
    viewer = mni_viewer()
    _, train = viewer.window.add_plugin_dock_widget("napari-medgan", "Train GAN")
    run_dir = Path(tempfile.mkdtemp(prefix="medgan-shots-")) / "mni-demo"
    train.settings.apply(
        device="cpu", size=args.size, steps=args.steps * 4, batch_size=16, base_channels=16,
        max_channels=128, z_dim=64, preview_every=10, checkpoint_every=0, out_dir=str(run_dir),
    )
    train.settings.advanced.collapse(animate=False)
    viewer.dims.set_point(0, 0.0)
    train.start()
    spin(app, until=lambda: train.last_report is not None and train.last_report.step >= args.steps)
    viewer.reset_view()
    spin(app, 1.5)  # let the plot timer redraw
    OUT.mkdir(exist_ok=True)
    viewer.screenshot(str(OUT / "train_widget.png"), canvas_only=False)
    print("wrote", OUT / "train_widget.png", "at step", train.last_report.step)
    window = viewer.window._qt_window
    window.resize(*LAPTOP)  # the whole napari window on a 1366x768 screen, still training
    spin(app, 1.5)
    viewer.reset_view()
    spin(app, 1.0)
    viewer.screenshot(str(OUT / "train_widget_laptop.png"), canvas_only=False)
    print("wrote", OUT / "train_widget_laptop.png", f"({window.width()}x{window.height()})")
    window.resize(1800, 1100)

    train.stop()
    spin(app, until=lambda: train.state is TrainState.IDLE)
    viewer.window.remove_dock_widget("all")
    _, gen = viewer.window.add_plugin_dock_widget("napari-medgan", "Generate synthetic scans")
    assert gen.sampler is not None, "the Generate widget did not pick up the run"
    if args.run:
        gen.checkpoint.set_path(args.run)  # submitting it loads it, as typing a path does
        spin(app, until=lambda: gen.sampler is not None and str(args.run) in str(gen.sampler.path))
    # the preview is a training aid; removed so the view centres on the scans and the swap
    viewer.layers.remove("MedGAN preview")
    for name in ("MNI152 GM", "MNI152 WM"):  # the grid shows the T1 scan beside the swap
        viewer.layers.remove(name)
    viewer.canvas.grid.enabled = True
    gen.seed.setValue(illustrative_seed(gen.sampler, gen.n.value()))
    assert gen.condition_swap()
    spin(app, until=lambda: not gen.busy)
    viewer.reset_view()
    spin(app, 1.0)
    viewer.screenshot(str(OUT / "generate_widget.png"), canvas_only=False)
    print("wrote", OUT / "generate_widget.png")
    viewer.close()


def illustrative_seed(sampler, n: int, tries: int = 20) -> int:
    """A seed whose first sample is a mid-brain slice (most foreground), to show in the shot."""
    name = sampler.class_names[0]
    fg = [(sampler.sample(n, name, seed=s, units="model")[0] > -0.8).mean() for s in range(tries)]
    return int(max(range(tries), key=fg.__getitem__))


if __name__ == "__main__":
    main()
