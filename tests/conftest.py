"""Shared fixtures: small real MNI152 volumes, a small network's settings, a notification
recorder for widget tests."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from engine_fixtures import SMALL_CONFIG


@pytest.fixture(scope="session")
def small_config():
    """``small_config(**changes)``: TrainConfig settings (a dict) of a network small enough for
    tests on 2 CPU cores, for ``TrainConfig(**...)``, ``settings.apply(**...)`` or a tiny run."""

    def make(**changes) -> dict:
        return {**SMALL_CONFIG, **changes}

    return make


@pytest.fixture(scope="session")
def mni_small():
    """MNI152 T1, GM, WM at 4 mm, 24 central axial slices: ``{name: ImageData}``."""
    from napari_medgan.io import load_mni152

    out = {}
    for image in load_mni152(resolution=2):
        z0 = image.data.shape[0] // 2 - 24
        data = np.ascontiguousarray(image.data[z0 : z0 + 48 : 2, ::2, ::2], dtype=np.float32)
        spacing = tuple(2 * s for s in image.spacing)
        origin = (image.origin[0] + z0 * image.spacing[0], *image.origin[1:])
        out[image.name] = image.__class__(
            data=data, spacing=spacing, origin=origin, name=image.name, modality="MR"
        )
    return out


@pytest.fixture(scope="session")
def train_tiny_run(mni_small, small_config):
    """Train a small conditional (T1, GM) run with the engine directly; returns its folder.

    Call as ``train_tiny_run(out_dir, steps=..., **config_changes)``.
    """
    import torch

    from napari_medgan.engine import TrainConfig, Trainer, Volume, build_dataset

    def train(out, steps: int, **changes):
        torch.set_num_threads(1)
        vols = [
            Volume(mni_small[n].data, mni_small[n].spacing, condition=n, name=n)
            for n in ("T1", "GM")
        ]
        cfg = TrainConfig(**small_config(steps=steps, slice_axis=0, out_dir=str(out), **changes))
        trainer = Trainer(cfg, build_dataset(vols, 32, 0))
        for _ in trainer.run():
            pass
        trainer.close()
        return out

    return train


NOTIFYING = (  # the dock modules that show napari notifications
    "train.widget", "train.feedback", "train.cohort_input", "train.pair_input", "generate.widget",
    "generate.saving",
    "generate.export_dataset", "generate.translation", "generate.synthesis", "generate.flag",
    "evaluate.widget", "evaluate.panel",
)  # fmt: skip


@pytest.fixture
def notes(monkeypatch):
    """Record napari notifications shown by the docks: list of ``(level, message)``."""
    seen: list[tuple[str, str]] = []
    for name in NOTIFYING:
        module = importlib.import_module(f"napari_medgan.widgets.{name}")
        for level in ("error", "warning", "info"):
            name = f"show_{level}"
            if hasattr(module, name):
                monkeypatch.setattr(
                    module, name, lambda msg, _lvl=level: seen.append((_lvl, str(msg)))
                )
    return seen


@pytest.fixture(scope="module")
def mni_slabs():
    """The demo's kind of split (two held-out slabs per template with a gap) at 32 px."""
    import torch
    from test_metrics_mni import mni_dataset

    from napari_medgan.engine.holdout import split_dataset
    from napari_medgan.engine.metrics import prepare_reference

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ds = mni_dataset()
        train, held, _ = split_dataset(ds, 0.2, seed=0)
        t, tl = train.images[:, 0].numpy(), train.labels.numpy()
        ref = prepare_reference(
            t, tl, list(train.sources), ds.class_names, heldout=held.images[:, 0].numpy(),
            heldout_labels=held.labels.numpy(), heldout_groups=list(held.sources), n_boot=50,
            seed=0, classifier_steps=1,
        )
    finally:
        torch.set_num_threads(before)
    return {"ref": ref, "t": t, "tl": tl, "ts": train.slice_index.numpy()}


@pytest.fixture(autouse=True)
def quick_two_sample_test(request, monkeypatch):
    """The evaluation's two-sample test trains 60-120 epochs per scored set; outside the tests of
    its power (marked ``full_realism``) 3 exercise the same code, here and in spawned children."""
    from napari_medgan.engine.metrics.realism import EPOCHS_ENV

    if request.node.get_closest_marker("full_realism"):
        monkeypatch.delenv(EPOCHS_ENV, raising=False)
    else:
        monkeypatch.setenv(EPOCHS_ENV, "3")
