"""Screenshots of the mask2image family in the docks, from a trained tissue labels → T1 run.

Run from the repository root with a mask2image run (e.g. ``napari-medgan train --family
mask2image T1.nii.gz --labels tissue.nii.gz``, or one of ``benchmarks/bench_mask2image.py``'s)::

    xvfb-run -a python docs/make_mask2image_screenshots.py RUN_DIR

Writes ``docs/screenshots/train_mask2image.png`` (the Train dock set up on the sample pair) and
``docs/screenshots/synthesize_widget.png`` (the Generate dock after synthesising from a deformed
copy of the sample's labels: the real T1, the deformed labels and the synthetic image side by
side in napari's grid view).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_screenshots import OUT, ensure_big_screen, spin


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("run", type=Path, help="a mask2image run folder (tissue labels → T1)")
    args = p.parse_args()
    ensure_big_screen()

    import napari
    from napari.qt import get_qapp

    app = get_qapp()
    viewer = napari.Viewer(title="napari-medgan", show=True)
    viewer.window._qt_window.resize(1800, 1100)
    viewer.open_sample("napari-medgan", "mni152_tissue")
    _, train = viewer.window.add_plugin_dock_widget("napari-medgan", "Train GAN")
    train.family.setCurrentIndex(train.family.findData("mask2image"))
    train.mask_pairs.source.setCurrentText("MNI152 tissue labels")
    train.mask_pairs.target.setCurrentText("MNI152 T1")
    train.settings.advanced.collapse(animate=False)
    spin(app, 1.0)
    OUT.mkdir(exist_ok=True)
    viewer.screenshot(str(OUT / "train_mask2image.png"), canvas_only=False)
    print("wrote", OUT / "train_mask2image.png")

    viewer.window.remove_dock_widget("all")
    _, gen = viewer.window.add_plugin_dock_widget("napari-medgan", "Generate synthetic scans")
    gen.checkpoint.set_path(str(args.run))
    spin(app, until=lambda: gen.sampler is not None and gen.synthesizing, timeout=120)
    gen.reference.setCurrentText("MNI152 tissue labels")
    gen.n.setValue(1)
    gen.deform.setChecked(True)
    assert gen.synthesize()
    spin(app, until=lambda: not gen.busy, timeout=300)
    viewer.layers["MNI152 tissue labels"].visible = False
    viewer.canvas.grid.enabled = True
    viewer.dims.set_point(0, 10.0)  # an axial level through the ventricles
    viewer.reset_view()
    spin(app, 1.0)
    viewer.screenshot(str(OUT / "synthesize_widget.png"), canvas_only=False)
    print("wrote", OUT / "synthesize_widget.png", "layer", gen.last_layer.name)
    viewer.close()


if __name__ == "__main__":
    main()
