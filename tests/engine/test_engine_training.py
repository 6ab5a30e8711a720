"""The alternating D/G loop on real MNI slices: finite losses, learning, control, exact resume."""

import threading

import numpy as np
import pytest
import torch

from engine_fixtures import mni_volumes, tiny_config
from napari_medgan.engine import (
    CheckpointError,
    Sampler,
    Trainer,
    TrainingError,
    build_dataset,
)
from napari_medgan.engine.families.gan import PREVIEW_LATENTS


@pytest.fixture(scope="module")
def dataset():
    return build_dataset(mni_volumes(), size=32)


def test_losses_finite_and_discriminator_separates(tmp_path, dataset):
    trainer = Trainer(tiny_config(tmp_path, steps=40), dataset)
    reports = list(trainer.run())
    steps = [r for r in reports if r.status == "running"]
    assert len(steps) == 40 and reports[-1].status == "finished"
    series = ("loss_d", "loss_g", "d_real", "d_fake")
    assert all(np.isfinite([r.losses[k] for k in series]).all() for r in steps)
    late = steps[10:]
    assert np.mean([r.losses["d_real"] for r in late]) > np.mean([r.losses["d_fake"] for r in late])
    assert reports[-1].checkpoint and (tmp_path / "latest").exists()
    previews = [r for r in reports if r.preview is not None]
    k = PREVIEW_LATENTS
    assert previews[0].preview.shape == (3, k, 32, 32) and previews[0].preview_names == [
        "T1",
        "GM",
        "WM",
    ]
    assert not np.allclose(previews[0].preview, previews[-1].preview)


def test_preview_rows_share_latents(tmp_path, dataset):
    """Every condition's row comes from the same latents, in the same order, class by class."""
    trainer = Trainer(tiny_config(tmp_path, steps=1), dataset)
    seen = []

    def fake_generator(z, labels):
        seen.append((z.clone(), labels.clone()))
        return z[:, :1, None, None].expand(-1, 1, 32, 32) + labels[:, None, None, None]

    trainer.sampling_generator = lambda: fake_generator
    preview, names = trainer.preview()
    z, labels = seen[0]
    k = PREVIEW_LATENTS
    assert preview.shape == (3, k, 32, 32) and names == ["T1", "GM", "WM"]
    assert labels.tolist() == [c for c in range(3) for _ in range(k)]
    assert torch.equal(z[:k], z[k : 2 * k]) and torch.equal(z[:k], z[2 * k :])
    assert len(set(z[:k, 0].tolist())) == k  # distinct latents within a row
    # row c, column j is the sample of latent j under condition c
    assert np.allclose(preview[2, 1] - preview[0, 1], 2.0)


def _pairwise_l2(x) -> float:
    flat = torch.as_tensor(np.asarray(x)).flatten(1)
    n = len(flat)
    return float(torch.cdist(flat, flat).sum() / (n * (n - 1)))


def test_conditional_samples_follow_their_condition_and_vary(tmp_path, dataset):
    cfg = tiny_config(tmp_path, steps=800, preview_every=0, lr_g=5e-4, lr_d=5e-4)
    for _ in Trainer(cfg, dataset).run():
        pass
    sampler = Sampler.from_checkpoint(tmp_path)
    real = dataset.images.flatten(1)
    for i, name in enumerate(dataset.class_names):
        fake = sampler.sample(64, name, seed=1, units="model")
        # each sample's nearest real slice is of its own condition (chance: 1/3)
        nearest = dataset.labels[torch.cdist(torch.as_tensor(fake).flatten(1), real).argmin(1)]
        assert float((nearest == i).float().mean()) > 0.6, name
        # and the samples of a condition differ as real slices do, not one image per
        # condition (a class code that swamps the latent gave a fifth of real's variety)
        own = dataset.images[dataset.labels == i][:, 0]
        pick = torch.randperm(len(own), generator=torch.Generator().manual_seed(0))[:32]
        assert _pairwise_l2(fake[:32]) > 0.5 * _pairwise_l2(own[pick]), name
    swap = sampler.condition_swap(4, seed=2, units="model")
    assert swap.shape == (3, 4, 32, 32)
    assert np.abs(swap[1] - swap[2]).mean() > 0.02 and np.abs(swap[0] - swap[1]).mean() > 0.05


def _state(trainer):
    out = {f"G.{k}": v for k, v in trainer.G.state_dict().items()}
    out.update({f"D.{k}": v for k, v in trainer.D.state_dict().items()})
    out.update({f"E.{k}": v for k, v in trainer.G_ema.state_dict().items()})
    return out


def test_exact_resume(tmp_path, dataset):
    one_go = Trainer(tiny_config(tmp_path / "a", steps=12), dataset)
    for _ in one_go.run():
        pass
    first = Trainer(tiny_config(tmp_path / "b", steps=12), dataset)
    for report in first.run():
        if report.step == 5:
            first.stop()
    assert report.status == "stopped" and report.step == 5
    second = Trainer(tiny_config(tmp_path / "b", steps=12), dataset, resume=tmp_path / "b")
    assert second.step == 5
    for _ in second.run():
        pass
    a, b = _state(one_go), _state(second)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert torch.equal(one_go.rng.get_state(), second.rng.get_state())


def test_pause_and_stop_from_another_thread(tmp_path, dataset):
    trainer = Trainer(tiny_config(tmp_path, steps=10_000, preview_every=0), dataset)
    statuses = []

    def control():
        trainer.pause()

    for report in trainer.run():
        statuses.append(report.status)
        if report.step == 2 and "paused" not in statuses:
            threading.Thread(target=control).start()
        if report.status == "paused":
            threading.Timer(0.2, trainer.stop).start()
    assert "paused" in statuses and statuses[-1] == "stopped"
    assert report.step < 10 and report.checkpoint


def test_resume_refuses_other_architecture(tmp_path, dataset):
    for _ in Trainer(tiny_config(tmp_path, steps=3), dataset).run():
        pass
    with pytest.raises(CheckpointError, match="base_channels"):
        Trainer(tiny_config(tmp_path, steps=6, base_channels=16), dataset, resume=tmp_path)
    with pytest.raises(CheckpointError, match="more steps"):
        Trainer(tiny_config(tmp_path, steps=3), dataset, resume=tmp_path)
    other = build_dataset(mni_volumes()[:2], size=32)
    with pytest.raises(CheckpointError, match="conditions"):
        Trainer(tiny_config(tmp_path, steps=6), other, resume=tmp_path)


def test_nan_losses_stop_with_clear_error(tmp_path, dataset):
    trainer = Trainer(tiny_config(tmp_path, steps=5, checkpoint_every=1), dataset)
    run = trainer.run()
    next(run)
    with torch.no_grad():
        for p in trainer.D.parameters():
            p.fill_(float("nan"))
    with pytest.raises(TrainingError, match="NaN"):
        next(run)
    # the checkpoint from before the failure is still there and loads
    assert Sampler.from_checkpoint(tmp_path).step == 1


@pytest.mark.parametrize("loss", ["minimax", "hinge"])
def test_other_losses_and_r1_run(tmp_path, dataset, loss):
    cfg = tiny_config(
        tmp_path,
        steps=4,
        loss=loss,
        r1_gamma=1.0,
        r1_every=2,
        augment=("brightness", "contrast", "translation", "cutout"),
    )
    reports = list(Trainer(cfg, dataset).run())
    assert all(np.isfinite(r.losses["loss_d"]) for r in reports)


def test_unconditional_sampling_in_scan_units(tmp_path):
    ds = build_dataset(mni_volumes(conditional=False)[:1], size=32)
    for _ in Trainer(tiny_config(tmp_path, steps=3), ds).run():
        pass
    sampler = Sampler.from_checkpoint(tmp_path)
    t = sampler.transforms["all"]
    scan = sampler.sample(3, seed=0, units="scan")
    assert scan.min() >= t.low - 1e-6 and scan.max() <= t.high + 1e-6
    native = sampler.sample(3, seed=0, units="native")
    assert native.shape == (3, *sampler.geometry["all"].native_shape)
    np.testing.assert_array_equal(sampler.sample(2, seed=5), sampler.sample(2, seed=5))
