"""The small-data GAN pieces: augmentation, ADA, EMA BatchNorm statistics, presets, CT window."""

import numpy as np
import pytest
import torch

from engine_fixtures import mni_volumes, tiny_config
from napari_medgan.engine import ConfigError, Trainer, Volume, build_dataset
from napari_medgan.engine.ada import AdaptiveAugment
from napari_medgan.engine.augment import OPS, augment
from napari_medgan.engine.config import (
    AUGMENT_OPS,
    RECIPE_KEYS,
    TrainConfig,
    default_for_device,
    preset,
    preset_for_device,
)
from napari_medgan.engine.devices import autocast, grad_scaler, precision_for
from napari_medgan.engine.ema import recalibrate_batchnorm
from napari_medgan.engine.models import build_models


@pytest.fixture(scope="module")
def dataset():
    return build_dataset(mni_volumes(), size=32)


def _slices(n=8, size=32):
    ds = build_dataset(mni_volumes()[:1], size=size)
    return ds.images[torch.linspace(10, len(ds) - 10, n).long()]


@pytest.mark.parametrize("op", OPS)
def test_each_op_keeps_shape_changes_images_and_passes_gradients(op):
    x = _slices().clone().requires_grad_(True)
    gen = torch.Generator().manual_seed(0)
    y = augment(x, (op,), gen, p=1.0)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert not torch.allclose(y, x)  # p=1: every image is transformed
    if op in ("translation", "rotation", "scale", "flip", "gamma", "cutout"):
        assert y.min() >= -1 - 1e-5 and y.max() <= 1 + 1e-5  # stays in the model range
    else:
        assert y.abs().max() < 4
    y.sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_probability_zero_is_identity_and_flip_only_when_listed():
    x = _slices()
    gen = torch.Generator().manual_seed(0)
    ops = tuple(o for o in OPS if o != "cutout")
    y = augment(x, ops, gen, p=torch.tensor(0.0))
    torch.testing.assert_close(y, x, atol=1e-5, rtol=0)
    assert "flip" not in TrainConfig().augment and "flip" in AUGMENT_OPS
    with pytest.raises(ValueError, match="unknown augmentation"):
        augment(x, ("mirror",), gen)


def test_augmentation_probability_is_per_image():
    x = _slices(64)
    y = augment(x, ("cutout",), torch.Generator().manual_seed(1), p=0.5)
    changed = (y != x).flatten(1).any(1).float().mean().item()
    assert 0.25 < changed < 0.75


def test_ada_raises_p_when_d_overfits_and_lowers_it_otherwise():
    ada = AdaptiveAugment(target=0.6, p=0.2, batch_size=64, interval=4)
    for step in range(1, 9):
        ada.observe(torch.full((64,), 3.0), step)  # sign = +1 > target
    assert ada.p.item() > 0.2
    high = ada.p.item()
    for step in range(9, 17):
        ada.observe(torch.full((64,), -3.0), step)
    assert ada.p.item() < high
    fixed = AdaptiveAugment(target=0.0, p=0.7)
    fixed.observe(torch.full((8,), 3.0), 4)
    assert fixed.p.item() == pytest.approx(0.7)
    clone = AdaptiveAugment(target=0.6)
    clone.load_state_dict(ada.state_dict())
    assert clone.state_dict() == ada.state_dict()


def test_exact_resume_keeps_ada_state(tmp_path, dataset):
    cfg = dict(steps=10, augment_p=0.3, ada_target=0.6, r1_every=3, preview_every=0)
    one_go = Trainer(tiny_config(tmp_path / "a", **cfg), dataset)
    for _ in one_go.run():
        pass
    first = Trainer(tiny_config(tmp_path / "b", **cfg), dataset)
    for report in first.run():
        if report.step == 4:
            first.stop()
    second = Trainer(tiny_config(tmp_path / "b", **cfg), dataset, resume=tmp_path / "b")
    assert second.ada.state_dict() == first.ada.state_dict()
    for _ in second.run():
        pass
    assert one_go.ada.state_dict() == second.ada.state_dict()
    assert one_go.ada.p.item() != 0.3  # it adapted
    for a, b in zip(one_go.G_ema.state_dict().values(), second.G_ema.state_dict().values()):
        assert torch.equal(a, b)


def test_ema_batchnorm_statistics_fit_the_ema_weights(tmp_path, dataset):
    trainer = Trainer(tiny_config(tmp_path, steps=3, preview_every=0), dataset)
    for _ in trainer.run():
        pass
    g = trainer.sampling_generator()
    bn = next(m for m in g.modules() if isinstance(m, torch.nn.BatchNorm2d))
    # the statistics are those of the EMA generator's own activations, not the training G's
    z = torch.randn(256, g.z_dim, generator=torch.Generator().manual_seed(5))
    y = torch.arange(256) % trainer.n_classes
    acts = {}
    hook = bn.register_forward_hook(lambda m, i, o: acts.setdefault("x", i[0]))
    g.train()
    with torch.no_grad():
        g(z, y)
    hook.remove()
    g.eval()
    var = acts["x"].var(dim=(0, 2, 3))
    stale = dict(trainer.G.named_buffers())  # the training generator's statistics
    name = next(n for n, m in g.named_modules() if m is bn)
    err_fresh = (bn.running_var - var).abs().mean()
    err_stale = (stale[f"{name}.running_var"] - var).abs().mean()
    assert err_fresh < 0.5 * err_stale
    before = bn.running_mean.clone()
    recalibrate_batchnorm(g, trainer.n_classes, seed=1)
    assert not torch.equal(before, bn.running_mean) and not g.training


@pytest.mark.parametrize(
    ("arch", "spectral", "disc"),
    [
        ("dcgan", True, "projection"),
        ("dcgan", False, "projection"),
        ("upconv", True, "projection"),
        ("dcgan", False, "batchnorm"),
        ("upconv", False, "batchnorm"),
    ],
)
def test_architectures_build_and_condition(arch, spectral, disc):
    g, d = build_models(32, 3, 16, 8, 32, arch, spectral, discriminator=disc)
    has_sn = any("parametrizations" in name for name, _ in d.named_parameters())
    assert has_sn == spectral
    has_bn = any(isinstance(m, torch.nn.BatchNorm2d) for m in d.modules())
    assert has_bn == (disc == "batchnorm")
    for m in g.modules():  # as after training: class embeddings differ (CBN starts at identity)
        if isinstance(m, torch.nn.Embedding):
            torch.nn.init.normal_(m.weight, 1.0, 0.5)
    z = torch.randn(4, 16).repeat(3, 1)
    y = torch.arange(3).repeat_interleave(4)
    x = g.eval()(z, y)
    assert x.shape == (12, 1, 32, 32) and d(x, y).shape == (12,)
    assert not torch.equal(x[:4], x[4:8])  # the class changes the image for the same latent
    d.eval()  # the class changes the discriminator's verdict on the same image
    assert not torch.allclose(d(x[:4], y[:4]), d(x[:4], y[4:8]))


def test_presets_resolve_per_device():
    assert preset_for_device("cpu") == "cpu" and preset_for_device("mps") == "cpu"
    assert preset_for_device("cuda") == "gpu" and preset_for_device("cuda:1") == "gpu"
    cpu, gpu = default_for_device("cpu"), default_for_device("cuda")
    assert cpu.size == 64 and gpu.size == 128 and gpu.channels_last
    assert preset("gpu", size=256).size == 256
    assert preset("cpu").validate() and preset("gpu", size=256).validate()
    assert set(RECIPE_KEYS) <= set(TrainConfig().to_dict())
    with pytest.raises(ConfigError, match="unknown preset"):
        preset("tpu")


def test_precision_and_autocast_on_cpu():
    cpu = torch.device("cpu")
    assert precision_for(cpu) in ("fp32", "bf16")  # bf16 where native (test_cpu_bf16)
    assert not grad_scaler(cpu, "fp16").is_enabled()
    with autocast(cpu, "fp32"):
        assert torch.ones(2, 2).matmul(torch.ones(2, 2)).dtype == torch.float32
    with autocast(cpu, "bf16"):  # requested explicitly: bf16 matmuls/convs on the CPU
        assert torch.ones(2, 2).matmul(torch.ones(2, 2)).dtype == torch.bfloat16


def test_ct_window_option_keeps_bone():
    hu = np.linspace(-1000, 1812, 64 * 64, dtype=np.float32).reshape(1, 64, 64)  # CT head max
    default = build_dataset([Volume(hu, modality="CT", name="ct")], 32)
    t = default.transforms["all"]
    assert t.high >= 1812  # bone is not clipped any more
    narrow = build_dataset([Volume(hu, modality="CT", name="ct")], 32, ct_window=(-200, 300))
    assert (narrow.transforms["all"].low, narrow.transforms["all"].high) == (-200, 300)
    with pytest.raises(ConfigError, match="ct_window"):
        TrainConfig(ct_window=(300, -200)).validate()
    cfg = TrainConfig(ct_window=[-100, 100])
    assert TrainConfig.from_dict(cfg.to_dict()).ct_window == (-100.0, 100.0)


def test_old_checkpoint_configs_load_as_legacy():
    old = TrainConfig().to_dict()
    for key in ("arch", "augment_p", "ada_target", "channels_last", "precision", "ct_window",
                "class_input", "discriminator"):
        old.pop(key)
    cfg = TrainConfig.from_dict(old)
    assert cfg.arch == "upconv" and cfg.ada_target == 0 and cfg.augment_p == 1.0
    # what every checkpoint before these settings used
    assert cfg.class_input == "embedding" and cfg.discriminator == "projection"


def test_class_input_setting_round_trips_and_refuses_bad_values():
    assert TrainConfig().class_input == "onehot"
    cfg = TrainConfig(class_input="embedding")
    assert TrainConfig.from_dict(cfg.to_dict()).class_input == "embedding"
    with pytest.raises(ConfigError, match="class_input must be one of onehot, embedding"):
        TrainConfig(class_input="film").validate()
    with pytest.raises(ConfigError, match="discriminator must be one of batchnorm, projection"):
        TrainConfig(discriminator="patch").validate()


@pytest.mark.parametrize("class_input", ["embedding", "onehot"])
def test_generator_checkpoints_load_with_their_class_input(tmp_path, class_input):
    from napari_medgan.engine import Sampler

    ds = build_dataset(mni_volumes(), size=32)
    cfg = tiny_config(tmp_path, steps=2, preview_every=0, class_input=class_input)
    for _ in Trainer(cfg, ds).run():
        pass
    sampler = Sampler.from_checkpoint(tmp_path)
    g = sampler.generator
    assert (g.embed is not None) == (class_input == "embedding")
    assert sampler.sample(2, "GM", seed=0, units="model").shape == (2, 32, 32)


def test_cli_preset_and_overrides():
    import argparse

    from napari_medgan.cli.train import add_training_options, config_from_args, preset_base

    p = argparse.ArgumentParser()
    add_training_options(p)
    args = p.parse_args(
        ["--preset", "gpu", "--size", "256", "--batch-size", "8", "--device", "cpu"]
    )
    cfg = config_from_args(args, preset_base(args, TrainConfig(out_dir="x")))
    assert (cfg.size, cfg.batch_size, cfg.channels_last) == (256, 8, True)  # preset + override
    # the gpu preset's own intervals, not the plain defaults; the base's out_dir is kept
    assert (cfg.preview_every, cfg.checkpoint_every, cfg.out_dir) == (200, 2000, "x")
    args = p.parse_args(["--preset", "gpu", "--device", "cpu", "--checkpoint-every", "300"])
    assert config_from_args(args, preset_base(args, TrainConfig())).checkpoint_every == 300
    args = p.parse_args(["--device", "cpu", "--ct-window=-200,300"])
    cfg = config_from_args(args, preset_base(args, TrainConfig()))
    assert cfg.size == 64 and cfg.ct_window == (-200.0, 300.0)  # auto → the cpu preset
