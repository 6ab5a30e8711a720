"""PNG contact sheets: rows of labelled image tiles (Pillow only)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

LABEL_W = 90
PAD = 2


def to_uint8(images: np.ndarray, low: float = -1.0, high: float = 1.0) -> np.ndarray:
    """Map ``[low, high]`` to 0..255."""
    scaled = (np.asarray(images, dtype=np.float32) - low) / max(high - low, 1e-12)
    return (np.clip(scaled, 0, 1) * 255 + 0.5).astype(np.uint8)


def contact_sheet(
    rows: list[tuple[str, np.ndarray]],
    path: str | Path,
    zoom: int = 2,
    header: str | None = None,
) -> Path:
    """Write rows of uint8 tiles ``(n, H, W)``, each row labelled on its left, to a PNG.

    The file is written under a temporary name and renamed, so it is never half-written.
    """
    h = max(tiles.shape[1] for _, tiles in rows) * zoom
    w = max(tiles.shape[2] for _, tiles in rows) * zoom
    n = max(len(tiles) for _, tiles in rows)
    top = 16 if header else 0
    sheet = Image.new("L", (LABEL_W + n * (w + PAD), top + len(rows) * (h + PAD)), 0)
    draw = ImageDraw.Draw(sheet)
    if header:
        draw.text((4, 2), header, fill=255)
    for r, (label, tiles) in enumerate(rows):
        y = top + r * (h + PAD)
        draw.text((4, y + h // 2 - 6), label[:14], fill=255)
        for c, tile in enumerate(tiles):
            img = Image.fromarray(tile).resize(
                (tile.shape[1] * zoom, tile.shape[0] * zoom), Image.NEAREST
            )
            sheet.paste(img, (LABEL_W + c * (w + PAD), y))
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    sheet.save(tmp, format="PNG")
    os.replace(tmp, path)
    return path
