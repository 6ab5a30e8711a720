"""Generated arrays -> napari layer data and kwargs that line up with a reference layer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from napari.layers import Layer

from napari_medgan.engine import Sampler

GENERATED_KEY = "medgan_generated"
GAP_MM = 10.0


def model_name(sampler: Sampler) -> str:
    """The run folder's name (checkpoints live in ``RUN/checkpoints/step_N``)."""
    path = Path(sampler.path) if sampler.path else None
    if path is None:
        return "model"
    return path.parent.parent.name if path.parent.name == "checkpoints" else path.name


def unique_name(viewer, name: str) -> str:
    """``name``, or ``name #2``, ``#3``... so earlier layers are never replaced."""
    out, i = name, 1
    while out in viewer.layers:
        i += 1
        out = f"{name} #{i}"
    return out


def _placement(viewer, sampler: Sampler, condition: str, ref: Layer | None, beside: bool):
    """Scale and translate of a 3D ``(z, y, x)`` stack of native slices, and the slice axis."""
    geom = sampler.geometry[condition]
    axis = sampler.config.slice_axis
    in_plane = list(geom.native_spacing)
    scale = in_plane.copy()
    scale.insert(axis, geom.slice_spacing)
    if ref is None:
        return np.asarray(scale), np.zeros(3), axis
    ref_translate = np.asarray(ref.translate, dtype=float)
    translate = np.zeros(3)
    if ref.ndim >= 3:
        translate[:] = ref_translate[-3:]
        # sample 0 sits on the slice the viewer shows now
        point = np.asarray(viewer.dims.point, dtype=float)
        translate[axis] = point[-3 + axis] if len(point) >= 3 else translate[axis]
    else:
        axis = 0
        scale = [geom.slice_spacing, *in_plane]
        translate[1:] = ref_translate[-2:]
    if beside:
        side = 2 if axis != 2 else 1
        ext = np.asarray(ref.extent.world, dtype=float)
        translate[side] = ext[1, -3 + side] + GAP_MM if ext.shape[1] >= 3 else (ext[1, -1] + GAP_MM)
    return np.asarray(scale), translate, axis


def _meta(sampler: Sampler, seed: int, ref: Layer | None, **extra: Any) -> dict[str, Any]:
    meta = {
        GENERATED_KEY: True,
        "model": str(sampler.path),
        "step": int(sampler.step),
        "seed": int(seed),
        "modality": str(ref.metadata.get("modality", "OT")) if ref is not None else "OT",
        "synthetic": True,
    }
    meta.update(extra)
    return meta


def sample_layer(
    viewer,
    sampler: Sampler,
    images: np.ndarray,
    condition: str | None,
    seed: int,
    ref: Layer | None,
    beside: bool = True,
) -> tuple[np.ndarray, dict[str, Any]]:
    """``(n, H, W)`` native samples -> a 3D stack along the training slice axis."""
    cond = condition or sampler.class_names[0]
    scale, translate, axis = _placement(viewer, sampler, cond, ref, beside)
    data = np.moveaxis(images, 0, axis)
    label = f"{cond} " if sampler.conditional else ""
    name = f"{model_name(sampler)} {label}step{sampler.step} seed{seed}"
    window = sampler.transforms[cond]
    kwargs = {
        "name": unique_name(viewer, name),
        "scale": tuple(scale),
        "translate": tuple(translate),
        "contrast_limits": (window.low, window.high),
        "metadata": _meta(
            sampler, seed, ref, condition=cond, n=int(images.shape[0]), units="native"
        ),
    }
    return data, kwargs


def swap_layer(
    viewer, sampler: Sampler, images: np.ndarray, seed: int, ref: Layer | None, beside: bool = True
) -> tuple[np.ndarray, dict[str, Any]]:
    """``(C, n, H, W)`` condition swap -> 4D ``(condition, z, y, x)`` layer.

    When the conditions' intensity windows differ a lot (e.g. a T1 and a tissue map), each
    condition is mapped to the model range [-1, 1] so that one contrast setting shows them all.
    """
    names = sampler.class_names
    windows = [sampler.transforms[c] for c in names]
    spans = [w.high - w.low for w in windows]
    comparable = max(spans) <= 4 * min(spans) and max(w.low for w in windows) < min(
        w.high for w in windows
    )
    if comparable:
        units, limits = "native", (min(w.low for w in windows), max(w.high for w in windows))
    else:
        images = np.stack([w.forward(im) for w, im in zip(windows, images)])
        units, limits = "model [-1, 1] per condition", (-1.0, 1.0)
    scale, translate, axis = _placement(viewer, sampler, names[0], ref, beside)
    data = np.moveaxis(images, 1, axis + 1)
    labels = ["z", "y", "x"]  # the stack shares the scans' axes, so it keeps their names
    name = f"{model_name(sampler)} swap step{sampler.step} seed{seed} [{' | '.join(names)}]"
    kwargs = {
        "name": unique_name(viewer, name),
        "scale": (1.0, *scale),
        "translate": (0.0, *translate),
        "contrast_limits": limits,
        "axis_labels": ("condition", *labels),
        "metadata": _meta(
            sampler, seed, ref, conditions=list(names), units=units, axis0="condition"
        ),
    }
    return data, kwargs
