"""Fixtures of the dock tests: torch uses one thread in napari's process (two cores are shared
with the training or evaluation child and with Xvfb)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _one_torch_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
