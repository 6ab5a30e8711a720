"""Stopping a run is quick: the step in progress, then a complete checkpoint, no final score."""

import pytest

from engine_fixtures import mni_volumes, tiny_config
from napari_medgan.engine import Sampler, Trainer, build_dataset
from napari_medgan.engine import heldout_score as hs
from napari_medgan.engine.checkpoint import load_checkpoint


@pytest.fixture(scope="module")
def dataset():
    return build_dataset(mni_volumes(), size=32)


def test_stop_saves_a_complete_checkpoint_without_scoring(tmp_path, dataset, monkeypatch):
    scored = []
    monkeypatch.setattr(hs.HeldoutScorer, "score", lambda self, g, d: scored.append(1) or 1.0)
    trainer = Trainer(tiny_config(tmp_path, steps=100, score_every=50), dataset)
    it = trainer.run()
    for _ in range(3):
        next(it)
    trainer.stop()
    final = list(it)[-1]
    assert final.status == "stopped" and final.step == 3
    assert final.heldout_score is None and not scored  # no score was rendered on stop
    ckpt = load_checkpoint(final.checkpoint)
    assert ckpt.step == 3 and {"G", "G_ema", "D"} <= set(ckpt.models)
    assert set(ckpt.optimizers) == {"G", "D"} and ckpt.extra["heldout"] is not None
    assert Sampler.from_checkpoint(tmp_path).sample(2, dataset.class_names[0], seed=0).shape[0] == 2
    trainer.close()


def test_a_finished_run_still_scores_its_final_weights(tmp_path, dataset, monkeypatch):
    monkeypatch.setattr(hs.HeldoutScorer, "score", lambda self, g, d: 1.0)
    reports = list(Trainer(tiny_config(tmp_path, steps=3, score_every=50), dataset).run())
    assert reports[-1].status == "finished" and reports[-1].heldout_score == 1.0


EXIT_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
from engine_fixtures import mni_volumes, tiny_config
from napari_medgan.engine import Trainer, build_dataset

trainer = Trainer(tiny_config({out!r}, steps=50, preview_every=0), build_dataset(mni_volumes(), 32))
loop = trainer.run()
next(loop), next(loop)
print("left open")
"""


def test_a_loop_left_open_at_exit_saves_its_steps_and_exits_cleanly(tmp_path):
    """A script that stops iterating and ends: torch used to abort the process (status 134)
    when the suspended loop was torn down in the interpreter's final garbage collection."""
    import subprocess
    import sys
    from pathlib import Path

    tests = str(Path(__file__).resolve().parents[1])
    script = EXIT_SCRIPT.format(tests=tests, out=str(tmp_path / "run"))
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "left open" in done.stdout and "Traceback" not in done.stderr
    assert load_checkpoint(tmp_path / "run").step == 2  # the work done is kept
