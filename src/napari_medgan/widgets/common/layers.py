"""napari layers -> engine volumes, with checks that name the layer and the problem."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from napari.layers import Image, Labels, Layer

from napari_medgan.engine import DataError, Volume


@dataclass
class Choice:
    """One chosen layer and the condition name the user gave it."""

    layer: Layer
    condition: str


def check_layer(layer: Layer) -> None:
    """Raise :class:`DataError` unless ``layer`` is a single-channel 2D/3D image layer."""
    name = layer.name
    if isinstance(layer, Labels):
        raise DataError(f"{name!r} is a Labels layer; choose an image layer (use it as a mask)")
    if not isinstance(layer, Image):
        raise DataError(f"{name!r} is a {type(layer).__name__} layer, not an image")
    if layer.rgb:
        raise DataError(f"{name!r} is an RGB image; choose a single-channel (grey) scan")
    if layer.multiscale:
        raise DataError(f"{name!r} is multiscale; open it at a single resolution")
    shape = tuple(layer.data.shape)
    if len(shape) not in (2, 3):
        raise DataError(
            f"{name!r} has {len(shape)} dimensions {shape}; use a 2D image or a 3D volume"
        )
    if min(shape[-2:]) < 8:
        raise DataError(f"{name!r} is only {shape[-2]}x{shape[-1]} pixels; at least 8x8 is needed")


def check_conditions(choices: Sequence[Choice], conditional: bool) -> list[str]:
    """Validate condition names; return warnings (pooled layers) or raise :class:`DataError`."""
    if not choices:
        raise DataError("no image layer chosen; tick at least one image layer to train on")
    if not conditional:
        return []
    names = [c.condition.strip() for c in choices]
    for choice, name in zip(choices, names):
        if not name:
            raise DataError(f"{choice.layer.name!r} has an empty condition name")
    folded: dict[str, str] = {}
    for name in names:
        key = " ".join(name.lower().split())
        if key in folded and folded[key] != name:
            raise DataError(
                f"condition names {folded[key]!r} and {name!r} differ only in case or spaces; "
                "use one spelling"
            )
        folded[key] = name
    warnings = []
    for name in dict.fromkeys(names):
        pooled = [c.layer.name for c, n in zip(choices, names) if n == name]
        if len(pooled) > 1:
            warnings.append(f"{', '.join(pooled)} share the condition {name!r}: pooled together")
    if len(set(names)) == 1 and len(choices) > 1:
        warnings.append("all layers have one condition; tick 'no conditions' for a plain GAN")
    return warnings


def to_volumes(
    choices: Sequence[Choice], conditional: bool, mask: Labels | None = None
) -> list[Volume]:
    """Turn the chosen layers into engine volumes (data, geometry, condition, modality, mask)."""
    volumes = []
    for choice in choices:
        layer = choice.layer
        check_layer(layer)
        data = np.asarray(layer.data)
        mask_data = None
        if mask is not None:
            mask_data = np.asarray(mask.data)
            if mask_data.shape != data.shape:
                raise DataError(
                    f"mask {mask.name!r} has shape {mask_data.shape} but {layer.name!r} has "
                    f"{data.shape}; choose a mask drawn on that image"
                )
            if not mask_data.any():
                raise DataError(f"mask {mask.name!r} is empty; paint the region to train on")
        spacing = tuple(float(s) for s in layer.scale[-data.ndim :])
        volumes.append(
            Volume(
                data=data,
                spacing=spacing,
                condition=choice.condition.strip() if conditional else None,
                modality=str(layer.metadata.get("modality", "MR")),
                name=layer.name,
                mask=mask_data,
                origin=tuple(float(t) for t in layer.translate[-data.ndim :]),
            )
        )
    return volumes


def labels_volume(layer: Labels) -> Volume:
    """A Labels layer as an engine volume on its own grid (scale and translate)."""
    data = np.asarray(layer.data)
    if data.ndim not in (2, 3):
        raise DataError(f"{layer.name!r} has {data.ndim} dimensions; use a 2D or 3D label map")
    return Volume(
        data=data,
        spacing=tuple(float(s) for s in layer.scale[-data.ndim :]),
        modality="OT",
        name=layer.name,
        origin=tuple(float(t) for t in layer.translate[-data.ndim :]),
    )


def world_extent(layer: Layer) -> tuple[np.ndarray, np.ndarray]:
    """World (min, max) corners of a layer's data, per axis (mm)."""
    ext = np.asarray(layer.extent.world, dtype=float)
    return ext[0], ext[1]


def refill(combo, names: Sequence[str], fallback: int | None = None) -> None:
    """Offer ``names`` in ``combo`` without emitting signals; keep the current choice when it is
    still offered, else select ``fallback`` (an index; None: Qt's own choice)."""
    current = combo.currentText()
    combo.blockSignals(True)
    combo.clear()
    combo.addItems(list(names))
    if current in names:
        combo.setCurrentText(current)
    elif fallback is not None and 0 <= fallback < len(names):
        combo.setCurrentIndex(fallback)
    combo.blockSignals(False)


def fill_mask_combo(combo, layers) -> None:
    """List the Labels layers in ``combo`` (data: layer name), keeping the current choice."""
    current = combo.currentData()
    combo.blockSignals(True)
    combo.clear()
    combo.addItem("none (skip near-empty slices)", None)
    for lay in layers:
        if isinstance(lay, Labels):
            combo.addItem(lay.name, lay.name)
    combo.setCurrentIndex(max(combo.findData(current), 0))
    combo.blockSignals(False)
