"""Held-out scoring during training and the run's ``best`` checkpoint."""

import math

import pytest
import torch

from engine_fixtures import mni_volumes, tiny_config
from napari_medgan.engine import Sampler, Trainer, build_dataset, split_dataset
from napari_medgan.engine import heldout_score as hs
from napari_medgan.engine.checkpoint import BEST, CheckpointError, load_checkpoint, resolve


@pytest.fixture(scope="module")
def dataset():
    return build_dataset(mni_volumes(), size=32)


def _scripted(monkeypatch, values):
    """Make the held-out score return ``values`` in turn (the best step is then known)."""
    it = iter(values)
    monkeypatch.setattr(hs.HeldoutScorer, "score", lambda self, g, d: next(it))


def test_best_checkpoint_is_kept_and_preferred_for_sampling(tmp_path, dataset, monkeypatch):
    _scripted(monkeypatch, [float("nan"), 1.0, 2.0, 4.0])  # a NaN score is never the best
    cfg = tiny_config(tmp_path, steps=8, score_every=2, keep_checkpoints=1, preview_every=0)
    reports = list(Trainer(cfg, dataset).run())
    scored = [r for r in reports if r.heldout_score is not None]
    assert [r.step for r in scored] == [2, 4, 6, 8, 8] and reports[-1].status == "finished"
    assert scored[0].best_step is None and [r.best_step for r in reports[-4:]] == [4, 4, 4, 4]
    assert all(math.isfinite(r.heldout_baseline) for r in scored)
    assert (tmp_path / BEST).read_text().strip() == "step_0000004"
    # best (step 4) survives pruning with keep_checkpoints=1; latest is step 8
    kept = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert kept == ["step_0000004", "step_0000008"]
    assert resolve(tmp_path).name == "step_0000008"
    assert resolve(tmp_path, prefer="best").name == "step_0000004"
    assert Sampler.from_checkpoint(tmp_path).step == 4
    assert Sampler.from_checkpoint(tmp_path, prefer="latest").step == 8
    held = load_checkpoint(tmp_path, prefer="best").extra["heldout"]
    assert held["score"] == 1.0 and held["best_step"] == 4
    with pytest.raises(CheckpointError, match="prefer"):
        resolve(tmp_path, prefer="newest")


def test_resume_keeps_the_best_so_far(tmp_path, dataset, monkeypatch):
    _scripted(monkeypatch, [2.0, 1.0, 5.0, 0.5])
    cfg = tiny_config(tmp_path, steps=4, score_every=2, preview_every=0)
    for _ in Trainer(cfg, dataset).run():
        pass
    resumed = Trainer(cfg.replace(steps=8), dataset, resume=tmp_path)
    assert (resumed.best_step, resumed.best_score) == (4, 1.0)
    reports = list(resumed.run())
    assert [r.best_step for r in reports if r.heldout_score is not None] == [4, 8, 8]
    assert resolve(tmp_path, prefer="best").name == "step_0000008"


def test_real_score_ranks_copies_above_blank_images(dataset):
    train, held, _ = split_dataset(dataset, 0.2, seed=0)
    scorer = hs.HeldoutScorer(train, held, z_dim=4, seed=0)

    class Fixed(torch.nn.Module):
        """A 'generator' that returns given images, per label."""

        def __init__(self, images, labels):
            super().__init__()
            self.images, self.labels = images, labels

        def forward(self, z, y):
            pool = self.images[self.labels == int(y[0])]
            return pool[torch.arange(len(z)) % len(pool)]

    copies = scorer.score(Fixed(train.images, train.labels), torch.device("cpu"))
    blank = scorer.score(Fixed(torch.full_like(train.images, -1.0), train.labels), "cpu")
    # training copies score near the training-vs-held-out baseline, blank images far above it
    assert 0 < copies < blank / 2 and 0 < scorer.baseline < blank / 2


def test_no_heldout_means_no_score_and_no_best(tmp_path, dataset):
    cfg = tiny_config(tmp_path, steps=4, score_every=2, holdout=0.0, preview_every=0)
    trainer = Trainer(cfg, dataset)
    reports = list(trainer.run())
    assert trainer.scorer is None and all(r.heldout_score is None for r in reports)
    assert not (tmp_path / BEST).exists()
    assert Sampler.from_checkpoint(tmp_path).step == 4  # falls back to latest
