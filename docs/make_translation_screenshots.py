"""Screenshots of the translation family in the docks, from a trained T1 → GM run.

Run from the repository root with a translation run (e.g. one of
``benchmarks/bench_translation.py run``'s, or ``napari-medgan train --family translate``)::

    xvfb-run -a python docs/make_translation_screenshots.py RUN_DIR

Writes ``docs/screenshots/train_translation.png`` (the Train dock set up for a translation) and
``docs/screenshots/translate_widget.png`` (the Generate dock after translating the MNI152 T1: the
T1, the true GM map and the translation side by side in napari's grid view).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_screenshots import OUT, ensure_big_screen, mni_viewer, spin


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("run", type=Path, help="a translate run folder (T1 → GM)")
    args = p.parse_args()
    ensure_big_screen()

    from napari.qt import get_qapp

    app = get_qapp()
    viewer = mni_viewer()
    viewer.layers.remove("MNI152 WM")
    _, train = viewer.window.add_plugin_dock_widget("napari-medgan", "Train GAN")
    train.family.setCurrentIndex(train.family.findData("translate"))
    train.pairs.source.setCurrentText("MNI152 T1")
    train.pairs.target.setCurrentText("MNI152 GM")
    train.settings.advanced.collapse(animate=False)
    spin(app, 1.0)
    OUT.mkdir(exist_ok=True)
    viewer.screenshot(str(OUT / "train_translation.png"), canvas_only=False)
    print("wrote", OUT / "train_translation.png")

    viewer.window.remove_dock_widget("all")
    _, gen = viewer.window.add_plugin_dock_widget("napari-medgan", "Generate synthetic scans")
    gen.checkpoint.set_path(str(args.run))
    spin(app, until=lambda: gen.sampler is not None and gen.translating, timeout=120)
    gen.reference.setCurrentText("MNI152 T1")
    assert gen.translate()
    spin(app, until=lambda: not gen.busy, timeout=300)
    viewer.layers["MNI152 GM"].visible = True  # the truth beside the input and the translation
    viewer.canvas.grid.enabled = True
    viewer.dims.set_point(0, 10.0)  # an axial level through the ventricles
    viewer.reset_view()
    spin(app, 1.0)
    viewer.screenshot(str(OUT / "translate_widget.png"), canvas_only=False)
    print("wrote", OUT / "translate_widget.png", "layer", gen.last_layer.name)
    viewer.close()


if __name__ == "__main__":
    main()
