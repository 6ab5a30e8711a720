"""The nearest-slices layer of the Evaluate widget: a generated image beside its nearest
training slices, with the distances and sources in its metadata."""

from __future__ import annotations

from typing import Any

import numpy as np
from napari.layers import Layer

from napari_medgan.engine.metrics import EvaluationResult, nearest_training_slices

from ..common.output_layers import unique_name
from ..common.preview import tile
from .results import fmt

NEAREST_KEY = "medgan_nearest"
TILE_GAP = 3  # pixels between the generated image and its neighbours


def nearest_layer(
    viewer,
    result: EvaluationResult,
    index: int,
    k: int,
    pixel_spacing: dict[str, float] | None = None,
    beside: Layer | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Generated image ``index`` and its ``k`` nearest training slices, side by side.

    Returns 2D layer data ``(S, (k+1)*S + k*gap)`` in the model range [-1, 1] and the
    ``add_image`` kwargs: a name with the distances, metadata with training indices, sources
    and distances, mm per pixel from ``pixel_spacing[condition]``, placed below ``beside``.
    """
    if not 0 <= index < len(result.generated):
        raise IndexError(f"sample {index} does not exist (0..{len(result.generated) - 1})")
    image = result.generated[index]
    idx, dist = nearest_training_slices(image, result.real, k)
    data = tile(np.concatenate([image[None], result.real[idx]]), gap=TILE_GAP)
    data_dict = result.to_dict()
    names = data_dict["class_names"]
    cond = names[int(result.generated_labels[index])] if names else ""
    groups = result.reference.train_groups if result.reference is not None else []
    sources = [str(groups[int(i)]) if groups else "" for i in idx]
    threshold = float(data_dict["memorization"]["copy_threshold"])
    dists = ", ".join(fmt(d) for d in dist)
    name = f"sample {index} {cond} | {len(idx)} nearest training slices, d = {dists}"
    spacing = float((pixel_spacing or {}).get(cond, 1.0))
    translate = (0.0, 0.0)
    if beside is not None:
        ext = np.asarray(beside.extent.world, dtype=float)
        translate = (float(ext[1, -2] + 10.0), float(ext[0, -1]))
    kwargs = {
        "name": unique_name(viewer, name),
        "scale": (spacing, spacing),
        "translate": translate,
        "contrast_limits": (-1.0, 1.0),
        "colormap": "gray",
        "metadata": {
            NEAREST_KEY: True,
            "generated_index": int(index),
            "condition": cond,
            "tiles": "generated image, then nearest training slices (nearest first)",
            "training_index": [int(i) for i in idx],
            "training_source": sources,
            "distance": [float(d) for d in dist],
            "distance_units": "relative copy distance (blurred, mean-removed, shift-tolerant)",
            "copy_threshold": threshold,
            "near_copy": bool(dist[0] < threshold),
            "checkpoint": (data_dict.get("checkpoint") or {}).get("path"),
        },
    }
    return data, kwargs
