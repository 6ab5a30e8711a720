"""Synthesise whole scans from label maps with a mask-to-image run, on the label map's grid."""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ...config import TrainConfig
from ...data import DataError, IntensityTransform, Volume, resize_pad, to_native, volume_slices
from ...devices import resolve_device
from ...trained import load_generator
from .. import FamilyError
from .networks import GLOBAL_NOISE, PIXEL_NOISE, SpadeGenerator, one_hot
from .pairs import IMAGE, LABELS, check_labels, parse_label_values, resize_labels, to_index


@dataclass
class Synthesizer:
    """The (EMA) generator of a mask-to-image run and the maps between it and scan units.

    Use :meth:`from_checkpoint`; :meth:`synthesize` makes a scan from a label map.
    """

    generator: SpadeGenerator
    config: TrainConfig
    transforms: dict[str, IntensityTransform]
    roles: dict[str, dict[str, str]]
    step: int = 0
    path: Path | None = None
    device: torch.device | None = None

    @classmethod
    def from_checkpoint(
        cls, path: str | Path, device: str = "cpu", use_ema: bool = True, prefer: str = "best"
    ) -> Synthesizer:
        """Load a run folder (its ``best`` checkpoint, else ``latest``) or a checkpoint folder."""
        def build(cfg: TrainConfig, meta: dict) -> SpadeGenerator:
            k = len(parse_label_values(meta["roles"][LABELS]["values"]))
            return SpadeGenerator(cfg.size, k, cfg.base_channels, cfg.max_channels, cfg.crop)

        ckpt, config, g = load_generator(
            path, "mask2image", "make images from a label map", build, use_ema, prefer
        )
        dev = resolve_device(device)
        return cls(
            generator=g.to(dev).eval(),
            config=config,
            transforms={
                k: IntensityTransform.from_dict(v) for k, v in ckpt.meta["transforms"].items()
            },
            roles=dict(ckpt.meta.get("roles") or {}),
            step=ckpt.step,
            path=ckpt.path,
            device=dev,
        )

    @property
    def label_values(self) -> list[int]:
        return parse_label_values(self.roles[LABELS]["values"])

    @property
    def image_name(self) -> str:
        return self.roles.get(IMAGE, {}).get("name", IMAGE)

    @property
    def modality(self) -> str:
        return self.roles.get(IMAGE, {}).get("modality", "OT")

    def check_labels(self, labels: Volume) -> None:
        """Raise :class:`FamilyError` unless ``labels`` is a label map with the run's values."""
        try:
            check_labels(labels, self.label_values)
        except DataError as exc:
            raise FamilyError(str(exc)) from None

    def slice_count(self, labels: Volume) -> int:
        """How many slices :meth:`synthesize` runs through the network (its progress total)."""
        shape = np.shape(labels.data)
        return 1 if len(shape) == 2 else int(shape[self.config.slice_axis])

    @torch.no_grad()
    def synthesize_steps(
        self, labels: Volume, seed: int = 0, chunk: int = 32
    ) -> Generator[int, None, np.ndarray]:
        """:meth:`synthesize` one chunk at a time, for callers that show progress or may stop.

        Checks the labels first, then yields 0 and the number of slices done after each chunk;
        returns the image.
        """
        self.check_labels(labels)
        yield 0
        values, size = self.label_values, self.config.size
        index, _, in_plane, step = volume_slices(labels, self.config.slice_axis)
        index = to_index(index, values)
        geom = resize_pad(np.zeros((1, *index.shape[1:]), np.float32), in_plane, size, step)[1]
        gen = torch.Generator().manual_seed(int(seed))
        code = torch.randn(1, GLOBAL_NOISE, 1, 1, generator=gen).expand(-1, -1, size, size)
        out = np.empty(index.shape, dtype=np.float32)
        for start in range(0, len(index), chunk):
            part = resize_labels(index[start : start + chunk], len(values), geom, size)
            pixel = torch.randn(len(part), PIXEL_NOISE, size, size, generator=gen)
            noise = torch.cat([code.expand(len(part), -1, -1, -1), pixel], dim=1)
            onehot = one_hot(part.to(self.device), len(values))
            fake = self.generator(onehot, noise.to(self.device)).float()[:, 0].cpu().numpy()
            out[start : start + len(part)] = to_native(fake, geom)
            yield start + len(part)
        out = self.transforms[IMAGE].inverse(out)
        if np.ndim(labels.data) == 2:
            return out[0]
        return np.ascontiguousarray(np.moveaxis(out, 0, self.config.slice_axis))

    def synthesize(
        self,
        labels: Volume,
        seed: int = 0,
        progress: Callable[[int, int], None] | None = None,
        chunk: int = 32,
    ) -> np.ndarray:
        """An image matching ``labels``: same shape and grid, the run's image units (float32).

        Slices are taken along the run's slice axis, resized to the training size as in
        training (labels by majority), synthesised with noise from ``seed`` (one per-image code
        for the whole volume, so its slices share a style) and resampled back to the label
        map's in-plane size. ``progress(done, total)`` as for a translation.
        """
        steps, total = self.synthesize_steps(labels, seed, chunk), self.slice_count(labels)
        while True:
            try:
                done = next(steps)
            except StopIteration as finished:
                return finished.value
            if progress is not None:
                progress(done, total)
