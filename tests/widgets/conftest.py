"""Fixtures of the dock tests: the MNI templates as layers; torch uses one thread in napari's
process (two cores are shared with the training or evaluation child and with Xvfb)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _one_torch_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def add_mni(mni_small):
    """``add_mni(viewer, names=("T1", "GM"))``: the MNI templates as image layers."""

    def add(viewer, names=("T1", "GM")) -> None:
        for name in names:
            image = mni_small[name]
            viewer.add_image(
                image.data,
                name=name,
                scale=image.spacing,
                translate=image.origin,
                metadata={"modality": "MR"},
            )

    return add
