"""Draw samples from a trained generator, swap conditions, map back to scan units."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .config import TrainConfig
from .data import UNCONDITIONAL, IntensityTransform, SliceGeometry, to_native
from .devices import resolve_device
from .models import Generator, build_generator
from .trained import load_generator

UNITS = ("model", "scan", "native")


class SamplingError(ValueError):
    """A sampling request does not fit the model (unknown condition, bad count...)."""


@dataclass
class Sampler:
    """A generator plus what is needed to turn its output into scans.

    Use :meth:`from_checkpoint`. Units of returned arrays:

    - ``"model"``: the network's [-1, 1] range at training size;
    - ``"scan"``: original intensity units (e.g. HU) at training size;
    - ``"native"``: original units, padding removed and resampled to the source slice grid.
    """

    generator: Generator
    config: TrainConfig
    class_names: list[str]
    conditional: bool
    transforms: dict[str, IntensityTransform]
    geometry: dict[str, SliceGeometry]
    step: int = 0
    path: Path | None = None
    device: torch.device | None = None

    @classmethod
    def from_checkpoint(
        cls, path: str | Path, device: str = "cpu", use_ema: bool = True, prefer: str = "best"
    ) -> Sampler:
        """Load the (EMA) generator of a checkpoint folder or run folder.

        A run folder gives its ``best`` checkpoint (best held-out score) when it has one, else
        its ``latest``; ``prefer="latest"`` always takes the newest.
        """
        ckpt, config, g = load_generator(
            path, "gan", "sample from noise", _empty_generator, use_ema, prefer
        )
        meta = ckpt.meta
        sampler = cls.from_generator(g, meta, config, device=device)
        sampler.step, sampler.path = ckpt.step, ckpt.path
        return sampler

    @classmethod
    def from_generator(
        cls,
        generator: Generator,
        meta: dict[str, Any],
        config: TrainConfig | None = None,
        device: str = "cpu",
    ) -> Sampler:
        """Wrap an in-memory generator with dataset ``meta`` (see ``SliceDataset.meta``)."""
        dev = resolve_device(device)
        return cls(
            generator=generator.to(dev).eval(),
            config=config or TrainConfig(size=generator.size, z_dim=generator.z_dim),
            class_names=list(meta["class_names"]),
            conditional=bool(meta["conditional"]),
            transforms={k: IntensityTransform.from_dict(v) for k, v in meta["transforms"].items()},
            geometry={k: SliceGeometry.from_dict(v) for k, v in meta["geometry"].items()},
            device=dev,
        )

    @property
    def size(self) -> int:
        return self.generator.size

    def latents(self, n: int, seed: int) -> torch.Tensor:
        """The ``n`` latent vectors a seed stands for (the same on every device)."""
        return torch.randn(n, self.generator.z_dim, generator=torch.Generator().manual_seed(seed))

    def sample(
        self, n: int, condition: str | None = None, seed: int = 0, units: str = "scan"
    ) -> np.ndarray:
        """``n`` samples of one condition, ``(n, H, W)`` float32."""
        if not isinstance(n, int) or n < 1:
            raise SamplingError(f"number of samples must be a positive integer (got {n!r})")
        name = self.check_condition(condition)
        z = self.latents(n, seed)
        return self._render(z, name, units)

    def sample_chunks(
        self, n: int, condition: str | None = None, seed: int = 0, units: str = "scan",
        chunk: int = 64,
    ) -> Iterator[np.ndarray]:  # fmt: skip
        """:meth:`sample` in pieces of ``chunk`` images (the same images, in order), so a
        caller can show progress and stop between pieces."""
        if not isinstance(n, int) or n < 1:
            raise SamplingError(f"number of samples must be a positive integer (got {n!r})")
        name = self.check_condition(condition)
        for z in torch.split(self.latents(n, seed), chunk):
            yield self._render(z, name, units)

    def condition_swap(self, n: int = 1, seed: int = 0, units: str = "scan") -> np.ndarray:
        """The same ``n`` latents rendered under every condition, ``(n_classes, n, H, W)``."""
        if not self.conditional:
            raise SamplingError(
                "condition swap needs a conditional model (trained with conditions)"
            )
        if units == "native":
            shapes = {self.geometry[c].native_shape for c in self.class_names}
            if len(shapes) > 1:
                raise SamplingError(
                    "conditions have different native slice shapes; use units='scan' to stack them"
                )
        z = self.latents(n, seed)
        return np.stack([self._render(z, c, units) for c in self.class_names])

    def check_condition(self, condition: str | None) -> str:
        if not self.conditional:
            if condition not in (None, UNCONDITIONAL):
                raise SamplingError(
                    f"this model was trained without conditions; cannot sample {condition!r}"
                )
            return self.class_names[0]
        if condition is None:
            raise SamplingError(
                "this model is conditional; choose a condition: " + ", ".join(self.class_names)
            )
        if condition not in self.class_names:
            raise SamplingError(
                f"unknown condition {condition!r}; the model knows " + ", ".join(self.class_names)
            )
        return condition

    @torch.no_grad()
    def _render(self, z: torch.Tensor, name: str, units: str) -> np.ndarray:
        if units not in UNITS:
            raise SamplingError(f"units must be one of {', '.join(UNITS)} (got {units!r})")
        label = self.class_names.index(name) if self.conditional else 0
        out = []
        for chunk in torch.split(z, 64):
            labels = torch.full((len(chunk),), label, dtype=torch.int64, device=self.device)
            out.append(self.generator(chunk.to(self.device), labels).float()[:, 0].cpu().numpy())
        images = np.concatenate(out)
        if units == "model":
            return images
        images = self.transforms[name].inverse(images)
        if units == "native":
            images = to_native(images, self.geometry[name])
        return images.astype(np.float32)


def _empty_generator(config: TrainConfig, meta: dict[str, Any]) -> Generator:
    n_cls = len(meta["class_names"]) if meta["conditional"] else 1
    return build_generator(
        config.arch,
        config.size,
        n_cls,
        config.z_dim,
        config.base_channels,
        config.max_channels,
        config.class_input,
    )
