"""What paired families share: slices of co-registered volumes stacked as channels, with their
provenance, gathered into one :class:`~napari_medgan.engine.data.SliceDataset`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from ..data import (
    IntensityTransform,
    SliceDataset,
    SliceGeometry,
    Volume,
    unique_name,
)

if TYPE_CHECKING:  # pragma: no cover
    from ..trainer import Trainer


class PairedSlices:
    """Collects each pair's kept slices (channels stacked) and where they came from."""

    def __init__(self, slice_axis: int) -> None:
        self.slice_axis = slice_axis
        self.images: list[torch.Tensor] = []
        self.index: list[torch.Tensor] = []
        self.sources: list[str] = []
        self.groups: list[str] = []
        self.used: set[str] = set()
        self.geometry: SliceGeometry | None = None

    def add(
        self, volume: Volume, stacked: torch.Tensor, keep: np.ndarray, geom: SliceGeometry
    ) -> None:
        """Add ``stacked`` ``(n, C, S, S)``, the ``keep`` slices of ``volume`` (named after it,
        grouped by its group); the first pair's ``geom`` becomes the set's geometry."""
        if self.geometry is None:
            geom.slice_axis = self.slice_axis if np.ndim(volume.data) == 3 else None
            geom.origin = tuple(volume.origin or ())
            self.geometry = geom
        self.images.append(stacked)
        label = unique_name(volume.name, self.used)
        self.sources += [label] * len(stacked)
        self.index.append(torch.from_numpy(np.flatnonzero(keep)).to(torch.int64))
        group = str(volume.group) if volume.group is not None else label
        self.groups += [group] * len(stacked)

    def dataset(
        self,
        name: str,
        transforms: dict[str, IntensityTransform],
        roles: dict[str, dict[str, str]],
    ) -> SliceDataset:
        """The collected slices as one unconditional set named ``name``, with ``roles``."""
        assert self.geometry is not None, "no pair added"
        cat = torch.cat(self.images)
        return SliceDataset(
            images=cat,
            labels=torch.zeros(len(cat), dtype=torch.int64),
            class_names=[name],
            transforms=dict(transforms),
            geometry={name: self.geometry},
            conditional=False,
            sources=self.sources,
            slice_index=torch.cat(self.index),
            groups=self.groups,
            roles=roles,
        )


def pair_batch(t: Trainer) -> torch.Tensor:
    """A training batch of stacked pairs ``(B, C, S, S)`` drawn with ``t.rng``: with
    ``config.crop``, one ``crop``-px window at full resolution for the whole batch."""
    cfg = t.config
    idx = torch.randint(0, t.images.shape[0], (cfg.batch_size,), generator=t.rng,
                        device=t.rng.device)  # fmt: skip
    pair = t.images[idx.to(t.device)]
    if cfg.crop:
        top, left = torch.randint(
            0, cfg.size - cfg.crop + 1, (2,), generator=t.rng, device=t.rng.device
        ).tolist()
        pair = pair[:, :, top : top + cfg.crop, left : left + cfg.crop]
    return pair
