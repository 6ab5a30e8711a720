"""``TrainConfig.compile``: torch.compile of G and D, with an eager fallback."""

import pytest
import torch

from engine_fixtures import mni_volumes, tiny_config
from napari_medgan.engine import Trainer, build_dataset
from napari_medgan.engine.compiling import compile_networks, is_compiled
from napari_medgan.engine.config import TrainConfig


@pytest.fixture(scope="module")
def mni32():
    return build_dataset(mni_volumes(), 32)


def test_compile_setting_round_trips_and_defaults_off():
    assert TrainConfig().compile is False
    assert TrainConfig.from_dict(TrainConfig(compile=True).to_dict()).compile is True
    old = TrainConfig().to_dict()
    old.pop("compile")  # configs saved before the setting existed
    assert TrainConfig.from_dict(old).compile is False


def test_unavailable_compile_leaves_the_networks_eager(tmp_path, monkeypatch, mni32, caplog):
    def refuse(*args, **kwargs):
        raise RuntimeError("Dynamo is not supported on this Python")

    monkeypatch.setattr(torch, "compile", refuse)
    trainer = Trainer(tiny_config(tmp_path, steps=2, compile=True), mni32)
    assert not is_compiled(trainer.G) and not is_compiled(trainer.D)
    assert "torch.compile unavailable" in caplog.text
    reports = list(trainer.run())
    assert reports[-1].status == "finished"
    trainer.close()


def test_compiled_training_runs_and_its_checkpoint_resumes_eager(tmp_path, mni32):
    cfg = tiny_config(tmp_path, steps=3, preview_every=2, compile=True)
    trainer = Trainer(cfg, mni32)
    # only the training networks: sampling (the EMA copy) stays eager
    assert is_compiled(trainer.G) and is_compiled(trainer.D) and not is_compiled(trainer.G_ema)
    reports = list(trainer.run())
    assert reports[-1].status == "finished" and reports[-1].step == 3
    losses = [[r.losses["loss_d"], r.losses["loss_g"]] for r in reports]
    assert all(torch.isfinite(torch.tensor(pair)).all() for pair in losses)
    assert any(r.preview is not None for r in reports)
    weights = {k: v.clone() for k, v in trainer.G.state_dict().items()}
    trainer.close()
    # parameter names are the eager ones; turning compile off is an allowed change on resume
    resumed = Trainer(cfg.replace(compile=False, steps=4), mni32, resume=tmp_path)
    assert not is_compiled(resumed.G)
    assert all(torch.equal(weights[k], v) for k, v in resumed.G.state_dict().items())
    resumed.close()


def test_compile_networks_replaces_forward_on_the_instance_only():
    a, b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    assert compile_networks(a)
    assert is_compiled(a) and not is_compiled(b)
    assert set(a.state_dict()) == set(b.state_dict())
