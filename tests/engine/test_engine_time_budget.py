"""Training by time: ``minutes`` ends a run at its budget (pauses excluded), as a finished run."""

import types

import pytest

from engine_fixtures import mni_volumes, tiny_config
from napari_medgan.engine import ConfigError, Trainer, TrainReport, build_dataset
from napari_medgan.engine import heldout_score as hs
from napari_medgan.engine import trainer as trainer_module
from napari_medgan.engine.checkpoint import load_checkpoint


@pytest.fixture(scope="module")
def dataset():
    return build_dataset(mni_volumes(), size=32)


@pytest.fixture
def clock(monkeypatch):
    """The trainer's clock, moved by hand: each step takes what the test says."""
    now = types.SimpleNamespace(t=1000.0)
    fake = types.SimpleNamespace(perf_counter=lambda: now.t)
    monkeypatch.setattr(trainer_module, "time", fake)
    return now


def test_the_budget_ends_the_run_as_finished_with_a_scored_checkpoint(
    tmp_path, dataset, clock, monkeypatch
):
    monkeypatch.setattr(hs.HeldoutScorer, "score", lambda self, g, d: 1.0)
    trainer = Trainer(tiny_config(tmp_path, steps=1000, minutes=0.5, score_every=50), dataset)
    reports = []
    for r in trainer.run():
        reports.append(r)
        clock.t += 7.0  # each step takes 7 s: the 30 s budget ends after the 5th
    final = reports[-1]
    assert final.status == "finished" and final.step == 5
    assert final.heldout_score == 1.0  # the budget's end scores the final weights like steps do
    assert load_checkpoint(final.checkpoint).step == 5
    running = reports[1]
    assert running.time_budget_s == 30.0 and running.time_left_s == pytest.approx(23.0)
    assert running.progress() == (7, 30)  # a bar over the budget's seconds
    assert running.eta_s == pytest.approx(23.0)  # the budget ends before the 1000 steps
    assert final.progress() == (30, 30)
    trainer.close()


def test_steps_still_end_a_run_that_has_time_left(tmp_path, dataset, clock):
    trainer = Trainer(tiny_config(tmp_path, steps=3, minutes=60.0), dataset)
    reports = []
    for r in trainer.run():
        reports.append(r)
        clock.t += 1.0
    assert reports[-1].status == "finished" and reports[-1].step == 3
    assert reports[1].eta_s == pytest.approx(0.5)  # 2 steps in 1 s, 1 to go: sooner than the budget
    trainer.close()


def test_paused_time_does_not_count(tmp_path, dataset, clock):
    trainer = Trainer(tiny_config(tmp_path, steps=1000, minutes=0.5), dataset)
    trainer.pause()
    loop = trainer.run()
    assert next(loop).status == "paused"
    clock.t += 600.0  # ten minutes paused: more than the whole budget
    trainer.unpause()
    steps = 0
    for r in loop:
        steps = r.step
        clock.t += 10.0
    assert steps == 3  # 30 s of training after the pause, not zero
    trainer.close()


def test_without_a_budget_the_bar_counts_steps():
    r = TrainReport(step=4, total_steps=10, losses={}, images_per_s=1.0, elapsed_s=2.0,
                    eta_s=5.0, device="cpu")  # fmt: skip
    assert r.progress() == (4, 10) and r.time_left_s is None


def test_a_negative_budget_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="minutes"):
        tiny_config(tmp_path, minutes=-1.0).validate()
