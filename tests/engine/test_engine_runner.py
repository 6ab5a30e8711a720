"""The Qt-free child-process runner: crashes, early stops, expected errors, a whole run; and
``Sampler.sample_chunks`` (what Generate's progress and cancel use) giving ``sample``'s images."""

from __future__ import annotations

import operator
import os
import subprocess
import sys

import numpy as np
import pytest

from engine_fixtures import mni_volumes, tiny_config
from napari_medgan.engine import Sampler, Trainer, build_dataset
from napari_medgan.engine.runner import Done, Failed, ProcessRun, train_target


def test_runner_reports_a_crash_with_its_traceback():
    # operator.truediv(ctl) raises TypeError in the child: an unexpected error, not a hang
    run = ProcessRun(operator.truediv, {}).start()
    assert run.join(120)
    (msg,) = run.drain()
    assert isinstance(msg, Failed) and msg.crashed and msg.kind == "TypeError"
    assert "Traceback" in msg.details
    assert run.exitcode == 0


def test_runner_stop_before_training_and_expected_errors(tmp_path):
    vols = mni_volumes()
    run = ProcessRun(train_target, dict(config=tiny_config(tmp_path / "a"), volumes=vols))
    run.stop()  # even before the child exists
    run.start()
    assert run.join(120)
    assert [type(m).__name__ for m in run.drain()] == ["Cancelled"]

    bad = tiny_config(tmp_path / "b", max_channels=4)  # inconsistent widths: ConfigError
    run = ProcessRun(train_target, dict(config=bad, volumes=vols)).start()
    assert run.join(120)
    (msg,) = run.drain()
    assert isinstance(msg, Failed) and not msg.crashed and msg.kind == "ConfigError"


def test_runner_trains_to_the_end(tmp_path):
    run = ProcessRun(
        train_target, dict(config=tiny_config(tmp_path, steps=3), volumes=mni_volumes())
    ).start()
    assert run.join(120)
    msgs = run.drain()
    assert type(msgs[0]).__name__ == "Ready"
    assert [m.step for m in msgs[1:-1]] == [1, 2, 3, 3]
    assert msgs[-2].status == "finished" and isinstance(msgs[-1], Done)
    assert msgs[-1].result == msgs[-2].checkpoint and (tmp_path / "latest").exists()


def test_sample_chunks_are_the_samples_in_pieces(tmp_path):
    cfg = tiny_config(tmp_path, steps=1, preview_every=0)
    trainer = Trainer(cfg, build_dataset(mni_volumes(), cfg.size, cfg.slice_axis))
    for _ in trainer.run():
        pass
    sampler = Sampler.from_checkpoint(tmp_path)
    whole = sampler.sample(70, "GM", seed=5, units="native")
    parts = list(sampler.sample_chunks(70, "GM", seed=5, units="native", chunk=32))
    assert [len(p) for p in parts] == [32, 32, 6]
    assert np.array_equal(np.concatenate(parts), whole)


@pytest.mark.skipif(not hasattr(os, "nice"), reason="POSIX priorities only")
def test_a_child_beside_the_gui_takes_its_threads_at_a_lower_priority():
    """In a fresh interpreter (it changes the process for good): with ``threads`` the child
    sets torch's threads and drops below the GUI's priority; without, it changes nothing."""
    from napari_medgan.engine.runner import CHILD_NICENESS

    code = (
        "import os, sys, torch\n"
        "from napari_medgan.engine.runner import _share_cpu_with_gui\n"
        "before = os.nice(0)\n"
        "_share_cpu_with_gui(int(sys.argv[1]) or None)\n"
        "print(os.nice(0) - before, torch.get_num_threads())\n"
    )
    run = [sys.executable, "-c", code]
    beside = subprocess.run([*run, "1"], capture_output=True, text=True, check=True).stdout.split()
    alone = subprocess.run([*run, "0"], capture_output=True, text=True, check=True).stdout.split()
    assert beside == [str(CHILD_NICENESS), "1"]
    assert alone[0] == "0"
