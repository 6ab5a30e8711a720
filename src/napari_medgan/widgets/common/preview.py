"""The live preview layer: a row of samples per condition, updated in place."""

from __future__ import annotations

import numpy as np
from napari.layers import Image, Layer

PREVIEW_NAME = "MedGAN preview"
GAP = 2  # pixels of background between tiles


def tile(preview: np.ndarray, gap: int = GAP) -> np.ndarray:
    """``(n, H, W)`` -> ``(H, n*W + (n-1)*gap)`` with -1 (background) between tiles."""
    n, h, w = preview.shape
    out = np.full((h, n * w + (n - 1) * gap), -1.0, dtype=np.float32)
    for i in range(n):
        out[:, i * (w + gap) : i * (w + gap) + w] = preview[i]
    return out


def grid(preview: np.ndarray, gap: int = GAP) -> np.ndarray:
    """``(n, k, S, S)`` -> a row of ``k`` tiles per ``n``; ``(n, S, S)`` -> one row of ``n``."""
    if preview.ndim == 3:
        return tile(preview, gap)
    rows = np.stack([tile(row, gap) for row in preview])
    # the rows tiled side by side after turning each one, turned back: stacked top to bottom
    return np.ascontiguousarray(tile(rows.transpose(0, 2, 1), gap).T)


def show_preview(
    viewer,
    preview: np.ndarray,
    names: list[str],
    pixel_spacing: float,
    beside: Layer | None = None,
    step: int = 0,
) -> Image:
    """Add or update the preview layer.

    Parameters
    ----------
    viewer : napari.Viewer
    preview : numpy.ndarray
        ``(n_classes, k, S, S)`` (a row of ``k`` samples per condition, top to bottom) or
        ``(n_classes, S, S)`` (one tile per condition, left to right), in the model range [-1, 1].
    names : list of str
        Condition of each row (or tile).
    pixel_spacing : float
        mm per training pixel, so tiles have the physical size of the source slices.
    beside : Layer, optional
        Place the preview to the right of this layer (in the displayed plane).
    step : int
        Training step, kept in the layer metadata.
    """
    data = grid(np.asarray(preview, dtype=np.float32))
    scale = (pixel_spacing, pixel_spacing)
    meta = {"medgan_preview": True, "conditions": list(names), "step": int(step)}
    layer = _find(viewer)
    if layer is None:
        layer = viewer.add_image(
            data,
            name=PREVIEW_NAME,
            scale=scale,
            translate=_beside(beside),
            contrast_limits=(-1.0, 1.0),
            colormap="gray",
            metadata=meta,
        )
    else:
        layer.data = data
        layer.scale = scale
        layer.contrast_limits = (-1.0, 1.0)  # new data keeps old limits otherwise
        layer.metadata.update(meta)
    return layer


def _find(viewer) -> Image | None:
    for layer in viewer.layers:
        if isinstance(layer, Image) and layer.metadata.get("medgan_preview"):
            return layer
    return None


def _beside(layer: Layer | None, gap_mm: float = 10.0) -> tuple[float, float]:
    """Translate (y, x) that puts a 2D layer to the right of ``layer`` in world space."""
    if layer is None:
        return (0.0, 0.0)
    ext = np.asarray(layer.extent.world, dtype=float)
    return (float(ext[0, -2]), float(ext[1, -1] + gap_mm))
