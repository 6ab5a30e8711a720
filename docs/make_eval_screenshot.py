"""Screenshot of the Evaluate GAN widget after a real evaluation on MNI152.

Run from the repository root (needs a display; under Xvfb it re-runs itself on a large 24-bit
virtual screen)::

    xvfb-run -a python docs/make_eval_screenshot.py

Trains a small conditional GAN on the MNI152 sample with the engine (CPU, 32 px), evaluates it
in the dock widget, adds the nearest training slices of one generated image and writes
``docs/screenshots/evaluate_widget.png``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "screenshots" / "evaluate_widget.png"
sys.path.insert(0, str(HERE))

from make_screenshots import ensure_big_screen, mni_viewer, spin  # noqa: E402


def train(viewer, steps: int, out_dir: Path) -> Path:
    """A short conditional run on the viewer's MNI152 layers, by the engine directly."""
    from napari_medgan.engine import TrainConfig, Trainer, build_dataset
    from napari_medgan.widgets.common.layers import Choice, to_volumes

    names = ("MNI152 T1", "MNI152 GM", "MNI152 WM")
    volumes = to_volumes([Choice(viewer.layers[n], n) for n in names], conditional=True)
    cfg = TrainConfig(
        size=32, steps=steps, batch_size=16, base_channels=16, max_channels=64, z_dim=32,
        preview_every=0, checkpoint_every=0, device="cpu", seed=1, out_dir=str(out_dir),
    )  # fmt: skip
    trainer = Trainer(cfg, build_dataset(volumes, cfg.size, cfg.slice_axis, cfg.min_foreground))
    for report in trainer.run():
        if report.step % 100 == 0:
            print(f"training step {report.step}/{steps}", flush=True)
    trainer.close()
    return out_dir


def main() -> None:
    p = argparse.ArgumentParser(description="screenshot of the Evaluate GAN widget")
    p.add_argument("--steps", type=int, default=400, help="training steps of the model")
    p.add_argument(
        "--sample", type=int, default=-1,
        help="generated image to show neighbours of (default: the T1 one nearest to real data)",
    )  # fmt: skip
    args = p.parse_args()
    ensure_big_screen()

    import numpy as np
    from napari.qt import get_qapp

    from napari_medgan.napari_glue.session import runs

    app = get_qapp()
    viewer = mni_viewer()
    run_dir = train(viewer, args.steps, Path(tempfile.mkdtemp(prefix="medgan-eval-")) / "mni")
    runs.publish(str(run_dir))  # as the Train widget does after a run
    _, widget = viewer.window.add_plugin_dock_widget("napari-medgan", "Evaluate GAN")
    assert widget.sampler is not None, "the Evaluate widget did not pick up the run"
    widget.n.setValue(150)
    widget.n_boot.setValue(100)
    widget.net_steps.setValue(200)
    assert widget.evaluate()
    spin(app, until=lambda: widget.job is None)
    assert widget.result is not None, widget.status.text()
    res = widget.result  # the T1 sample nearest to the training data
    dist = np.where(res.generated_labels == 0, res.nn_distance, np.inf)
    nearest = int(dist.argmin())
    widget.sample.setValue(nearest if args.sample < 0 else args.sample)
    widget.k.setValue(4)
    layer = widget.show_nearest()
    print("added", layer.name)
    viewer.dims.set_point(0, float(viewer.layers["MNI152 T1"].extent.world[:, 0].mean()))
    viewer.reset_view()
    spin(app, 1.0)
    OUT.parent.mkdir(exist_ok=True)
    viewer.screenshot(str(OUT), canvas_only=False)
    print("wrote", OUT)
    viewer.close()


if __name__ == "__main__":
    main()
