"""The Generate dock's translation path: a whole image layer through a translation run.

:func:`translate_job` runs in a napari thread worker (slice chunks, progress per chunk);
:func:`translated_layer` turns its result into a layer aligned with the input layer (same
scale, translate and affine) and marked as generated, so it saves like other synthetic layers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from napari.layers import Image
from napari.utils.notifications import show_error

from napari_medgan.engine import DataError, Volume
from napari_medgan.engine.families import FamilyError
from napari_medgan.engine.families.translate.infer import Translator
from napari_medgan.io.synthetic import data_digest, generated_marker

from ..common.layers import Choice, to_volumes
from ..common.output_layers import unique_name


def start_translation(dock, layer: Image | None) -> bool:
    """Start translating ``layer`` with the Generate dock's loaded translation run; its result
    becomes ``dock.last_layer``. False (and a notification) when the request cannot run."""
    if not dock.translating:
        show_error("Cannot translate: load a translation run (train --family translate)")
        return False
    if layer is None:
        show_error("Cannot translate: choose an image layer to translate")
        return False
    try:
        volume = to_volumes([Choice(layer, "")], conditional=False)[0]
    except DataError as exc:
        show_error(f"Cannot translate: {exc}")
        return False
    translator = dock.sampler
    name = unique_name(dock.viewer, f"{layer.name} → {translator.target_name}")

    def done(result) -> None:
        if isinstance(result, Refused):
            show_error(f"Cannot translate {layer.name!r}: {result.message}")
            return
        data, digest = result
        kwargs = translated_layer(translator, layer, data, digest, name)
        dock.last_layer = dock.viewer.add_image(data, **kwargs)
        dock._refresh_layers()

    total = translator.slice_count(volume)
    desc = f"Translating {layer.name}"
    dock._start(translate_job, (translator, volume), total, desc, done, unit="slices")
    return True


@dataclass
class Refused:
    """Why a job did not run (a value: a worker that returns an exception re-raises it)."""

    message: str


def translate_job(translator: Translator, volume: Volume):
    """Yield slices done after each chunk; return ``(array, digest)``, or :class:`Refused`."""
    try:
        out = yield from translator.translate_steps(volume, chunk=16)
    except FamilyError as exc:
        return Refused(str(exc))
    return out, data_digest(out)


def translated_layer(
    translator: Translator, layer: Image, data: np.ndarray, digest: str, name: str
) -> dict[str, Any]:
    """``add_image`` keyword arguments: the input layer's frame, the target's window."""
    window = translator.transforms["target"]
    target = translator.roles.get("target", {})
    meta = {
        "model": str(translator.path),
        "step": int(translator.step),
        "synthetic": True,
        "translated_from": layer.name,
        "modality": target.get("modality", "OT"),
        **generated_marker(data, translator.path, translator.step, 0, None, digest),
    }
    return {
        "name": name,
        "scale": tuple(layer.scale),
        "translate": tuple(layer.translate),
        "affine": layer.affine.affine_matrix,
        "colormap": "gray",
        "contrast_limits": (float(window.low), float(window.high)),
        "metadata": meta,
    }
