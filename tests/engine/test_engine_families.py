"""The family seam: the registry, named loss series, and checkpoints written before families."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from napari_medgan.engine import ConfigError, Sampler, TrainConfig, Trainer, Volume, build_dataset
from napari_medgan.engine.checkpoint import load_checkpoint
from napari_medgan.engine.config import FAMILIES
from napari_medgan.engine.families import FAMILIES as REGISTERED
from napari_medgan.engine.families import family_of, get_family

RELEASE_RUN = Path(__file__).resolve().parents[1] / "data" / "release_gan_run"


def test_every_config_family_is_registered():
    assert tuple(REGISTERED) == FAMILIES
    for name in FAMILIES:
        family = get_family(name)
        assert family.name == name and family.loss_names
    with pytest.raises(ConfigError, match="family must be one of"):
        TrainConfig(family="vae").validate()


def test_checkpoint_from_the_last_release_is_a_gan_and_samples():
    ckpt = load_checkpoint(RELEASE_RUN)
    assert "family" not in ckpt.config and family_of(ckpt.config) == "gan"
    sampler = Sampler.from_checkpoint(RELEASE_RUN)
    images = sampler.sample(3, "GM", seed=1)
    assert images.shape == (3, 32, 32) and np.isfinite(images).all()
    assert sampler.config.family == "gan"


def test_checkpoint_from_the_last_release_resumes(mni_small, tmp_path):
    run = shutil.copytree(RELEASE_RUN, tmp_path / "run")
    saved = load_checkpoint(run)
    config = TrainConfig.from_dict(saved.config).replace(out_dir=str(run), steps=6)
    vols = [
        Volume(mni_small[n].data, mni_small[n].spacing, condition=n, name=n) for n in ("T1", "GM")
    ]
    trainer = Trainer(config, build_dataset(vols, 32, 0), resume=run)
    assert trainer.step == 4
    reports = list(trainer.run())
    trainer.close()
    assert reports[-1].step == 6 and set(reports[-1].losses) == {
        "loss_d", "loss_g", "d_real", "d_fake",
    }  # fmt: skip
    resumed = load_checkpoint(run)
    assert resumed.step == 6 and resumed.config["family"] == "gan"
    key = next(iter(saved.models["G"]))
    assert not torch.equal(resumed.models["G"][key], saved.models["G"][key])  # it trained on
