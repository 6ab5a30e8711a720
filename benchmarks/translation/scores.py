"""MAE, PSNR and SSIM of predicted slices against the true ones, in the target's units."""

from __future__ import annotations

import numpy as np
from skimage.metrics import structural_similarity


def scores(pred: np.ndarray, truth: np.ndarray, data_range: float) -> dict[str, float]:
    """Means over slices ``(n, h, w)``; PSNR and SSIM with the target window as data range."""
    mae = float(np.abs(pred - truth).mean())
    mse = float(((pred - truth) ** 2).mean())
    psnr = float(10 * np.log10(data_range**2 / mse)) if mse > 0 else float("inf")
    ssim = float(
        np.mean(
            [structural_similarity(p, t, data_range=data_range) for p, t in zip(pred, truth)]
        )
    )
    return {"mae": mae, "psnr": psnr, "ssim": ssim}
