"""The Generate dock's mask-to-image path: images from a Labels layer with a mask2image run.

:func:`synthesis_job` runs in a napari thread worker (slice chunks, progress per chunk); each
variation becomes an image layer on the Labels layer's grid (same scale, translate and affine),
marked as generated, and, when the masks were deformed, a Labels layer with its mask beside it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from napari.layers import Labels
from napari.utils.notifications import show_error

from napari_medgan.engine import DataError, Volume
from napari_medgan.engine.families import FamilyError
from napari_medgan.engine.families.mask2image.deform import deform_labels
from napari_medgan.engine.families.mask2image.infer import Synthesizer
from napari_medgan.io.synthetic import data_digest, generated_marker

from ..common.layers import labels_volume
from ..common.output_layers import unique_name
from .translation import Refused

#: Where a synthesised image layer names the Labels layer it matches (saved beside it).
LABELS_KEY = "labels_layer"


def start_synthesis(dock, layer: Labels | None, n: int, seed: int, deform: bool) -> bool:
    """Synthesise ``n`` images for ``layer`` with the dock's loaded mask-to-image run (each
    variation from its own seed, ``seed``, ``seed + 1``...; with ``deform`` each from its own
    deformed copy of the mask). False (and a notification) when the request cannot run."""
    synth = dock.sampler
    if not isinstance(synth, Synthesizer):
        show_error("Cannot synthesise: load a mask-to-image run (train --family mask2image)")
        return False
    if not isinstance(layer, Labels):
        show_error("Cannot synthesise: choose a Labels layer (paint one, or open a label map)")
        return False
    try:
        volume = labels_volume(layer)
        synth.check_labels(volume)
    except (DataError, FamilyError) as exc:
        show_error(f"Cannot synthesise from {layer.name!r}: {exc}")
        return False

    def done(result) -> None:
        if isinstance(result, Refused):
            show_error(f"Cannot synthesise from {layer.name!r}: {result.message}")
            return
        for labels, image, digest, s in result:
            labels_name = layer.name
            if deform:
                kwargs = _frame(layer, unique_name(dock.viewer, f"{layer.name} deformed seed{s}"))
                kwargs["metadata"] = {"synthetic": True, "deformed_from": layer.name, "seed": s}
                labels_name = dock.viewer.add_labels(labels, **kwargs).name
            kwargs = synthesized_layer(synth, layer, image, digest, s, labels_name, dock.viewer)
            dock.last_layer = dock.viewer.add_image(image, **kwargs)
        dock._refresh_layers()

    total = n * synth.slice_count(volume)
    what = f"{n} image{'s' if n > 1 else ''}"
    dock._start(synthesis_job, (synth, volume, n, seed, deform), total,
                f"Synthesising {what} from {layer.name}", done, unit="slices")  # fmt: skip
    return True


def synthesis_job(synth: Synthesizer, labels: Volume, n: int, seed: int, deform: bool):
    """Yield slices done; return ``[(labels, image, digest, seed)]`` or :class:`Refused`."""
    per, out = synth.slice_count(labels), []
    try:
        for i in range(n):
            s = seed + i
            lab = labels
            if deform:
                moved = deform_labels(labels.data, labels.spacing, s)
                lab = Volume(moved, labels.spacing, name=labels.name, origin=labels.origin,
                             modality=labels.modality)  # fmt: skip
            steps = synth.synthesize_steps(lab, s)
            while True:
                try:
                    yield i * per + next(steps)
                except StopIteration as finished:
                    image = finished.value
                    break
            out.append((np.asarray(lab.data), image, data_digest(image), s))
    except FamilyError as exc:
        return Refused(str(exc))
    return out


def _frame(layer, name: str) -> dict[str, Any]:
    return {
        "name": name,
        "scale": tuple(layer.scale),
        "translate": tuple(layer.translate),
        "affine": layer.affine.affine_matrix,
    }


def synthesized_layer(
    synth: Synthesizer, layer: Labels, data: np.ndarray, digest: str, seed: int,
    labels_name: str, viewer,
) -> dict[str, Any]:  # fmt: skip
    """``add_image`` keyword arguments: the Labels layer's frame, the image's window."""
    window = synth.transforms["image"]
    meta = {
        "model": str(synth.path),
        "step": int(synth.step),
        "seed": int(seed),
        "synthetic": True,
        "synthesized_from": layer.name,
        LABELS_KEY: labels_name,
        "modality": synth.modality,
        **generated_marker(data, synth.path, synth.step, seed, None, digest),
    }
    name = unique_name(viewer, f"{labels_name} → {synth.image_name} seed{seed}")
    return {
        **_frame(layer, name),
        "colormap": "gray",
        "contrast_limits": (float(window.low), float(window.high)),
        "metadata": meta,
    }
