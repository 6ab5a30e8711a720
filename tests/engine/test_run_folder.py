"""A run folder is one run: one trainer at a time, resumes continue the same run, no global state.

Real MNI slices, tiny networks; the CLI cases run ``napari-medgan train`` in this process and,
for the killed trainer, in a child process that is SIGKILLed mid-run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from engine_fixtures import mni_arrays, mni_volumes, tiny_config
from napari_medgan.cli import main
from napari_medgan.engine import Trainer, Volume, build_dataset
from napari_medgan.engine.data import DataError
from napari_medgan.engine.resume import (
    ResumeError,
    check_config,
    config_differences,
    read_run,
)
from napari_medgan.engine.runlock import LOCK_FILE, RunBusyError, RunLock, holder
from napari_medgan.io import ImageData, write_nifti

TINY = ["--size", "32", "--batch-size", "4", "--base-channels", "8", "--max-channels", "32",
        "--device", "cpu", "--quiet", "--preview-every", "0"]  # fmt: skip


@pytest.fixture(scope="module")
def dataset():
    return build_dataset(mni_volumes()[:2], size=32)


@pytest.fixture(scope="module")
def scans(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scans")
    paths = []
    for name, data, spacing in mni_arrays()[:2]:
        image = ImageData(data=data, spacing=spacing, origin=(0.0, 0.0, 0.0), name=name)
        paths.append(str(write_nifti(folder / f"{name}.nii.gz", image)))
    return paths


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "Traceback" not in err[0]
    return err[0]


# ---------------------------------------------------------------------- the lock
def test_lock_is_exclusive_and_names_its_holder(tmp_path):
    with RunLock(tmp_path, owner="napari Train widget"):
        with pytest.raises(RunBusyError, match=rf"process {os.getpid()} .*napari Train widget"):
            RunLock(tmp_path).acquire()
        assert holder(tmp_path)["command"] == "napari Train widget"
    assert holder(tmp_path) is None
    RunLock(tmp_path).acquire().release()  # free again


def test_release_after_the_exit_finalizer_leaves_other_files_alone(tmp_path):
    # at interpreter exit the lock's finalizer closes its file before a training generator
    # is closed; the generator's release must not close the number again (it may be reused)
    lock = RunLock(tmp_path).acquire()
    lock._finalizer()  # what interpreter exit does
    other = os.open(tmp_path / "other", os.O_CREAT | os.O_RDWR)
    try:
        lock.release()  # no error, and the other file stays open
        os.fstat(other)
    finally:
        os.close(other)
    RunLock(tmp_path).acquire().release()  # and the folder is free


def test_second_trainer_refused_before_touching_checkpoints(tmp_path, dataset):
    first = Trainer(tiny_config(tmp_path, steps=3), dataset, owner="first trainer")
    with pytest.raises(RunBusyError, match="first trainer"):
        Trainer(tiny_config(tmp_path, steps=3, seed=7), dataset)
    assert not (tmp_path / "checkpoints").exists()  # the refused one wrote nothing
    for _ in first.run():
        pass
    # the run is over: the folder can be resumed (here: by another trainer object)
    second = Trainer(tiny_config(tmp_path, steps=5), dataset, resume=tmp_path)
    assert second.step == 3
    second.close()


def test_cli_refuses_busy_folder_and_a_killed_trainer_does_not_block(scans, tmp_path, capsys):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "napari_medgan.cli", "train", scans[0], "--steps", "100000",
           "--checkpoint-every", "0", "--out", str(out), *TINY]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            lock = out / LOCK_FILE
            if lock.exists() and lock.read_text().strip():
                break
            time.sleep(0.2)
        assert proc.poll() is None, proc.stderr.read()
        info = json.loads((out / LOCK_FILE).read_text())
        assert info["pid"] == proc.pid and "train" in info["command"]
        # CLI vs CLI: one line, exit 2, naming the running trainer
        assert main(["train", scans[0], "--steps", "2", "--out", str(out), *TINY]) == 2
        line = one_error_line(capsys)
        assert f"in use by process {proc.pid}" in line and "train" in line
        assert not (out / "latest").exists()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stderr.close()
    assert (out / LOCK_FILE).read_text().strip()  # the killed trainer's record is still there
    assert main(["train", scans[0], "--steps", "2", "--out", str(out), *TINY]) == 0
    assert (out / "latest").exists()


# ---------------------------------------------------------------------- resume = same run
def test_config_differences_name_the_setting(tmp_path):
    saved = tiny_config(tmp_path)
    changed = saved.replace(loss="hinge", steps=99, device="cpu", preview_every=1)
    assert config_differences(saved, changed) == [
        "loss is nonsaturating in the checkpoint, hinge in the settings"
    ]
    check_config(saved, saved.replace(steps=1000, checkpoint_every=7))  # allowed knobs
    with pytest.raises(ResumeError, match=r"lr_g is 0\.0002 in the checkpoint, 0\.001"):
        check_config(saved, saved.replace(lr_g=1e-3))


@pytest.fixture(scope="module")
def cli_run(scans, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    argv = ["train", *scans, "--condition", "T1", "--condition", "GM", "--steps", "2",
            "--out", str(out), *TINY]  # fmt: skip
    assert main(argv) == 0
    return out


@pytest.mark.parametrize(
    ("extra", "inputs", "expected"),
    [
        (
            ["--loss", "hinge"],
            None,
            "cannot resume: loss is nonsaturating in the checkpoint, hinge in the settings",
        ),
        (["--slice-axis", "2"], None, "slice_axis is 0 in the checkpoint, 2 in the settings"),
        (["--lr-d", "0.001"], None, "lr_d is 0.0002"),
        (
            [],
            "one",
            "cannot resume with other data: conditions are T1, GM in the checkpoint, "
            "T1 in the data",
        ),
        ([], "swapped", "condition 'T1' was trained on 1 scan"),
        (["--steps", "2"], None, "the checkpoint is at step 2; set more steps"),
    ],
)
def test_cli_mismatched_resume_refused(cli_run, scans, capsys, extra, inputs, expected):
    before = sorted(os.listdir(cli_run / "checkpoints"))
    files, conds = scans, ["--condition", "T1", "--condition", "GM"]
    if inputs == "one":
        files, conds = scans[:1], ["--condition", "T1"]
    elif inputs == "swapped":  # the same names, other scans behind them
        files = scans[::-1]
    argv = ["train", *files, *conds, "--resume", str(cli_run), *extra]
    if "--steps" not in extra:
        argv += ["--steps", "3"]
    assert main(argv) == 2
    assert expected in one_error_line(capsys)
    assert sorted(os.listdir(cli_run / "checkpoints")) == before  # nothing written


def test_cli_steps_only_resume_keeps_settings_and_windows(cli_run, scans, capsys, tmp_path):
    saved = read_run(cli_run)
    branch = tmp_path / "longer"  # branch off, so the module's run stays at step 2
    argv = ["train", *scans, "--condition", "T1", "--condition", "GM", "--resume", str(cli_run),
            "--steps", "3", "--device", "cpu", "--quiet", "--out", str(branch)]  # fmt: skip
    assert main(argv) == 0
    after = read_run(branch)
    assert after.step == 3
    assert after.config.replace(steps=2, out_dir="x") == saved.config.replace(out_dir="x")
    assert after.meta["transforms"] == saved.meta["transforms"]
    assert after.extra["inputs"] == saved.extra["inputs"]


def test_dataset_takes_given_transforms_instead_of_fitting(cli_run):
    stored = read_run(cli_run).transforms
    (name, data, spacing) = mni_arrays()[0]
    part = Volume(data[: data.shape[0] // 3], spacing, condition=name, name=name)
    refit = build_dataset([part], size=32).transforms[name]
    kept = build_dataset([part], size=32, transforms=stored).transforms[name]
    assert (refit.low, refit.high) != (stored[name].low, stored[name].high)  # a fit would differ
    assert kept == stored[name]
    with pytest.raises(DataError, match="'WM' is not in the checkpoint"):
        build_dataset(mni_volumes()[2:], size=32, transforms=stored)


def test_trainer_refuses_refitted_windows(tmp_path, dataset):
    for _ in Trainer(tiny_config(tmp_path, steps=2), dataset).run():
        pass
    stored = read_run(tmp_path).transforms
    shifted = {k: t.__class__(t.low, t.high * 1.5, t.kind) for k, t in stored.items()}
    other = build_dataset(mni_volumes()[:2], size=32, transforms=shifted)
    with pytest.raises(ResumeError, match="cannot resume"):
        Trainer(tiny_config(tmp_path, steps=4), other, resume=tmp_path)
    assert RunLock(tmp_path).acquire()  # a refused resume gives the folder back
    # the refusal came before the settings were touched: the checkpoint still loads
    assert read_run(tmp_path).step == 2


# ---------------------------------------------------------------------- no global side effects
def test_training_leaves_global_rng_alone(tmp_path, dataset):
    torch.manual_seed(1234)
    state = torch.get_rng_state()
    one = Trainer(tiny_config(tmp_path / "a", steps=2), dataset)
    for _ in one.run():
        pass
    assert torch.initial_seed() == 1234
    assert torch.equal(torch.get_rng_state(), state)
    torch.manual_seed(99)  # the run's weights do not depend on the global generator
    two = Trainer(tiny_config(tmp_path / "b", steps=2), dataset)
    for _ in two.run():
        pass
    for key, value in one.G.state_dict().items():
        assert torch.equal(value, two.G.state_dict()[key]), key


def test_report_plots_leave_matplotlib_backend_alone(tmp_path, request):
    import matplotlib

    from napari_medgan.engine.metrics import report

    original = matplotlib.get_backend()
    matplotlib.use("svg", force=True)  # not Agg: a switch would show
    before = matplotlib.get_backend()
    request.addfinalizer(lambda: matplotlib.use(original, force=True))
    fig, ax = report._AggFigures.subplots(figsize=(2, 2))
    ax.plot(np.arange(3))
    report._save(fig, tmp_path / "plot.png")
    assert (tmp_path / "plot.png").read_bytes()[:4] == b"\x89PNG"
    assert matplotlib.get_backend() == before
    assert (
        "matplotlib.pyplot" not in sys.modules or not sys.modules["matplotlib.pyplot"].get_fignums()
    )


def test_cli_verbose_logs_engine_info(cli_run, scans, capsys, tmp_path):
    argv = ["train", scans[0], "--steps", "1", "--out", str(tmp_path / "v"), *TINY, "-v"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "INFO napari_medgan.engine.trainer: training a GAN from step 0 to 1" in err
    assert main(["train", scans[0], "--steps", "1", "--out", str(tmp_path / "q"), *TINY]) == 0
    assert "INFO" not in capsys.readouterr().err
