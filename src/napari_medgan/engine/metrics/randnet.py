"""A fixed random-weight CNN: the default feature extractor of KID and FD.

Never trained, so it cannot have learned the data it scores, and its weights depend only on
``(size, seed)``: they are drawn from a private CPU :class:`torch.Generator` (no global seed),
which gives the same bytes on every machine and thread count. Reports name it by the SHA-256 of
those bytes. Why a random network by default and not one trained here (``extractor="trained"``): see
``docs/evaluation.md`` ("Which feature extractor") — on two demo models neither ranks verbatim
copies below the trained generator reliably (41 held-out slices), both rank the untrained one far
last, and this one needs no training time and is the same bytes on every machine.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import torch
import torch.nn.functional as F

ARCH = "medgan-randcnn-v1"
WIDTHS = (16, 32, 64, 64)
MAX_INPUT = 64


def _draw_weights(seed: int) -> dict[str, torch.Tensor]:
    """He-normal 3×3 kernels and zero biases, in a fixed order from one private generator."""
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    weights, c_in = {}, 1
    for i, c_out in enumerate(WIDTHS):
        std = (2.0 / (c_in * 9)) ** 0.5
        w = torch.randn(c_out, c_in, 3, 3, generator=gen, dtype=torch.float64) * std
        weights[f"conv{i}.weight"] = w.float().contiguous()
        c_in = c_out
    return weights


class RandomFeatures:
    """Multi-scale statistics of a random CNN: per stage, the spatial mean of each channel.

    Each stage is a 3×3 convolution, a ReLU and a 2×2 average pool; the feature vector is the
    concatenation of the stages' channel means (``sum(WIDTHS)`` values), so it sees fine
    texture in the first stage and coarse layout in the last. Inputs above 64 px are resized to
    64 px (antialiased); smaller ones are used as they are.

    Parameters
    ----------
    seed : int
        Seed of the weights.
    """

    kind = "features"

    def __init__(self, seed: int = 0) -> None:
        self.seed = int(seed)
        self.weights = _draw_weights(self.seed)
        self._blob: bytes | None = None

    @property
    def dim(self) -> int:
        return int(sum(WIDTHS))

    def _bytes(self) -> bytes:
        if self._blob is None:
            from safetensors.torch import save

            state = dict(self.weights)
            meta = json.dumps({"arch": ARCH, "seed": self.seed}, sort_keys=True).encode()
            state["_meta_json"] = torch.tensor(list(meta), dtype=torch.uint8)
            self._blob = save(state)
        return self._blob

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self._bytes()).hexdigest()

    @property
    def name(self) -> str:
        return f"{ARCH} sha256:{self.sha256[:12]}"

    def describe(self) -> dict:
        return {
            "name": self.name,
            "arch": ARCH,
            "kind": "random (untrained, fixed seed)",
            "sha256": self.sha256,
            "seed": self.seed,
            "dim": self.dim,
            "trained_on": "nothing (random weights)",
        }

    def save(self, path) -> None:
        """Write the weights as safetensors (no pickle)."""
        from pathlib import Path

        Path(path).write_bytes(self._bytes())

    @torch.no_grad()
    def features(self, images: np.ndarray, batch: int = 256) -> np.ndarray:
        """``(N, dim)`` float64 features of ``(N, H, W)`` images in [-1, 1]."""
        x = torch.as_tensor(np.asarray(images, dtype=np.float32))
        if x.ndim == 3:
            x = x[:, None]
        out = [self._forward(x[s : s + batch]) for s in range(0, len(x), batch)]
        return torch.cat(out).double().numpy() if out else np.zeros((0, self.dim))

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] > MAX_INPUT:
            x = F.interpolate(x, size=(MAX_INPUT, MAX_INPUT), mode="bilinear",
                              align_corners=False, antialias=True)
        feats = []
        for i in range(len(WIDTHS)):
            x = F.relu(F.conv2d(x, self.weights[f"conv{i}.weight"], padding=1))
            feats.append(x.mean(dim=(2, 3)))
            if min(x.shape[-2:]) >= 4:
                x = F.avg_pool2d(x, 2)
        return torch.cat(feats, dim=1)
