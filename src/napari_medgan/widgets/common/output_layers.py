"""Generated arrays -> napari layer data and kwargs that line up with a reference layer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from napari.layers import Layer

from napari_medgan.engine import Sampler
from napari_medgan.io.placement import layer_frame, place_stack, placed_image
from napari_medgan.io.synthetic import GENERATED_KEY, generated_marker
from napari_medgan.napari_glue.session import memorization

__all__ = ["GENERATED_KEY", "model_name", "sample_layer", "swap_layer", "unique_name"]


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


def _place(viewer, sampler: Sampler, condition: str, stack: np.ndarray, ref: Layer | None):
    """The shared placement rule (io.placement) with the reference layer's frame.

    Sample 0 goes on the grid slice nearest to the slice the viewer shows, so new samples appear
    where the user is looking; nothing is offset for display.
    """
    geom = sampler.geometry[condition]
    if ref is None:
        return place_stack(geom, stack)
    frame = layer_frame(ref.ndim, ref.scale, ref.translate, ref.affine)
    point = np.asarray(viewer.dims.point, dtype=float)
    at = point[-3:] if ref.ndim >= 3 and len(point) >= 3 else None
    return place_stack(geom, stack, frame, f"layer '{ref.name}'", at_world=at)


def _layer_kwargs(
    sampler: Sampler,
    data: np.ndarray,
    placement,
    name: str,
    seed: int,
    ref: Layer | None,
    limits: tuple[float, float],
    digest: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    modality = str(ref.metadata.get("modality", "OT")) if ref is not None else "OT"
    kinds = {sampler.transforms[c].kind for c in extra.get("conditions", [extra.get("condition")])}
    if modality.upper() == "CT" and kinds != {"window"}:
        modality = "OT"  # not trained on HU-windowed CT: the samples are not in HU
    meta = {
        "model": str(sampler.path),
        "step": int(sampler.step),
        "seed": int(seed),
        "synthetic": True,
        **extra,
        **generated_marker(
            data, sampler.path, sampler.step, seed, memorization.reasons(sampler.path), digest
        ),
    }
    image = placed_image(data, placement, name, modality, meta, limits)
    return image.to_layer_data()[1]


def sample_layer(
    viewer,
    sampler: Sampler,
    images: np.ndarray,
    condition: str | None,
    seed: int,
    ref: Layer | None,
    digest: str | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """``(n, H, W)`` native samples -> a 3D stack along the training slice axis.

    ``digest``: the placed data's ``data_digest`` when already computed (see ``sample_job``)."""
    cond = condition or sampler.class_names[0]
    data, placement = _place(viewer, sampler, cond, images, ref)
    label = f"{cond} " if sampler.conditional else ""
    name = unique_name(viewer, f"{model_name(sampler)} {label}step{sampler.step} seed{seed}")
    window = sampler.transforms[cond]
    kwargs = _layer_kwargs(
        sampler,
        data,
        placement,
        name,
        seed,
        ref,
        (window.low, window.high),
        digest,
        condition=cond,
        n=int(images.shape[0]),
        units="native",
    )
    return data, kwargs


def swap_layer(
    viewer, sampler: Sampler, images: np.ndarray, seed: int, ref: Layer | None
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
    data, placement = _place(viewer, sampler, names[0], images, ref)
    name = f"{model_name(sampler)} swap step{sampler.step} seed{seed} [{' | '.join(names)}]"
    kwargs = _layer_kwargs(
        sampler,
        data,
        placement,
        unique_name(viewer, name),
        seed,
        ref,
        limits,
        conditions=list(names),
        units=units,
        axis0="condition",
    )
    # the stack shares the scans' axes, so it keeps their names
    kwargs["axis_labels"] = ("condition", "z", "y", "x")
    return data, kwargs
