"""The command line end to end on real MNI data: train, resume, generate, bad arguments."""

import os
import signal
import subprocess
import sys
import time

import nibabel as nib
import numpy as np
import pytest

from engine_fixtures import mni_arrays
from napari_medgan.cli import main
from napari_medgan.io import ImageData, read_nifti, write_nifti

ORIGIN = (10.0, -20.0, 30.0)
TINY = ["--size", "32", "--batch-size", "4", "--device", "cpu", "--quiet"]


@pytest.fixture(scope="module")
def scans(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scans")
    paths = []
    for name, data, spacing in mni_arrays()[:2]:
        image = ImageData(data=data, spacing=spacing, origin=ORIGIN, name=name)
        paths.append(str(write_nifti(folder / f"{name}.nii.gz", image)))
    return paths


@pytest.fixture(scope="module")
def trained(scans, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    args = [
        "train",
        *scans,
        "--condition",
        "T1",
        "--condition",
        "GM",
        "--steps",
        "4",
        "--out",
        str(out),
        *TINY,
    ]
    assert main(args) == 0
    return out


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "Traceback" not in err[0]
    return err[0]


def test_train_writes_checkpoint_and_preview(trained):
    assert (trained / "latest").read_text().strip() == "step_0000004"
    assert (trained / "preview.png").exists()


def test_resume_continues(trained, scans, capsys):
    assert (
        main(
            [
                "train",
                *scans,
                "--condition",
                "T1",
                "--condition",
                "GM",
                "--steps",
                "6",
                "--resume",
                str(trained),
                *TINY,
            ]
        )
        == 0
    )
    assert "step 6/6" in capsys.readouterr().out
    assert (trained / "latest").read_text().strip() == "step_0000006"


def test_generate_nifti_and_png(trained, tmp_path):
    out = tmp_path / "gm.nii.gz"
    assert main(["generate", str(trained), "--n", "3", "--condition", "GM", "--out", str(out)]) == 0
    (generated,) = read_nifti(out)
    _, source, spacing = mni_arrays()[1]
    assert generated.data.shape == (3, *source.shape[1:])  # three axial slices on the source grid
    np.testing.assert_allclose(generated.spacing, spacing, atol=1e-5)
    np.testing.assert_allclose(generated.origin, ORIGIN, atol=1e-4)  # lines up with the source
    sheet = tmp_path / "swap.png"
    assert (
        main(["generate", str(trained), "--n", "2", "--all-conditions", "--out", str(sheet)]) == 0
    )
    assert sheet.exists()
    assert (tmp_path / "swap_T1.nii.gz").exists() and (tmp_path / "swap_GM.nii.gz").exists()
    t1 = np.asarray(nib.load(tmp_path / "swap_T1.nii.gz").dataobj)
    assert np.isfinite(t1).all()


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["train", "missing.nii.gz"], "no such file"),
        (["train", "{scan}", "--condition", "a", "--condition", "b"], "one --condition per input"),
        (["train", "{scan}", "--size", "48"], "invalid choice"),
        (["train", "{scan}", "--steps", "0"], "positive integer"),
        (["train", "{scan}", "--lr-g", "5"], "lr_g"),
        (["train", "{scan}", "--augment", "zoom"], "unknown augmentation"),
        (["train", "{scan}", "--device", "tpu"], "device"),
        (["train", "{scan}", "--device", "cuda:7"], "cuda"),
        (["train", "{scan}", "--ct-window", "300"], "ct-window"),
        (["train", "{scan}", "--ct-window", "300,-200"], "below"),
        (["train", "{scan}", "--preset", "tpu"], "invalid choice"),
        (["train", "{corrupt}"], "corrupt"),
        (["generate", "{tmp}", "--out", "{tmp}/x.nii.gz"], "not a napari-medgan checkpoint"),
        (["generate", "{run}", "--out", "{tmp}/x.nii.gz"], "conditional"),
        (
            ["generate", "{run}", "--condition", "CSF", "--out", "{tmp}/x.nii.gz"],
            "unknown condition",
        ),
        (["generate", "{run}", "--condition", "GM", "--out", "{tmp}/x.txt"], "must end in"),
        (["generate", "{run}", "--condition", "GM", "--out", "{tmp}/no/x.nii"], "does not exist"),
        (["generate", "{run}", "--condition", "GM", "--out", "{scan}"], "already exists"),
        (
            ["generate", "{run}", "--n", "-1", "--condition", "GM", "--out", "{tmp}/x.nii"],
            "positive",
        ),
        (["train", "{scan}", "--out", "{run}"], "already holds a run"),
    ],
)
def test_bad_arguments_one_line_exit_2(argv, match, scans, trained, tmp_path, capsys):
    corrupt = tmp_path / "corrupt.nii.gz"
    corrupt.write_bytes(open(scans[0], "rb").read()[:300])
    subs = {
        "{scan}": scans[0],
        "{tmp}": str(tmp_path),
        "{run}": str(trained),
        "{corrupt}": str(corrupt),
    }
    argv = [_sub(a, subs) for a in argv]
    before = sorted(os.listdir(tmp_path))
    try:
        status = main(argv + (["--quiet"] if argv[0] == "train" else []))
    except SystemExit as exc:  # argparse usage errors
        status = exc.code
    assert status == 2
    line = one_error_line(capsys)
    assert match.lower() in line.lower(), line
    assert sorted(os.listdir(tmp_path)) == before  # nothing written


def _sub(arg: str, subs: dict) -> str:
    for key, value in subs.items():
        arg = arg.replace(key, value)
    return arg


def test_ctrl_c_stops_cleanly_with_checkpoint(scans, tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "napari_medgan.cli",
            "train",
            scans[0],
            "--steps",
            "100000",
            "--checkpoint-every",
            "0",
            "--out",
            str(out),
            *TINY,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 60
    while not (out / "preview.png").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert "stopped at step" in stdout
    assert (out / "latest").exists()


def test_minutes_ends_the_run_at_its_time_budget(scans, tmp_path, capsys):
    out = tmp_path / "timed"
    argv = ["train", scans[0], "--steps", "100000", "--minutes", "0.002", "--out", str(out), *TINY]
    assert main(argv) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("finished at step ") and "/100000" in last, last
    assert int(last.split()[3].split("/")[0]) < 100000
    assert (out / "latest").exists()
