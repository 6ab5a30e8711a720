"""Translate whole scans with a translation run: slice by slice, back on the input grid."""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ...config import TrainConfig
from ...data import IntensityTransform, Volume, resize_pad, to_native, volume_slices
from ...devices import resolve_device
from ...trained import load_generator
from .. import FamilyError
from .networks import UNetGenerator
from .pairs import SOURCE, TARGET

#: An input whose robust range (0.5-99.5 percentiles) spans less than 1/RANGE_RATIO or more
#: than RANGE_RATIO times the source window is taken to be in other units than the run's source.
RANGE_RATIO = 8.0


@dataclass
class Translator:
    """The (EMA) generator of a translation run and the maps between it and scan units.

    Use :meth:`from_checkpoint`; :meth:`translate` maps a whole scan.
    """

    generator: UNetGenerator
    config: TrainConfig
    transforms: dict[str, IntensityTransform]
    roles: dict[str, dict[str, str]]
    step: int = 0
    path: Path | None = None
    device: torch.device | None = None

    @classmethod
    def from_checkpoint(
        cls, path: str | Path, device: str = "cpu", use_ema: bool = True, prefer: str = "best"
    ) -> Translator:
        """Load a run folder (its ``best`` checkpoint, else ``latest``) or a checkpoint folder."""
        ckpt, config, g = load_generator(
            path, "translate", "translate a scan",
            lambda cfg, _meta: UNetGenerator(
                cfg.size, cfg.base_channels, cfg.max_channels, cfg.crop
            ),
            use_ema, prefer,
        )  # fmt: skip
        meta = ckpt.meta
        dev = resolve_device(device)
        return cls(
            generator=g.to(dev).eval(),
            config=config,
            transforms={k: IntensityTransform.from_dict(v) for k, v in meta["transforms"].items()},
            roles=dict(meta.get("roles") or {}),
            step=ckpt.step,
            path=ckpt.path,
            device=dev,
        )

    @property
    def source_name(self) -> str:
        return self.roles.get(SOURCE, {}).get("name", SOURCE)

    @property
    def target_name(self) -> str:
        return self.roles.get(TARGET, {}).get("name", TARGET)

    def check_input(self, volume: Volume) -> None:
        """Raise :class:`FamilyError` when ``volume`` is not in the units of the run's source.

        Refused: another modality than the source's (CT vs MR), or an intensity range far from
        the source window (e.g. a scan normalised to 0..1 for a run trained in raw units).
        """
        want = self.roles.get(SOURCE, {}).get("modality", "").upper()
        have = volume.modality.upper()
        if want and (want == "CT") != (have == "CT"):
            raise FamilyError(
                f"{volume.name} is {have}, but this run translates {want} "
                f"{self.source_name} scans"
            )
        values = np.asarray(volume.data, dtype=np.float32)
        values = values[np.isfinite(values)][:: max(1, values.size // 1_000_000)]
        t = self.transforms[SOURCE]
        if values.size == 0:
            raise FamilyError(f"{volume.name} has no finite values")
        low, high = np.percentile(values, (0.5, 99.5))
        span, window = float(high - low), t.high - t.low
        if not (window / RANGE_RATIO <= span <= window * RANGE_RATIO):
            raise FamilyError(
                f"{volume.name} spans {low:g}..{high:g}, but the run's {self.source_name} "
                f"scans spanned {t.low:g}..{t.high:g}: it seems to be in other units; give a "
                "scan in the units the run was trained on"
            )

    def slice_count(self, volume: Volume) -> int:
        """How many slices :meth:`translate` runs through the network (its progress total)."""
        shape = np.shape(volume.data)
        return 1 if len(shape) == 2 else int(shape[self.config.slice_axis])

    @torch.no_grad()
    def translate_steps(self, volume: Volume, chunk: int = 32) -> Generator[int, None, np.ndarray]:
        """:meth:`translate` one chunk at a time, for callers that show progress or may stop.

        Checks the input first (:meth:`check_input`), then yields 0 and the number of slices
        done after each chunk; returns the translated array.
        """
        self.check_input(volume)
        yield 0
        axis = self.config.slice_axis
        slices, _, in_plane, step = volume_slices(volume, axis)
        src = self.transforms[SOURCE]
        norm = src.forward(np.nan_to_num(slices, nan=src.low))
        out = np.empty(slices.shape, dtype=np.float32)
        for start in range(0, len(norm), chunk):
            part, geom = resize_pad(norm[start : start + chunk], in_plane, self.config.size, step)
            fake = self.generator(part.to(self.device)).float()[:, 0].cpu().numpy()
            out[start : start + len(part)] = to_native(fake, geom)
            yield start + len(part)
        out = self.transforms[TARGET].inverse(out)
        if np.ndim(volume.data) == 2:
            return out[0]
        return np.ascontiguousarray(np.moveaxis(out, 0, axis))

    def translate(
        self,
        volume: Volume,
        progress: Callable[[int, int], None] | None = None,
        chunk: int = 32,
    ) -> np.ndarray:
        """``volume`` in the target contrast: same shape and grid, target units (float32).

        Slices are taken along the run's slice axis (2D images are one slice), resized to the
        training size as in training, translated, and resampled back to the input's own in-plane
        size. ``progress(done, total)`` is called once the input has passed :meth:`check_input`
        and after each chunk of slices.
        """
        steps, total = self.translate_steps(volume, chunk), self.slice_count(volume)
        while True:
            try:
                done = next(steps)
            except StopIteration as finished:
                return finished.value
            if progress is not None:
                progress(done, total)
