"""The trained feature extractor is the same bytes whatever thread count the caller runs with."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from napari_medgan.engine.metrics.features import reproducible_cpu

BUILD = """
import json, sys
import pytest
import torch
torch.set_num_threads({threads})
sys.path.insert(0, {tests!r})
from engine_fixtures import mni_volumes
from napari_medgan.engine.data import build_dataset
from napari_medgan.engine.holdout import split_dataset
from napari_medgan.engine.metrics.features import position_bins, train_net
train, _, _ = split_dataset(build_dataset(mni_volumes(), size=32), 0.2, seed=0)
net = train_net(train.images[:, 0].numpy(), {{"condition": train.labels.numpy(),
                "position": position_bins(list(train.sources))}}, "features", steps=40, seed=0)
print(json.dumps({{"sha": net.sha256, "threads": torch.get_num_threads()}}))
"""


def _build(threads: int) -> dict:
    code = BUILD.format(threads=threads, tests=str(Path(__file__).resolve().parents[2]))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_trained_extractor_same_sha256_under_1_and_2_threads():
    """Built on the training split of real MNI slices in two fresh processes started with 1 and
    2 torch threads: identical SHA-256, and each process got its thread count back."""
    one, two = _build(1), _build(2)
    assert one["sha"] == two["sha"]
    assert (one["threads"], two["threads"]) == (1, 2)


def test_reproducible_cpu_restores_the_callers_settings():
    threads = torch.get_num_threads()
    det = torch.are_deterministic_algorithms_enabled()
    mkldnn = torch.backends.mkldnn.enabled
    torch.set_num_threads(2)
    try:
        with reproducible_cpu():
            assert torch.get_num_threads() == 1 and torch.are_deterministic_algorithms_enabled()
            assert not torch.backends.mkldnn.enabled
        assert torch.get_num_threads() == 2
        assert torch.are_deterministic_algorithms_enabled() == det
        assert torch.backends.mkldnn.enabled == mkldnn
    finally:
        torch.set_num_threads(threads)


def test_trained_extractor_option_is_built_on_the_training_slices_only(monkeypatch):
    """``extractor="trained"`` trains the feature network on T (the run's training slices of
    real MNI data), never on the held-out reference it scores against; other names are refused."""
    import numpy as np

    from engine_fixtures import mni_volumes
    from napari_medgan.engine import build_dataset, split_dataset
    from napari_medgan.engine.metrics import features, prepare_reference

    monkeypatch.setattr(features, "EXTRACTOR_STEPS", 20)
    train, held, _ = split_dataset(build_dataset(mni_volumes(), size=32), 0.2, seed=0)
    x_t, y_t, g_t = train.images[:, 0].numpy(), train.labels.numpy(), list(train.sources)
    args = dict(heldout=held.images[:, 0].numpy(), heldout_labels=held.labels.numpy(),
                heldout_groups=list(held.sources), n_boot=10, classifier_steps=10)
    ref = prepare_reference(x_t, y_t, g_t, list(train.class_names), extractor="trained", **args)
    assert ref.extractor.describe()["kind"] == "features"
    assert set(ref.extractor.tasks) == {"condition", "position", "rotation"}
    assert ref.extractor.sha256 == features.train_extractor(x_t, y_t, g_t, 0).sha256
    assert ref.feats_h.shape == (len(held), features.FEATURE_DIM) and np.isfinite(ref.feats_h).all()
    with pytest.raises(ValueError, match="unknown feature extractor 'inception'"):
        prepare_reference(x_t, y_t, g_t, extractor="inception", **args)
